"""Arrow tables of a channel's declared columns, built from generated events: the one form in
which a window of a generated scenario goes to either output (JSONL or a Parquet dataset).

The tables have the schema ``convert`` writes (:func:`schema`: what pandas makes of the
channel's empty frame), so a generated dataset reads back as a converted one does. Categories
are dictionaries over the declared categories (the same dictionary in every table of a column),
so tables of one channel concatenate and ``take`` without unifying anything. Pure: no I/O.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from ..model import Channel, Kind, columns, data_message, empty_frame, flatten, format_timestamp

__all__ = ["Sparse", "codes", "concat", "dictionary", "rows_table", "schema", "sparse_table",
           "table_of"]

Sparse = tuple[float, int, int, Channel, str, dict[str, Any]]
"""A sparse event: primary time (selects its window), ns, tie, channel, event, data."""


@functools.cache
def schema(channel: Channel) -> pa.Schema:
    """The Arrow schema of ``channel``'s tables (with pandas' metadata, as ``convert``'s)."""
    return pa.Table.from_pandas(empty_frame(channel), preserve_index=False).schema


@functools.cache
def dictionary(channel: Channel, name: str) -> pa.Array:
    """The dictionary of category column ``name``: its declared categories, in order."""
    col = next(c for c in columns(channel) if c.name == name)
    return pa.array(col.categories, pa.large_string())


@functools.cache
def _lookup(channel: Channel, name: str) -> dict[str | None, int]:
    return {None: -1, **{v: i for i, v in enumerate(dictionary(channel, name).to_pylist())}}


def codes(channel: Channel, name: str, values: Sequence[str | None]) -> np.ndarray:
    """The codes of ``values`` in category column ``name`` (-1 for None).

    Raises:
        KeyError: a value outside the declared categories (a generator's bug).
    """
    lookup = _lookup(channel, name)
    return np.fromiter((lookup[v] for v in values), np.int8, len(values))


def table_of(channel: Channel, data: Mapping[str, Any], rows: int) -> pa.Table:
    """``channel``'s table of ``rows`` rows from ``data``: column name -> values; the columns
    it lacks are all null.

    Values per kind: timestamps as ``int64`` nanoseconds (numpy) or ints and None; categories as
    ``int8`` codes (numpy, -1 for null) or strings and None; the rest as Python values or numpy
    arrays Arrow takes as they are.
    """
    kinds = {c.name: c.kind for c in columns(channel)}
    arrays = []
    for field in schema(channel):
        values = data.get(field.name)
        if values is None and kinds[field.name] is Kind.CATEGORY:
            values = np.full(rows, -1, np.int8)  # nulls, with the declared dictionary all the same
        if values is None:
            arrays.append(pa.nulls(rows, field.type))
        elif kinds[field.name] is Kind.CATEGORY:
            if not isinstance(values, np.ndarray):
                values = codes(channel, field.name, values)
            indices = pa.array(values, pa.int8(), mask=values < 0)
            arrays.append(pa.DictionaryArray.from_arrays(
                indices, dictionary(channel, field.name), ordered=field.type.ordered))
        elif kinds[field.name] is Kind.TIMESTAMP and not isinstance(values, np.ndarray):
            arrays.append(pa.array(values, pa.int64()).cast(field.type))
        else:
            arrays.append(pa.array(values, field.type))
    return pa.Table.from_arrays(arrays, schema=schema(channel))


def concat(channel: Channel, tables: Sequence[pa.Table]) -> pa.Table:
    """``tables`` of ``channel`` as one (an empty table for none)."""
    if not tables:
        return schema(channel).empty_table()
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables)


def rows_table(channel: Channel, rows: list[Any]) -> pa.Table:
    """``channel``'s table of rows as :func:`~openagi_nb.model.flatten` gives them."""
    names = [f.name for f in schema(channel)]
    cols = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    return table_of(channel, dict(zip(names, cols, strict=True)), len(rows))


def sparse_table(channel: Channel, rows: list[Sparse]) -> tuple[pa.Table, np.ndarray,
                                                                 np.ndarray]:
    """The table of sparse events (``_stream_metrics.Sparse``), with their ns and ties."""
    flat = [flatten(dict(data_message(channel, ev, data, format_timestamp(ns))))[1]
            for _, ns, _, _, ev, data in rows]
    table = rows_table(channel, flat)
    return (table, np.array([r[1] for r in rows], np.int64),
            np.array([r[2] for r in rows], np.int64))

