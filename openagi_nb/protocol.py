"""The message model of the Open-A.G.I WebSocket API: decode, validate, flatten, build.

No sockets, threads or files here: the client and the server feed text in and get messages,
rows and errors out, so all of it is tested without a network.

- :func:`decode` turns a frame into a JSON object (orjson, which also validates UTF-8).
- :func:`parse` validates a whole message of any type and returns it as its ``TypedDict``.
- :func:`flatten` turns a data message into one row of its channel's declared schema
  (``schema.columns``); it is the one place that checks data fields, and the hot path of
  ingestion, so it does the validation and the flattening in one pass.
- ``subscribe``, ``unsubscribe``, ``ping``... build the control messages and our replies.

Everything that is wrong raises :class:`InvalidMessage` with a ``code`` and a reason that names
the field: nothing else ever escapes, whatever the input (a property test holds us to it).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Final, Literal, NamedTuple, NotRequired, TypedDict

import orjson

from .exceptions import InvalidMessage
from .schema import (
    CATALOGUE,
    CHANNEL_OF_TYPE,
    TYPE_OF_CHANNEL,
    Channel,
    Field,
    Kind,
    MessageType,
    column_name,
    columns,
)

__all__ = [
    "ControlMessage",
    "DataMessage",
    "ErrorCode",
    "ErrorMessage",
    "Message",
    "Row",
    "data_message",
    "decode",
    "encode",
    "error",
    "flatten",
    "parse",
    "format_timestamp",
    "message_type",
    "parse_timestamp",
    "ping",
    "pong",
    "subscribe",
    "subscribed",
    "unsubscribe",
    "unsubscribed",
]


class ErrorCode(StrEnum):
    """The ``code`` of an ``error`` reply, and of :class:`InvalidMessage`."""

    BAD_JSON = "bad_json"
    NOT_OBJECT = "not_object"
    MISSING_TYPE = "missing_type"
    UNKNOWN_TYPE = "unknown_type"
    UNKNOWN_CHANNEL = "unknown_channel"
    UNKNOWN_EVENT = "unknown_event"
    BAD_FIELD = "bad_field"
    TOO_LARGE = "too_large"
    BINARY_FRAME = "binary_frame"
    RATE_LIMITED = "rate_limited"
    HISTORY_TRUNCATED = "history_truncated"
    SLOW_CONSUMER = "slow_consumer"


class DataMessage(TypedDict):
    """A data message as the spec shows it, plus our ``seq`` (absent from other servers)."""

    type: str
    event: str
    data: dict[str, Any]
    timestamp: str
    seq: NotRequired[int]


class ControlMessage(TypedDict):
    """``subscribe``/``unsubscribe`` (with ``channel``), ``ping``/``pong``, and our acks."""

    type: str
    channel: NotRequired[str]
    since: NotRequired[int]
    seq: NotRequired[int]
    timestamp: NotRequired[str]


class ErrorPayload(TypedDict):
    code: str
    message: str


class ErrorMessage(TypedDict):
    """Our reply to refused input: ``{"type": "error", "data": {"code", "message"}}``."""

    type: Literal["error"]
    data: ErrorPayload


Message = DataMessage | ControlMessage | ErrorMessage
Row = tuple[Any, ...]
"""One value per column of the channel's schema, in order (see :func:`flatten`)."""

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_NS_MIN: Final = -(2**63) + 1  # datetime64[ns]'s range; its minimum is NaT
_NS_MAX: Final = 2**63 - 1
_CHANNEL_MESSAGES: Final = {MessageType.SUBSCRIBE, MessageType.UNSUBSCRIBE,
                            MessageType.SUBSCRIBED, MessageType.UNSUBSCRIBED}
_KNOWN_TYPES: Final = frozenset(MessageType)


def decode(raw: str | bytes | bytearray | memoryview) -> dict[str, Any]:
    """Decode one frame into a JSON object, or raise ``InvalidMessage`` (bad_json, not_object)."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidMessage(
            f"invalid JSON: {exc}", code=ErrorCode.BAD_JSON, raw=_text(raw)
        ) from None
    if not isinstance(obj, dict):
        raise InvalidMessage(
            f"expected a JSON object, got {_json_kind(obj)}", code=ErrorCode.NOT_OBJECT,
            raw=_text(raw),
        )
    return obj


def encode(message: Message | dict[str, Any]) -> bytes:
    """Encode a message as compact JSON (UTF-8 bytes)."""
    return orjson.dumps(message)


def message_type(obj: dict[str, Any], raw: str | bytes = "") -> MessageType:
    """The validated ``type`` of a decoded message (missing_type, unknown_type otherwise)."""
    kind = obj.get("type")
    if kind is None:
        raise InvalidMessage("missing field 'type'", code=ErrorCode.MISSING_TYPE, raw=raw)
    if not isinstance(kind, str) or kind not in _KNOWN_TYPES:
        raise InvalidMessage(
            f"unknown message type {kind!r}", code=ErrorCode.UNKNOWN_TYPE, raw=raw
        )
    return MessageType(kind)


def parse(raw: str | bytes | dict[str, Any]) -> Message:
    """Validate a whole message of any type; return it (the decoded object, now typed).

    Use it where any message may come (the server's inbound frames, a capture line). For the
    ingestion hot path call :func:`flatten` on the decoded object instead: it validates too.
    """
    obj = raw if isinstance(raw, dict) else decode(raw)
    text = "" if isinstance(raw, dict) else raw
    kind = message_type(obj, text)
    if kind in CHANNEL_OF_TYPE:
        flatten(obj, text)
        return obj  # type: ignore[return-value]
    if kind in _CHANNEL_MESSAGES:
        _check_channel(obj.get("channel"), text)
        key = {MessageType.SUBSCRIBE: "since", MessageType.SUBSCRIBED: "seq"}.get(kind)
        value = obj.get(key) if key else None
        if value is not None and (not _is_int(value) or value < 0):
            raise _bad(str(key), "expected a non-negative integer", value, text)
    elif kind is MessageType.ERROR:
        payload = obj.get("data")
        if not isinstance(payload, dict) or not all(
            isinstance(payload.get(k), str) for k in ("code", "message")
        ):
            raise _bad("data", "expected an object with string 'code' and 'message'", payload, text)
    return obj  # type: ignore[return-value]


def flatten(obj: dict[str, Any], raw: str | bytes = "") -> tuple[Channel, Row]:
    """Validate a decoded data message and flatten it into a row of its channel's schema.

    Returns ``(channel, row)``: ``row`` has one value per ``schema.columns(channel)``, ``None``
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
        raise _bad("data", "expected an object", data, raw)
    stamp = obj.get("timestamp")
    if not isinstance(stamp, str):
        raise _bad("timestamp", "expected an ISO 8601 string", stamp, raw)
    row: list[Any] = [None] * layout.width
    row[1] = _timestamp_ns("timestamp", stamp, raw)
    row[2] = event
    seq = obj.get("seq")
    if seq is not None:
        if type(seq) is not int or not 0 <= seq <= _I64_MAX:
            raise _bad("seq", "expected a non-negative integer", seq, raw)
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


# --- builders -----------------------------------------------------------------------------


def subscribe(channel: str, since: int | None = None) -> str:
    """``{"type": "subscribe", "channel": C}``; with ``since``, ask for the retained messages
    of C with a greater ``seq`` first (resume after a reconnect)."""
    msg: dict[str, Any] = {"type": "subscribe", "channel": Channel(channel).value}
    if since is not None:
        msg["since"] = int(since)
    return orjson.dumps(msg).decode()


def unsubscribe(channel: str) -> str:
    """``{"type": "unsubscribe", "channel": C}``."""
    return orjson.dumps({"type": "unsubscribe", "channel": Channel(channel).value}).decode()


def ping() -> str:
    """``{"type": "ping"}``."""
    return '{"type":"ping"}'


def pong() -> str:
    """``{"type": "pong"}``: the reply to a ping."""
    return '{"type":"pong"}'


def subscribed(channel: str, seq: int | None = None) -> str:
    """Our acknowledgement of a subscribe; ``seq`` is the last message published before the
    subscription took effect, so a client that has seen nothing yet can still resume from it."""
    msg: dict[str, Any] = {"type": "subscribed", "channel": Channel(channel).value}
    if seq is not None:
        msg["seq"] = int(seq)
    return orjson.dumps(msg).decode()


def unsubscribed(channel: str) -> str:
    """Our acknowledgement of an unsubscribe."""
    return orjson.dumps({"type": "unsubscribed", "channel": Channel(channel).value}).decode()


def error(code: str, message: str) -> str:
    """Our reply to refused input: ``{"type": "error", "data": {"code", "message"}}``."""
    return orjson.dumps({"type": "error", "data": {"code": str(code), "message": message}}).decode()


def data_message(
    channel: str, event: str, data: dict[str, Any], timestamp: str, seq: int | None = None
) -> DataMessage:
    """A data message of ``channel`` in the spec's format (``seq`` only when given)."""
    msg: DataMessage = {
        "type": TYPE_OF_CHANNEL[Channel(channel)], "event": event, "data": data,
        "timestamp": timestamp,
    }
    if seq is not None:
        msg["seq"] = seq
    return msg


# --- internals ----------------------------------------------------------------------------

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
                raise _bad(_dotted(path, key), "expected an object", value, raw)
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
        raise _bad(_dotted(path, key), "expected a string", value, raw)
    if kind is Kind.FLOAT:
        if isinstance(value, float) or (isinstance(value, int) and not isinstance(value, bool)):
            return float(value)
        raise _bad(_dotted(path, key), "expected a number", value, raw)
    if kind is Kind.INT:
        if _is_int(value):
            return value
        raise _bad(_dotted(path, key), "expected an integer", value, raw)
    if kind is Kind.BOOL:
        if isinstance(value, bool):
            return value
        raise _bad(_dotted(path, key), "expected true or false", value, raw)
    if kind is Kind.CATEGORY:
        if isinstance(value, str) and value in allowed:
            return value
        raise _bad(_dotted(path, key), f"expected one of {', '.join(allowed)}", value, raw)
    if kind is Kind.TIMESTAMP:
        if isinstance(value, str):
            return _timestamp_ns(_dotted(path, key), value, raw)
        raise _bad(_dotted(path, key), "expected an ISO 8601 string", value, raw)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise _bad(_dotted(path, key), "expected a list of strings", value, raw)


def _timestamp_ns(field: str, value: str, raw: str | bytes) -> int:
    try:
        return parse_timestamp(value)
    except (ValueError, OverflowError):
        raise _bad(field, "expected an ISO 8601 timestamp", value, raw) from None


def _check_channel(channel: Any, raw: str | bytes) -> None:
    if not isinstance(channel, str):
        raise _bad("channel", "expected a channel name", channel, raw)
    if channel not in _CHANNEL_NAMES:
        raise InvalidMessage(
            f"unknown channel {channel!r}", code=ErrorCode.UNKNOWN_CHANNEL, raw=raw
        )


_CHANNEL_NAMES: Final = frozenset(Channel)
_I64_MIN: Final = -(2**63) + 1  # the least int64 is NA in LiveFrame's columns (as NaT is)
_I64_MAX: Final = 2**63 - 1


def _is_int(value: Any) -> bool:
    """A JSON integer that fits Int64 (bools are ints in Python, not in JSON)."""
    return isinstance(value, int) and not isinstance(value, bool) and _I64_MIN <= value <= _I64_MAX


def _dotted(path: tuple[str, ...], key: str) -> str:
    return ".".join(("data", *path, key))


def _bad(field: str, expected: str, value: Any, raw: str | bytes) -> InvalidMessage:
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return InvalidMessage(
        f"field '{field}': {expected}, got {shown}", code=ErrorCode.BAD_FIELD, raw=raw
    )


def _json_kind(obj: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(obj), "a number"
    )


def _text(raw: str | bytes | bytearray | memoryview) -> str | bytes:
    return bytes(raw) if isinstance(raw, bytearray | memoryview) else raw
