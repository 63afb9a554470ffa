"""Flattening a data message into one row of its channel's declared schema, validating it.

:func:`flatten` is the hot path of ingestion (the live stream, a capture read line by line), so it
checks and flattens in one pass over the message: each ``data`` field's column and type are
precomputed per channel (``_Layout``), and a value whose Python type is the expected one is
stored as it is; only the rest (ints for floats, timestamps, lists, errors) takes the slow way.
No I/O here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Final, NamedTuple

import orjson

from ..exceptions import ErrorCode, InvalidMessage
from ._schema import CATALOGUE, CHANNEL_OF_TYPE, Channel, Field, Kind, column_name, columns

__all__ = ["Row", "bad_field", "flatten", "format_timestamp", "is_int", "parse_timestamp"]

Row = tuple[Any, ...]
"""One value per column of the channel's schema, in order (see :func:`flatten`)."""

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_NS_MIN: Final = -(2**63) + 1  # datetime64[ns]'s range; its minimum is NaT
_NS_MAX: Final = 2**63 - 1


def flatten(obj: dict[str, Any], raw: str | bytes = "") -> tuple[Channel, Row]:
    """Validate a decoded data message and flatten it into a row of its channel's schema.

    Returns ``(channel, row)``: ``row`` has one value per ``columns(channel)``, ``None``
    where the message has none, timestamps as integer nanoseconds (UTC), categories as strings,
    lists as lists, and ``extra`` as JSON object text of every key the schema does not know
    (``{"data.region": "eu"}``) so nothing that arrived is dropped. ``raw`` is only quoted in
    errors.
    """
    kind = obj.get("type")
    channel = CHANNEL_OF_TYPE.get(kind) if isinstance(kind, str) else None
    if channel is None:
        raise InvalidMessage(
            f"not a data message: type {kind!r}", code=ErrorCode.UNKNOWN_TYPE, raw=raw
        )
    layout = _LAYOUTS[channel]
    event = obj.get("event")
    fields = layout.events.get(event) if isinstance(event, str) else None
    if fields is None:
        raise InvalidMessage(
            f"unknown event {event!r} for {kind}", code=ErrorCode.UNKNOWN_EVENT, raw=raw
        )
    data = obj.get("data")
    if not isinstance(data, dict):
        raise bad_field("data", "expected an object", data, raw)
    stamp = obj.get("timestamp")
    if not isinstance(stamp, str):
        raise bad_field("timestamp", "expected an ISO 8601 string", stamp, raw)
    row: list[Any] = [None] * layout.width
    row[1] = _timestamp_ns("timestamp", stamp, raw)
    row[2] = event
    seq = obj.get("seq")
    if seq is not None:
        if type(seq) is not int or not 0 <= seq <= _I64_MAX:
            raise bad_field("seq", "expected a non-negative integer", seq, raw)
        row[0] = seq
    # 4 envelope keys, 5 with seq: only a longer object can carry keys we do not know
    extra = (
        {k: v for k, v in obj.items() if k not in _ENVELOPE_KEYS}
        if len(obj) > 4 + ("seq" in obj) else {}
    )
    _fill(row, layout.slots, data, (), extra, raw)
    if extra:
        row[-1] = orjson.dumps(extra, option=orjson.OPT_SORT_KEYS).decode()
    return channel, tuple(row)


def parse_timestamp(value: str) -> int:
    """Parse an ISO 8601 timestamp (with or without fraction or offset; naive means UTC) into
    integer nanoseconds since the epoch, or raise ``ValueError``."""
    dt = datetime.fromisoformat(value)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    delta = dt - _EPOCH
    ns = (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000
    if not _NS_MIN <= ns <= _NS_MAX:
        raise ValueError(f"timestamp {value!r} is outside 1677-09-22 .. 2262-04-11")
    return ns


def format_timestamp(ns: int) -> str:
    """Format integer nanoseconds (UTC) as ISO 8601 with ``Z`` (microseconds shown when not 0)."""
    seconds, rest = divmod(ns, 1_000_000_000)
    dt = _EPOCH + timedelta(seconds=seconds, microseconds=rest // 1_000)
    return dt.isoformat().replace("+00:00", "Z")


_ENVELOPE_KEYS: Final = frozenset({"type", "event", "data", "timestamp", "seq"})


class _Slot(NamedTuple):
    """Where one data field lands in a row, and what it may hold.

    ``fast`` is the exact Python type a valid value usually has (``str`` for strings, ``float``
    for numbers...) and ``allowed`` the closed set of a category: a value of type ``fast`` (in
    ``allowed``, when there is one) is stored as it is, the rest goes the slow way through
    :func:`_convert`, which converts (an ``int`` for a float), parses (timestamps) or refuses.
    """

    column: int
    kind: Kind
    fast: type | None
    allowed: frozenset[str] | None
    choices: tuple[str, ...]


_FAST_TYPES: Final[dict[Kind, type | None]] = {
    Kind.STRING: str, Kind.FLOAT: float, Kind.INT: int, Kind.BOOL: bool, Kind.CATEGORY: str,
    Kind.TIMESTAMP: None, Kind.LIST: None,
}
Slots = dict[str, "_Slot | Slots"]


class _Layout:
    """Where each data field of a channel lands in a row, precomputed once per channel."""

    def __init__(self, channel: Channel) -> None:
        names = [c.name for c in columns(channel)]
        self.width = len(names)
        self.events = CATALOGUE[channel]
        self.slots: Slots = {}
        for fields in self.events.values():
            for key, field in fields.items():
                self.slots[key] = self._slot((key,), field, names)

    def _slot(self, path: tuple[str, ...], field: Field, names: list[str]) -> _Slot | Slots:
        if isinstance(field, dict):
            return {k: self._slot((*path, k), f, names) for k, f in field.items()}
        index = names.index(column_name(path))
        if isinstance(field, tuple):
            return _Slot(index, Kind.CATEGORY, str, frozenset(field), field)
        # ints must also fit Int64, so they always take the checked way
        return _Slot(index, field, None if field is Kind.INT else _FAST_TYPES[field], None, ())


_LAYOUTS: Final = {c: _Layout(c) for c in Channel}


def _fill(
    row: list[Any], slots: Slots, data: dict[str, Any], path: tuple[str, ...],
    extra: dict[str, Any], raw: str | bytes,
) -> None:
    for key, value in data.items():
        slot = slots.get(key)
        if slot is None:
            extra[".".join(("data", *path, key))] = value
        elif value is None:
            continue
        elif isinstance(slot, dict):
            if type(value) is not dict:
                raise bad_field(_dotted(path, key), "expected an object", value, raw)
            _fill(row, slot, value, (*path, key), extra, raw)
        elif type(value) is slot.fast and (slot.allowed is None or value in slot.allowed):
            row[slot.column] = value
        else:
            row[slot.column] = _convert(slot.kind, slot.choices, value, path, key, raw)


def _convert(
    kind: Kind, allowed: tuple[str, ...], value: Any, path: tuple[str, ...], key: str,
    raw: str | bytes,
) -> Any:
    if kind is Kind.STRING:
        if isinstance(value, str):
            return value
        raise bad_field(_dotted(path, key), "expected a string", value, raw)
    if kind is Kind.FLOAT:
        if isinstance(value, float) or (isinstance(value, int) and not isinstance(value, bool)):
            return float(value)
        raise bad_field(_dotted(path, key), "expected a number", value, raw)
    if kind is Kind.INT:
        if is_int(value):
            return value
        raise bad_field(_dotted(path, key), "expected an integer", value, raw)
    if kind is Kind.BOOL:
        if isinstance(value, bool):
            return value
        raise bad_field(_dotted(path, key), "expected true or false", value, raw)
    if kind is Kind.CATEGORY:
        if isinstance(value, str) and value in allowed:
            return value
        raise bad_field(_dotted(path, key), f"expected one of {', '.join(allowed)}", value, raw)
    if kind is Kind.TIMESTAMP:
        if isinstance(value, str):
            return _timestamp_ns(_dotted(path, key), value, raw)
        raise bad_field(_dotted(path, key), "expected an ISO 8601 string", value, raw)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise bad_field(_dotted(path, key), "expected a list of strings", value, raw)


def _timestamp_ns(field: str, value: str, raw: str | bytes) -> int:
    try:
        return parse_timestamp(value)
    except (ValueError, OverflowError):
        raise bad_field(field, "expected an ISO 8601 timestamp", value, raw) from None


_I64_MIN: Final = -(2**63) + 1  # the least int64 is NA in LiveFrame's columns (as NaT is)
_I64_MAX: Final = 2**63 - 1


def is_int(value: Any) -> bool:
    """A JSON integer that fits Int64 (bools are ints in Python, not in JSON)."""
    return isinstance(value, int) and not isinstance(value, bool) and _I64_MIN <= value <= _I64_MAX


def _dotted(path: tuple[str, ...], key: str) -> str:
    return ".".join(("data", *path, key))


def bad_field(field: str, expected: str, value: Any, raw: str | bytes) -> InvalidMessage:
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return InvalidMessage(
        f"field '{field}': {expected}, got {shown}", code=ErrorCode.BAD_FIELD, raw=raw
    )
