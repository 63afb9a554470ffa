"""The message model of the Open-A.G.I WebSocket API: decode, validate, flatten, build.

No sockets, threads or files here: the client and the server feed text in and get messages,
rows and errors out, so all of it is tested without a network.

- :func:`decode` turns a frame into a JSON object (orjson, which also validates UTF-8).
- :func:`parse` validates a whole message of any type and returns it as its ``TypedDict``.
- :func:`flatten` (from :mod:`.rows`) turns a data message into one row of its channel's
  declared schema (``columns``); it is the one place that checks data fields, and the hot
  path of ingestion, so it does the validation and the flattening in one pass.
- ``subscribe``, ``unsubscribe``, ``ping``... build the control messages and our replies.

Everything that is wrong raises :class:`InvalidMessage` with a ``code`` and a reason that names
the field: nothing else ever escapes, whatever the input (a property test holds us to it).
"""

from __future__ import annotations

from typing import Any, Final, Literal, NotRequired, TypedDict

import orjson

from ..exceptions import ErrorCode, InvalidMessage
from ._batch import parse_batch_request, parse_batching
from ._clock import Clock, parse_clock
from ._rows import Row, bad_field, flatten, format_timestamp, is_int, parse_timestamp
from ._schema import CHANNEL_OF_TYPE, TYPE_OF_CHANNEL, Channel, MessageType

__all__ = [
    "API_ROOT",
    "ControlMessage",
    "DataMessage",
    "ErrorCode",
    "ErrorMessage",
    "Message",
    "Row",
    "STATUS_PATH",
    "TOKEN_PATH",
    "WS_PATH",
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


API_ROOT: Final = "/api/v1"
WS_PATH: Final = "/api/v1/ws"
"""The WebSocket endpoint (``docs/protocol.md`` section 4)."""
TOKEN_PATH: Final = "/api/v1/auth/token"
"""The token endpoint (``docs/protocol.md`` section 2.1)."""
STATUS_PATH: Final = "/api/v1/status"


class DataMessage(TypedDict):
    """A data message of the published API, plus our ``seq`` (absent from other servers;
    ``docs/protocol.md`` section 5.3)."""

    type: str
    event: str
    data: dict[str, Any]
    timestamp: str
    seq: NotRequired[int]


class ControlMessage(TypedDict):
    """``subscribe``/``unsubscribe`` (with ``channel``), ``ping``/``pong``, and our acks; our
    ``subscribed`` and ``pong`` may state the server's ``clock`` (``docs/protocol.md`` 5.6)."""

    type: str
    channel: NotRequired[str]
    since: NotRequired[int]
    seq: NotRequired[int]
    timestamp: NotRequired[str]
    clock: NotRequired[dict[str, Any] | None]


class ErrorPayload(TypedDict):
    code: str
    message: str


class ErrorMessage(TypedDict):
    """Our reply to refused input: ``{"type": "error", "data": {"code", "message"}}``."""

    type: Literal["error"]
    data: ErrorPayload


Message = DataMessage | ControlMessage | ErrorMessage

_CHANNEL_NAMES: Final = frozenset(Channel)
_CHANNEL_MESSAGES: Final = {MessageType.SUBSCRIBE, MessageType.UNSUBSCRIBE,
                            MessageType.SUBSCRIBED, MessageType.UNSUBSCRIBED}
_KNOWN_TYPES: Final = frozenset(MessageType)
_CLOCKED: Final = frozenset({MessageType.PONG, MessageType.SUBSCRIBED})
"""The replies that may state the server's clock."""


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
        if value is not None and (not is_int(value) or value < 0):
            raise bad_field(str(key), "expected a non-negative integer", value, text)
    if kind in _CLOCKED:
        parse_clock(obj.get("clock"), text)
    elif kind is MessageType.BATCH:
        parse_batch_request(obj, text)
    elif kind is MessageType.BATCHING:
        parse_batching(obj, text)
    elif kind is MessageType.ERROR:
        payload = obj.get("data")
        if not isinstance(payload, dict) or not all(
            isinstance(payload.get(k), str) for k in ("code", "message")
        ):
            raise bad_field(
                "data", "expected an object with string 'code' and 'message'", payload, text
            )
    return obj  # type: ignore[return-value]


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


def pong(clock: Clock | None = None) -> str:
    """``{"type": "pong"}``: the reply to a ping; our server adds its ``clock`` (a client that
    needs the clock's time refreshed pings for it)."""
    if clock is None:
        return '{"type":"pong"}'
    return orjson.dumps({"type": "pong", "clock": clock.json()}).decode()


def subscribed(channel: str, seq: int | None = None, clock: Clock | None = None) -> str:
    """Our acknowledgement of a subscribe; ``seq`` is the last message published before the
    subscription took effect, so a client that has seen nothing yet can still resume from it;
    ``clock`` is the server's clock then, from which the client measures its lag."""
    msg: dict[str, Any] = {"type": "subscribed", "channel": Channel(channel).value}
    if seq is not None:
        msg["seq"] = int(seq)
    if clock is not None:
        msg["clock"] = clock.json()
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
    """A data message of ``channel`` in the published format (``seq`` only when given)."""
    msg: DataMessage = {
        "type": TYPE_OF_CHANNEL[Channel(channel)], "event": event, "data": data,
        "timestamp": timestamp,
    }
    if seq is not None:
        msg["seq"] = seq
    return msg


# --- internals ----------------------------------------------------------------------------

def _check_channel(channel: Any, raw: str | bytes) -> None:
    if not isinstance(channel, str):
        raise bad_field("channel", "expected a channel name", channel, raw)
    if channel not in _CHANNEL_NAMES:
        raise InvalidMessage(
            f"unknown channel {channel!r}", code=ErrorCode.UNKNOWN_CHANNEL, raw=raw
        )


def _json_kind(obj: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(obj), "a number"
    )


def _text(raw: str | bytes | bytearray | memoryview) -> str | bytes:
    return bytes(raw) if isinstance(raw, bytearray | memoryview) else raw
