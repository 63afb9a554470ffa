"""A capture's messages as Arrow columns, one table per channel, from which the ``"arrow"``
batches of ``docs/protocol.md`` section 14.5 are cut without touching JSON.

Built once at load from the rows :func:`~openagi_nb.model.flatten` gave when it validated each
line. A batch is then a ``take`` of its rows, its ``seq`` column, its timestamps moved by the
replay offset, and its strings dictionary-encoded: a few vectorised steps per column, shared by
every client that receives the batch. Timestamps are kept to the microsecond, as the JSON
templates write them, so a row is what a client would get by flattening the message sent alone.

A message whose timestamps are not all in declared timestamp columns (an ISO 8601 string in a
text field or among unknown keys: the replay moves those too) is *slow*: a batch that holds one
is built by flattening the messages as JSON would send them, so both ways always agree.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..model import CHANNELS, Kind, Row, arrow_table, columns, decode, flatten

__all__ = ["Columns", "batch_table", "build_columns"]

NS: Final = 1_000_000_000
_STAMPS: Final = {c: [col.name for col in columns(c) if col.kind is Kind.TIMESTAMP]
                  for c in CHANNELS}
_STRINGS: Final = {c: [col.name for col in columns(c) if col.kind is Kind.STRING
                       and col.name != "extra"] for c in CHANNELS}
_CATEGORIES: Final = {c: [col.name for col in columns(c) if col.kind is Kind.CATEGORY]
                     for c in CHANNELS}
DICTIONARY_ROWS: Final = 256
"""Batches of fewer rows send strings plain: measured, each dictionary's IPC message outweighs
what it saves below about 300 rows (4.1 KB for a 1-row monitoring batch with dictionaries,
2.2 KB without; 1,000 rows: 14.8 KB against 21.5 KB with zstd)."""
_INT64: Final = pa.int64()
_STAMP: Final = pa.timestamp("ns", "UTC")


@dataclass(frozen=True, eq=False)
class Columns:
    """Per channel index, a table of that channel's messages in replay order (strings plain,
    ``seq`` null), and where each replay index lies in its channel's table."""

    tables: tuple[pa.Table, ...]
    row_of: np.ndarray
    slow: np.ndarray
    """Per replay index: whether its batch must be built from its JSON (see the module)."""


def build_columns(channels: Sequence[int], rows: Sequence[Row], slow: set[int]) -> Columns:
    """The tables of ``rows`` (replay order; ``channels[i]`` is row ``i``'s channel index)."""
    kinds = np.frombuffer(bytes(channels), dtype=np.uint8)
    row_of = np.zeros(len(rows), dtype=np.int64)
    tables = []
    for c, channel in enumerate(CHANNELS):
        where = np.flatnonzero(kinds == c)
        row_of[where] = np.arange(len(where))
        table = arrow_table(channel, [rows[i] for i in where.tolist()])
        for name in _STRINGS[channel]:  # plain: ``take`` keeps a dictionary whole
            table = _replace(table, name, table.column(name).cast(pa.string()))
        for name in _STAMPS[channel]:
            ns = pc.cast(table.column(name), _INT64)
            table = _replace(table, name, _stamps(pc.multiply(pc.divide(ns, 1000), 1000)))
        tables.append(table)
    flags = np.zeros(len(rows), dtype=bool)
    flags[list(slow)] = True
    return Columns(tuple(tables), row_of, flags)


def batch_table(
    columns_: Columns, channel: int, indices: np.ndarray, seqs: np.ndarray, offsets: np.ndarray,
    payload: Callable[[int, int, int], bytes],
) -> pa.Table:
    """The ``"arrow"`` batch table of replay messages ``indices`` published with ``seqs``, their
    timestamps moved by ``offsets`` whole seconds (``payload(index, seq, offset)`` gives a
    message's JSON, for slow messages)."""
    name = CHANNELS[channel]
    if columns_.slow[indices].any():
        rows = [flatten(decode(payload(i, s, o)))[1]
                for i, s, o in zip(indices.tolist(), seqs.tolist(), offsets.tolist(), strict=True)]
        return arrow_table(name, rows)
    table = columns_.tables[channel].take(columns_.row_of[indices])  # strings plain
    table = _replace(table, "seq", pa.array(seqs, _INT64))
    if len(offsets) and offsets[0] == offsets[-1] and (offsets == offsets[0]).all():
        shift: pa.Scalar | pa.Array = pa.scalar(int(offsets[0]) * NS, _INT64)
    else:
        shift = pa.array(offsets * NS, _INT64)
    for column in _STAMPS[name]:
        table = _replace(table, column,
                         _stamps(pc.add(pc.cast(table.column(column), _INT64), shift)))
    if len(indices) >= DICTIONARY_ROWS:
        for column in _STRINGS[name]:
            table = _replace(table, column, table.column(column).dictionary_encode())
    else:  # a dictionary costs an IPC message of its own: more than it saves in a small batch
        for column in _CATEGORIES[name]:
            table = _replace(table, column, table.column(column).cast(pa.string()))
    return table


def _replace(table: pa.Table, name: str, values: pa.Array | pa.ChunkedArray) -> pa.Table:
    return table.set_column(table.schema.get_field_index(name), pa.field(name, values.type),
                            values)


def _stamps(ns: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    return pc.cast(ns, _STAMP)
