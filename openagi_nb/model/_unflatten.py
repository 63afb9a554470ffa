"""The data messages that rows of a channel's declared columns stand for: the inverse of
:func:`~._rows.flatten`, for the listeners of a stream that receives ``"arrow"`` batches
(``docs/protocol.md`` section 14.5), which carry columns, not message text.

``flatten(message)`` of a message made here gives back the row. What a row cannot say is left
to a convention: fields that are null are left out, timestamps are written in ISO 8601 UTC with
``Z`` (microseconds when not 0), and the keys kept in ``extra`` go back where they were.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from ._schema import CATALOGUE, TYPE_OF_CHANNEL, Channel, Field, Kind, column_name

__all__ = ["messages_of"]

_NA: Final = -(2**63)

_Path = tuple[str, tuple[str, ...], bool]


def _paths(fields: Mapping[str, Field], prefix: tuple[str, ...] = ()) -> list[_Path]:
    out: list[_Path] = []
    for key, field in fields.items():
        path = (*prefix, key)
        if isinstance(field, dict):
            out.extend(_paths(field, path))
        else:
            out.append((column_name(path), path, field is Kind.TIMESTAMP))
    return out


def _event_paths(channel: Channel) -> dict[str, list[_Path]]:
    """Each event's own fields first, then the channel's other fields: :func:`~._rows.flatten`
    puts a field of another event of the channel in its column too, not in ``extra``."""
    own = {event: _paths(fields) for event, fields in CATALOGUE[channel].items()}
    every = list({p[0]: p for paths in own.values() for p in paths}.values())
    return {event: [*paths, *(p for p in every if p not in paths)]
            for event, paths in own.items()}


_EVENTS: Final[dict[Channel, dict[str, list[_Path]]]] = {c: _event_paths(c) for c in Channel}
"""Per channel and event: each data field's column, its path in ``data``, whether a timestamp."""


def messages_of(channel: str, table: pa.Table) -> list[dict[str, Any]]:
    """The messages of ``table``'s rows (columns named as declared; see the module).

    Column by column into Python values first (timestamps formatted by numpy), then row by
    row: about 2 µs per event, the price of a listener on an ``"arrow"`` stream.
    """
    channel = Channel(channel)
    kind, events = str(TYPE_OF_CHANNEL[channel]), _EVENTS[channel]
    cols = {name: _python(col) for name, col in zip(table.column_names, table.columns,
                                                    strict=True)}
    none = [None] * table.num_rows
    seqs, stamps, extras = cols.get("seq", none), cols.get("timestamp", none), cols.get(
        "extra", none)
    fields = {event: [(cols[name], path) for name, path, _ in paths if name in cols]
              for event, paths in events.items()}
    out = []
    for i, event in enumerate(cols.get("event", none)):
        data: dict[str, Any] = {}
        for values, path in fields.get(event, ()):
            value = values[i]
            if value is not None:
                if len(path) == 1:
                    data[path[0]] = value
                else:
                    _put(data, path, value)
        message: dict[str, Any] = {"type": kind, "event": event, "data": data,
                                   "timestamp": stamps[i]}
        if seqs[i] is not None:
            message["seq"] = seqs[i]
        if (extra := extras[i]) is not None:
            for key, value in orjson.loads(extra).items():
                head, *rest = key.split(".")
                if head == "data" and rest:
                    _put(data, tuple(rest), value)
                else:
                    message[key] = value
        out.append(message)
    return out


def _python(column: pa.ChunkedArray) -> list[Any]:
    """A column's values as Python objects, None for null. Arrow's ``to_pylist`` takes about
    1 µs a value for timestamps and dictionaries: these go through numpy instead."""
    if pa.types.is_timestamp(column.type):
        return _iso(column)
    if pa.types.is_dictionary(column.type):
        out: list[Any] = []
        for chunk in column.chunks:
            values = np.array([*chunk.dictionary.to_pylist(), None], dtype=object)
            indices = pc.fill_null(chunk.indices.cast(pa.int64()), -1).to_numpy()
            out.extend(values[indices].tolist())
        return out
    plain: list[Any] = column.to_pylist()
    return plain


def _iso(column: pa.ChunkedArray) -> list[str | None]:
    """Timestamps as :func:`~._rows.format_timestamp` writes them, for a whole column at once."""
    ns = np.asarray(pc.fill_null(column.cast(pa.int64()), _NA).to_numpy(), dtype=np.int64)
    us = ns // 1000
    text = np.datetime_as_string(us.astype("datetime64[us]"), unit="us").astype(object)
    whole = us % 1_000_000 == 0
    text[whole] = [t[:19] for t in text[whole]]
    out: list[str | None] = [t + "Z" for t in text]
    for k in np.flatnonzero(ns == _NA).tolist():
        out[k] = None
    return out


def _put(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        data = data.setdefault(key, {})
    data[path[-1]] = value
