"""From columns to DataFrames: the one place where a channel's columns become pandas.

Every frame of a channel is put together by :func:`assemble`, from one array per declared
column, in the declared order and with the declared dtypes (``Column.dtype``): the live
snapshots (``LiveFrame``), a capture read line by line, the Arrow bulk reader and Parquet. So the
frames of all four ways are equal, column for column and dtype for dtype.

Each array is made by the converter of the physical representation its column arrives in; each
representation has exactly one:

========================  ======================================================================
:func:`from_values`       Python values as ``flatten`` gives them: ``None`` for missing,
                          timestamps as int nanoseconds, categories as their strings
:func:`from_arrow`        an Arrow array of the kind's type (the bulk reader, Parquet)
:func:`from_numpy`        a ``LiveFrame`` ring column (its layout is documented there)
:func:`from_nanoseconds`  ``int64`` nanoseconds since the epoch, ``INT64_MIN`` (NaT) for NA
:func:`from_codes`        integer codes into the declared categories, -1 for NA
:func:`from_string_codes` integer codes into an Arrow dictionary of strings, 0 for NA
========================  ======================================================================

The first three reduce to the last three and to Arrow: every timestamp goes through
:func:`from_nanoseconds`, every category through :func:`from_codes`, every string and list
through :func:`from_arrow`. Only what pandas must judge takes pandas' own rules (``astype``,
``pd.Categorical``), as :func:`conform` does: category values outside the closed set, and Arrow
types other tools write. Converters return arrays the frame may own (new, writable memory that
nothing else holds), so :func:`assemble` does not copy them again.

:func:`conform` fits a frame from elsewhere to the schema; :func:`to_frame`,
:func:`arrow_frame` and :func:`empty_frame` build a whole frame. No I/O happens here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import repeat
from typing import Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ._schema import Column, Kind, columns

__all__ = [
    "arrow_frame",
    "assemble",
    "conform",
    "empty_frame",
    "from_arrow",
    "from_codes",
    "from_nanoseconds",
    "from_numpy",
    "from_string_codes",
    "from_values",
    "missing",
    "to_frame",
]

_INT64_MIN: Final = int(np.iinfo(np.int64).min)  # datetime64's NaT; NA of int64 ring columns
_UTC_NS: Final = pd.DatetimeTZDtype("ns", "UTC")
_STRINGS: Final = (pa.string(), pa.large_string())
_LIST: Final = pa.list_(pa.string())
_ARROW_TYPES: Final[dict[Kind, pa.DataType]] = {
    Kind.FLOAT: pa.float64(), Kind.INT: pa.int64(), Kind.BOOL: pa.bool_(),
    Kind.STRING: pa.large_string(), Kind.TIMESTAMP: pa.timestamp("ns", "UTC"),
    Kind.CATEGORY: pa.string(), Kind.LIST: _LIST,
}
"""The Arrow type a column of each kind has in our frames (pandas holds strings as large)."""


# --- whole frames ---------------------------------------------------------------------------


def assemble(channel: str, arrays: Sequence[Any], index: pd.Index | None = None) -> pd.DataFrame:
    """``channel``'s frame from one array (or Series) per declared column, in declared order.

    Arrays come from the converters below and are not copied; Series (:func:`conform`) are
    tracked by pandas' copy-on-write. ``index`` defaults to a ``RangeIndex``.

    Raises:
        ValueError: not one array per declared column.
    """
    cols = columns(channel)
    _check_width(channel, cols, len(arrays))
    for col, array in zip(cols, arrays, strict=True):
        if array.dtype != col.dtype:  # a converter's bug, never the data's
            raise AssertionError(f"{channel}.{col.name}: {array.dtype}, not {col.dtype}")
    return pd.DataFrame(
        {c.name: a for c, a in zip(cols, arrays, strict=True)}, index=index, copy=False
    )


def to_frame(channel: str, data: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """Build ``channel``'s frame from one sequence of values per declared column.

    Values are as :func:`openagi_nb.model.flatten` produces them: ``None`` for missing,
    timestamps as integer nanoseconds since the epoch (UTC), categories as their strings.
    """
    cols = columns(channel)
    _check_width(channel, cols, len(data))
    return assemble(channel, [from_values(c, v) for c, v in zip(cols, data, strict=True)])


def arrow_frame(channel: str, table: pa.Table) -> pd.DataFrame:
    """``channel``'s frame from an Arrow table whose columns are named as declared (the bulk
    reader's tables, a Parquet file): columns it lacks are all NA.

    Raises:
        ValueError: the table has columns the schema does not declare (named).
    """
    _check_known(channel, table.column_names)
    present = set(table.column_names)
    return assemble(channel, [
        from_arrow(c, table.column(c.name)) if c.name in present else missing(c, table.num_rows)
        for c in columns(channel)
    ])


def empty_frame(channel: str) -> pd.DataFrame:
    """A frame with ``channel``'s columns and dtypes and no rows."""
    return assemble(channel, [missing(c, 0) for c in columns(channel)])


def conform(channel: str, df: pd.DataFrame) -> pd.DataFrame:
    """Return ``df`` with exactly ``channel``'s declared columns, order and dtypes.

    Use it on frames that come from elsewhere (a Parquet file another tool wrote, a concat of
    snapshots) before handing them to code that relies on the schema. Missing columns are added
    as all-NA; the index is kept.

    Raises:
        ValueError: ``df`` has columns the schema does not declare (named).
    """
    _check_known(channel, df.columns)
    return assemble(channel, [
        _cast(c, df[c.name]) if c.name in df.columns else missing(c, len(df))
        for c in columns(channel)
    ], index=df.index)


def _check_width(channel: str, cols: tuple[Column, ...], n: int) -> None:
    if n != len(cols):
        raise ValueError(f"{channel}: expected {len(cols)} columns, got {n}")


def _check_known(channel: str, names: Iterable[Any]) -> None:
    declared = {c.name for c in columns(channel)}
    unknown = [name for name in names if name not in declared]
    if unknown:
        raise ValueError(f"{channel}: columns not in the schema: {unknown}")


def _cast(col: Column, series: pd.Series) -> pd.Series:
    """A pandas column of any dtype as ``col``'s, by pandas' own ``astype`` rules."""
    return series if series.dtype == col.dtype else series.astype(col.dtype)


# --- one converter per representation -------------------------------------------------------


def missing(col: Column, n: int) -> Any:
    """``n`` NA values of ``col``'s dtype."""
    return from_arrow(col, pa.nulls(n, _ARROW_TYPES[col.kind]))


def from_values(col: Column, values: Sequence[Any] | np.ndarray) -> Any:
    """``col``'s array from Python values as ``flatten`` gives them (or a numpy array of such).

    The values are copied, never kept.
    """
    kind = col.kind
    if kind is Kind.TIMESTAMP:
        if isinstance(values, np.ndarray) and values.dtype == np.int64:
            return from_nanoseconds(values.copy())
        ns = (_INT64_MIN if v is None else v for v in values)
        return from_nanoseconds(np.fromiter(ns, np.int64, len(values)))
    if kind is Kind.FLOAT:
        return np.array(values, dtype=np.float64)
    if kind is Kind.CATEGORY:
        lookup: dict[str | None, int] = {None: -1, **{v: i for i, v in enumerate(col.categories)}}
        codes = np.fromiter(map(lookup.get, values, repeat(-2)), _code_type(col), len(values))
        if (codes == -2).any():  # not None nor in the closed set: pandas' rules, warning
            return pd.Categorical(values, dtype=col.dtype)
        return from_codes(col, codes)
    if kind is Kind.STRING or kind is Kind.LIST:
        return from_arrow(col, pa.array(values, type=_ARROW_TYPES[kind]))
    return pd.array(values, dtype=col.dtype)


def from_arrow(col: Column, array: pa.Array | pa.ChunkedArray) -> Any:
    """``col``'s array from an Arrow array (or chunked array) of its kind's type.

    Arrays of another type (a Parquet file another tool wrote) are converted to pandas and cast
    with pandas' ``astype``, as :func:`conform` does.
    """
    kind = col.kind
    if not _native(kind, array.type):
        return _by_pandas(col, array)
    if kind is Kind.TIMESTAMP:
        return from_nanoseconds(_numpy(pc.cast(array, pa.int64()), _INT64_MIN))
    if kind is Kind.FLOAT:
        return _numpy(array, np.nan)
    if kind is Kind.CATEGORY:
        codes = _category_codes(col, array)
        if codes.null_count != array.null_count:  # values not in the closed set (or null ones)
            return _by_pandas(col, array)
        return from_codes(col, _numpy(codes, -1).astype(_code_type(col), copy=False))
    return col.dtype.__from_arrow__(array)  # Int64, boolean, string, Arrow list


def from_numpy(col: Column, data: np.ndarray, dictionary: pa.Array | None = None) -> Any:
    """``col``'s array from a ``LiveFrame`` ring column (taken over, not copied):

    - timestamps and integers as ``int64`` with ``INT64_MIN`` for NA (the NaT bit pattern);
    - floats as ``float64`` (NaN for NA); booleans (0, 1) and category codes as ``int8``, -1 NA;
    - strings as integer codes into ``dictionary`` (see :func:`from_string_codes`);
    - lists as Python sequences of strings, ``None`` for NA.
    """
    kind = col.kind
    if kind is Kind.FLOAT:
        return data
    if kind is Kind.INT:
        return pd.arrays.IntegerArray(data, data == _INT64_MIN)
    if kind is Kind.TIMESTAMP:
        return from_nanoseconds(data)
    if kind is Kind.CATEGORY:
        return from_codes(col, data)
    if kind is Kind.BOOL:
        return pd.arrays.BooleanArray(data == 1, data < 0)
    if kind is Kind.STRING:
        if dictionary is None:
            raise ValueError(f"{col.name}: string codes need their dictionary")
        return from_string_codes(col, data, dictionary)
    return from_arrow(col, pa.array(data, type=_LIST, from_pandas=True))


def from_nanoseconds(ns: np.ndarray) -> Any:
    """A UTC timestamp array from ``int64`` nanoseconds since the epoch (taken over, not
    copied); ``INT64_MIN`` is NaT."""
    # integers are epoch nanoseconds to pandas, so no tz_localize (and no copy) is needed
    return pd.array(ns, dtype=_UTC_NS, copy=False)


def from_codes(col: Column, codes: np.ndarray) -> Any:
    """``col``'s categorical from integer codes into its declared categories (taken over, not
    copied), -1 for NA."""
    return pd.Categorical.from_codes(codes, dtype=col.dtype)


def from_string_codes(col: Column, codes: np.ndarray, dictionary: pa.Array) -> Any:
    """``col``'s strings from integer codes into an Arrow ``dictionary`` whose value 0 is NA:
    one ``take``, so each distinct string is converted once, not once a row."""
    if not codes.any():
        return missing(col, len(codes))
    return from_arrow(col, dictionary.take(codes))


def _category_codes(col: Column, array: pa.Array | pa.ChunkedArray) -> Any:
    """The codes into ``col``'s categories (null for NA) of Arrow strings, or of a dictionary
    array of them by looking up each dictionary value once. Values not among the categories
    become NA, as with pandas' ``astype``."""
    if not pa.types.is_dictionary(array.type):
        return pc.index_in(array, value_set=pa.array(col.categories, array.type))
    if isinstance(array, pa.ChunkedArray):  # each chunk has its own dictionary
        return pa.chunked_array([_category_codes(col, c) for c in array.chunks], pa.int32())
    return pc.take(_category_codes(col, array.dictionary), array.indices)


def _by_pandas(col: Column, array: pa.Array | pa.ChunkedArray) -> Any:
    """What :func:`conform` makes of ``array`` turned into pandas: the rare Arrow data that
    :func:`from_arrow` does not convert itself."""
    cast = _cast(col, array.to_pandas())  # a numpy column may be a view of Arrow's memory
    return cast.to_numpy(copy=True) if isinstance(cast.dtype, np.dtype) else cast.array


def _native(kind: Kind, arrow_type: pa.DataType) -> bool:
    """Whether ``arrow_type`` is one :func:`from_arrow` converts itself (else pandas casts)."""
    if kind is Kind.STRING:
        return arrow_type in _STRINGS
    if kind is Kind.CATEGORY:
        if pa.types.is_dictionary(arrow_type):
            return arrow_type.value_type in _STRINGS
        return arrow_type in _STRINGS
    return bool(arrow_type == _ARROW_TYPES[kind])


def _code_type(col: Column) -> np.dtype[Any]:
    """The smallest integer type that holds ``col``'s category codes and -1 (``int8`` here)."""
    return np.min_scalar_type(-len(col.categories))


def _numpy(array: pa.Array | pa.ChunkedArray, na: Any) -> np.ndarray:
    """A new numpy array of a primitive Arrow array's values, ``na`` where they are null.

    Not ``ChunkedArray.to_numpy``: it may return a read-only view of Arrow's memory, and it
    joins chunks several times slower than ``np.concatenate``.
    """
    if array.null_count:
        array = array.fill_null(na)
    chunks = array.chunks if isinstance(array, pa.ChunkedArray) else [array]
    if not chunks:
        return np.empty(0, array.type.to_pandas_dtype())
    return np.concatenate([c.to_numpy(zero_copy_only=False) for c in chunks])  # always a copy
