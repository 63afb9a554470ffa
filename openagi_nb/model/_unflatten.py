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

import orjson
import pyarrow as pa

from ._rows import format_timestamp
from ._schema import CATALOGUE, TYPE_OF_CHANNEL, Channel, Field, Kind, column_name

__all__ = ["messages_of"]

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
    """The messages of ``table``'s rows (columns named as declared; see the module)."""
    channel = Channel(channel)
    kind, events = str(TYPE_OF_CHANNEL[channel]), _EVENTS[channel]
    stamps = [f.name for f in table.schema if pa.types.is_timestamp(f.type)]
    for name in stamps:  # as integer ns: to_pylist would round to datetime's microseconds
        i = table.schema.get_field_index(name)
        table = table.set_column(i, name, table.column(name).cast(pa.int64()))
    out = []
    for row in table.to_pylist():
        event = row["event"]
        data: dict[str, Any] = {}
        for name, path, is_stamp in events.get(event, ()):
            value = row.get(name)
            if value is not None:
                _put(data, path, format_timestamp(value) if is_stamp else value)
        message: dict[str, Any] = {"type": kind, "event": event, "data": data,
                                   "timestamp": format_timestamp(row["timestamp"])}
        if row.get("seq") is not None:
            message["seq"] = row["seq"]
        if row.get("extra"):
            for key, value in orjson.loads(row["extra"]).items():
                head, *rest = key.split(".")
                if head == "data" and rest:
                    _put(data, tuple(rest), value)
                else:
                    message[key] = value
        out.append(message)
    return out


def _put(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        data = data.setdefault(key, {})
    data[path[-1]] = value
