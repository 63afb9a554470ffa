"""How a :class:`~._live_frame.LiveFrame` holds each column: the storage dtype of each kind, its NA,
and the encoding of values into it (``_Store``), with the dictionary of a string column
(``_Strings``). The layout is described in ``_live_frame.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import repeat
from typing import Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..model import Column, Kind, from_numpy
from ._ring import INT64_MIN

__all__ = ["_NA", "_STORAGE", "_Store", "_Strings"]

_ARROW_STRING: Final = pa.large_string()  # what pandas' string dtype holds: no cast later
_UNSEEN: Final = -1
_OUTSIDE: Final = -2  # the code of a category value not in the closed set
_TEXT: Final = (pa.string(), pa.large_string())
_UTC_NS: Final = pa.timestamp("ns", "UTC")


class _Strings:
    """The dictionary of one string column: code 0 is NA, then the distinct values seen, so a
    snapshot is one Arrow ``take`` with no mask. Compacted when it holds many more values than
    the live rows can reference."""

    __slots__ = ("arrow", "codes", "generation", "values")

    def __init__(self) -> None:
        self.values: list[str | None] = [None]
        self.codes: dict[Any, int] = {None: 0}
        self.generation = 0
        self.arrow: tuple[int, int, pa.Array] = (-1, 0, pa.array([], _ARROW_STRING))

    def encode(self, values: Sequence[Any]) -> np.ndarray:
        """Codes of ``values``, adding the values not seen before."""
        codes = np.fromiter(map(self.codes.get, values, repeat(_UNSEEN)), np.int32, len(values))
        if _UNSEEN in codes:
            for i in np.flatnonzero(codes == _UNSEEN).tolist():
                codes[i] = self._add(values[i])
        return codes

    def _add(self, value: Any) -> int:
        code = self.codes.get(value)
        if code is None:
            if not isinstance(value, str):
                raise TypeError(f"expected a string, got {value!r}")
            code = self.codes[value] = len(self.values)
            self.values.append(value)
        return code

    def compact(self, live: np.ndarray) -> np.ndarray:
        """Keep only the values ``live`` codes use (and NA); return ``live`` recoded."""
        used, inverse = np.unique(np.concatenate(([0], live)), return_inverse=True)
        self.values = [self.values[i] for i in used]
        self.codes = {v: i for i, v in enumerate(self.values)}
        self.generation += 1
        return inverse[1:].astype(np.int32)

    def dictionary(self, values: list[str | None], generation: int, n: int) -> pa.Array:
        """At least the first ``n`` values as Arrow strings, converting only what is new since
        the last call (made outside the lock, with ``values`` and ``n`` read under it)."""
        gen, done, arrow = self.arrow
        if gen != generation:
            arrow, done = pa.array([], _ARROW_STRING), 0
        if done < n:
            arrow = pa.concat_arrays([arrow, pa.array(values[done:n], _ARROW_STRING)])
            self.arrow = (generation, n, arrow)
        return arrow


class _Store:
    """How one column is held (``dtype``), encoded from row values and decoded to pandas."""

    def __init__(self, column: Column) -> None:
        self.column = column
        self.kind = column.kind
        self.strings = _Strings() if column.kind is Kind.STRING else None
        codes = column.categories if column.kind is Kind.CATEGORY else (False, True)  # or bools
        self.lookup: dict[Any, int] = {None: -1, **{v: i for i, v in enumerate(codes)}}
        self.dtype = np.dtype(_STORAGE[column.kind])
        self.na: Any = _NA.get(column.kind, -1)

    def encode(self, values: Sequence[Any]) -> np.ndarray:
        if values[0] is None and values.count(None) == len(values):
            return np.full(len(values), self.na, self.dtype)  # a field this event lacks
        kind = self.kind
        if kind is Kind.FLOAT:
            return np.array(values, dtype=np.float64)
        if kind is Kind.INT or kind is Kind.TIMESTAMP:
            try:
                return np.array(values, dtype=np.int64)
            except TypeError:  # NA among them
                return np.array([INT64_MIN if v is None else v for v in values], dtype=np.int64)
        if kind is Kind.CATEGORY or kind is Kind.BOOL:
            return np.fromiter(map(self.lookup.__getitem__, values), np.int8, len(values))
        if self.strings is not None:
            return self.strings.encode(values)
        out = np.empty(len(values), dtype=object)
        for i, value in enumerate(values):  # item by item: numpy would nest equal-length lists
            out[i] = None if value is None else tuple(value)
        return out

    def encode_arrow(self, array: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """What :meth:`encode` gives for the values of an Arrow column of this kind (a column of
        an Arrow batch, ``docs/protocol.md`` section 14.5), one numpy or Arrow operation per
        column, not a Python object per row (but for lists): a dictionary's values are looked up
        once each, then its indices mapped to codes.

        Raises:
            ValueError: an Arrow type this column does not take, or a category value outside
                its closed set (both named).
        """
        if not _takes(self.kind, array.type):
            raise ValueError(f"{self.column.name}: a {self.kind} column, not {array.type}")
        if isinstance(array, pa.Array):
            return self._encode_chunk(array)
        chunks = [self._encode_chunk(c) for c in array.chunks]
        if len(chunks) == 1:
            return chunks[0]
        return np.concatenate(chunks) if chunks else np.empty(0, self.dtype)

    def _encode_chunk(self, array: pa.Array) -> np.ndarray:
        if array.null_count == len(array):  # a field none of these events has (or no rows)
            return np.full(len(array), self.na, self.dtype)
        kind = self.kind
        if kind is Kind.LIST:
            return self.encode(array.to_pylist())
        if kind is Kind.STRING or kind is Kind.CATEGORY:
            if not pa.types.is_dictionary(array.type):
                array = pc.dictionary_encode(array)
            return self._encode_dictionary(array)
        stored = pa.from_numpy_dtype(self.dtype)
        if array.type != stored:
            array = array.cast(stored)  # bools to 0/1, times to ns, integers to floats
        if array.null_count:
            array = array.fill_null(self.na)
        return np.asarray(array.to_numpy(zero_copy_only=False), self.dtype)

    def _encode_dictionary(self, array: pa.DictionaryArray) -> np.ndarray:
        """Codes of a dictionary array of strings: its values encoded, then picked by index."""
        if len(array.dictionary) > len(array):  # shared with other batches: keep those used
            array = pc.dictionary_encode(array.dictionary_decode())
        values = array.dictionary.to_pylist()
        if self.strings is not None:
            table = self.strings.encode(values)
        else:
            table = np.fromiter(map(self.lookup.get, values, repeat(_OUTSIDE)), np.int8,
                                len(values))
        table = np.append(table, np.array(self.na, self.dtype))  # index -1: NA
        indices = array.indices
        if pa.types.is_unsigned_integer(indices.type):
            indices = indices.cast(pa.int64())
        if indices.null_count:
            indices = indices.fill_null(-1)
        positions = indices.to_numpy(zero_copy_only=False)
        codes: np.ndarray = table[positions]
        if self.strings is None and _OUTSIDE in table:
            outside = np.flatnonzero(codes == _OUTSIDE)
            if len(outside):
                value = values[int(positions[outside[0]])]
                raise ValueError(f"{self.column.name}: {value!r} is not one of "
                                 f"{list(self.column.categories)}")
        return codes

    def decode(self, data: np.ndarray, strings: tuple[list[str | None], int, int] | None) -> Any:
        """The pandas array of a copy of live rows (``strings``: the dictionary's state read
        under the lock, as :meth:`LiveFrame.since` takes it)."""
        dictionary = None
        if self.strings is not None and strings is not None:
            dictionary = self.strings.dictionary(*strings)
        return from_numpy(self.column, data, dictionary)


_NA: Final = {Kind.FLOAT: np.nan, Kind.INT: INT64_MIN, Kind.TIMESTAMP: INT64_MIN, Kind.LIST: None,
               Kind.STRING: 0}
_STORAGE: Final = {
    Kind.FLOAT: "float64", Kind.INT: "int64", Kind.TIMESTAMP: "int64", Kind.BOOL: "int8",
    Kind.CATEGORY: "int8", Kind.STRING: "int32", Kind.LIST: "object",
}


def _takes(kind: Kind, arrow_type: pa.DataType) -> bool:
    """Whether an Arrow batch's column of ``arrow_type`` can fill a column of ``kind``: the
    types of ``docs/protocol.md`` section 14.5, plain strings for dictionaries, integers for
    floats, and the null type (a column with no value) for any."""
    if pa.types.is_null(arrow_type):
        return True
    if kind is Kind.STRING or kind is Kind.CATEGORY:
        if pa.types.is_dictionary(arrow_type):
            return arrow_type.value_type in _TEXT
        return arrow_type in _TEXT
    if kind is Kind.LIST:
        return ((pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type))
                and arrow_type.value_type in _TEXT)
    if kind is Kind.TIMESTAMP:
        return bool(arrow_type == _UTC_NS)
    if kind is Kind.FLOAT:
        return arrow_type in (pa.float64(), pa.int64())
    return bool(arrow_type == (pa.int64() if kind is Kind.INT else pa.bool_()))
