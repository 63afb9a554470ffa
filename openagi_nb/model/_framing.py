"""WebSocket framing (RFC 6455 section 5), without I/O: parse frames from bytes, build frames.

The client's reader feeds :class:`FrameParser` the bytes it reads (64 KiB at a time) and takes
whole messages out; the replay server's writer frames every message once with
:func:`text_frame` and writes the same bytes to every client. The client's own frames (subscribe,
pong, close) are built masked (section 5.3) by :func:`build_frame`.

Parsing slices frames out of one buffer: about 1 µs a frame, several times cheaper than a reader
that asks the socket for each header and payload apart (``docs/protocol.md`` section 12).
Everything the peer can get wrong raises :class:`~openagi_nb.exceptions.ProtocolError`.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from enum import IntEnum
from typing import Final

from ..exceptions import ProtocolError

__all__ = [
    "BINARY",
    "CLOSE",
    "UNSENDABLE",
    "CloseCode",
    "CONTINUATION",
    "MAX_MESSAGE",
    "PING",
    "PONG",
    "TEXT",
    "FrameParser",
    "build_frame",
    "close_payload",
    "parse_close",
    "text_frame",
]

CONTINUATION: Final = 0x0
TEXT: Final = 0x1
BINARY: Final = 0x2
CLOSE: Final = 0x8
PING: Final = 0x9
PONG: Final = 0xA
MAX_MESSAGE: Final = 64 << 20
"""A message larger than this (64 MiB, all its fragments together) is refused, not buffered."""


class CloseCode(IntEnum):
    """The close codes of the API (section 7.4.1, and 4001 of ours: ``docs/protocol.md``
    section 9)."""

    NORMAL = 1000
    GOING_AWAY = 1001  # the server shuts down
    PROTOCOL_ERROR = 1002  # broken framing
    NO_STATUS = 1005  # reported, never sent: a close frame that carries no code (7.1.5)
    ABNORMAL = 1006  # reported, never sent: the connection ended without a close frame
    INVALID_DATA = 1007  # text that is not UTF-8
    POLICY = 1008  # control messages too fast, still
    TOO_BIG = 1009  # a message over the limit
    INTERNAL_ERROR = 1011
    TRY_AGAIN_LATER = 1013  # a slow consumer: reconnect and resume
    TLS_FAILED = 1015  # reported, never sent
    TOKEN_EXPIRED = 4001  # ours: fetch a new token, reconnect


UNSENDABLE: Final = frozenset({CloseCode.NO_STATUS, CloseCode.ABNORMAL, CloseCode.TLS_FAILED})
"""Codes a peer may report but never send (section 7.4.1)."""

_KNOWN_OPCODES: Final = frozenset({CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG})
_LEN16: Final = struct.Struct("!BBH").pack
_LEN64: Final = struct.Struct("!BBQ").pack
_FIN: Final = 0x80
_MASK_BIT: Final = 0x80


class FrameParser:
    """Whole messages (fragments joined, section 5.4) and control frames, in arrival order.

    Call :meth:`feed` with whatever bytes arrived, then :meth:`next` until it returns None
    (it needs more bytes). Nothing is lost between calls: a frame cut anywhere is completed by
    the next :meth:`feed`.

    Args:
        max_message: the most bytes one message may have, all its fragments together.
    """

    def __init__(self, max_message: int = MAX_MESSAGE) -> None:
        self._max = max_message
        self._buf = b""
        self._pos = 0
        self._more: list[bytes] = []  # fed, not yet joined to _buf (see _need)
        self._extra = 0
        self._parts: list[bytes] = []  # fragments of the message being assembled
        self._size = 0
        self._opcode = 0

    def feed(self, data: bytes) -> None:
        """Add bytes read from the connection."""
        if data:
            self._more.append(data)
            self._extra += len(data)

    def next(self) -> tuple[int, bytes] | None:
        """The next data message (TEXT or BINARY, fragments joined) or control frame (CLOSE,
        PING, PONG) as ``(opcode, payload)``; None when more bytes are needed.

        Raises:
            ProtocolError: the peer broke the framing; the connection cannot go on.
        """
        while True:
            frame = self._frame()
            if frame is None:
                return None
            fin, opcode, payload = frame
            if opcode >= CLOSE:
                if not fin or len(payload) > 125:
                    raise ProtocolError("protocol error: fragmented or oversized control frame")
                return opcode, payload
            if opcode == CONTINUATION:
                if not self._parts:
                    raise ProtocolError(
                        "protocol error: continuation frame without a message to continue")
                self._add_part(payload)
            elif self._parts:
                raise ProtocolError(
                    "protocol error: new message before the last one's final fragment")
            elif fin:
                return opcode, payload
            else:
                self._opcode, self._parts, self._size = opcode, [], 0
                self._add_part(payload)
            if fin:
                data, self._parts, self._size = b"".join(self._parts), [], 0
                return self._opcode, data

    @property
    def buffered(self) -> int:
        """Bytes fed and not yet returned (for bounds and tests)."""
        return len(self._buf) - self._pos + self._extra + self._size

    def _add_part(self, payload: bytes) -> None:
        size = self._size + len(payload)
        if size > self._max:  # section 10.4: bound what a peer can make us hold
            raise ProtocolError(
                f"message too big: over {size} bytes in fragments, the limit is {self._max}",
                close_code=CloseCode.TOO_BIG)
        self._size = size
        self._parts.append(payload)

    def _frame(self) -> tuple[bool, int, bytes] | None:
        """One frame (section 5.2), consumed only once it is whole."""
        buf, pos = self._buf, self._pos
        if len(buf) - pos < 2:
            if not self._need(2):
                return None
            buf, pos = self._buf, 0
        b1, b2 = buf[pos], buf[pos + 1]
        if b1 & 0x70:
            raise ProtocolError("protocol error: reserved bits set: no extension was negotiated")
        if b1 & 0x0F not in _KNOWN_OPCODES:
            raise ProtocolError(f"protocol error: unknown opcode {b1 & 0x0F:#x}")
        length, start = b2 & 0x7F, pos + 2
        if length >= 126:
            size = 2 if length == 126 else 8
            if len(buf) - start < size:
                if not self._need(2 + size):
                    return None
                buf, pos = self._buf, 0
                start = 2
            length = int.from_bytes(buf[start:start + size], "big")
            start += size
            if length > self._max:
                raise ProtocolError(
                    f"message too big: a frame of {length} bytes, the limit is {self._max}",
                    close_code=CloseCode.TOO_BIG)
        mask = b2 & _MASK_BIT
        end = start + (4 if mask else 0) + length
        if end > len(buf):
            if not self._need(end - pos):
                return None
            buf = self._buf
            start, end = start - pos, end - pos
        self._pos = end
        if mask:  # a server does not mask (5.1), a client must: both are read
            return bool(b1 & _FIN), b1 & 0x0F, _unmask(buf[start:start + 4], buf[start + 4:end])
        return bool(b1 & _FIN), b1 & 0x0F, buf[start:end]

    def _need(self, need: int) -> bool:
        """Whether ``need`` bytes are there from the current position; if so they are joined
        into one buffer starting at position 0. Fed chunks wait in ``_more`` until enough have
        come, so a big frame is joined once, not re-copied per read."""
        if len(self._buf) - self._pos + self._extra < need:
            return False
        self._buf = b"".join([self._buf[self._pos:], *self._more])
        self._pos, self._more, self._extra = 0, [], 0
        return True


def build_frame(
    opcode: int, payload: bytes, *, mask: bool = False,
    mask_key: Callable[[int], bytes] = os.urandom,
) -> bytes:
    """One final frame of ``opcode`` carrying ``payload``.

    A client masks every frame it sends (section 5.3: ``mask=True``, a fresh random key each);
    a server never does.
    """
    size = len(payload)
    bit = _MASK_BIT if mask else 0
    if size < 126:
        head = bytes((_FIN | opcode, bit | size))
    elif size < 65536:
        head = _LEN16(_FIN | opcode, bit | 126, size)
    else:
        head = _LEN64(_FIN | opcode, bit | 127, size)
    if not mask:
        return head + payload
    key = mask_key(4)
    return head + key + _unmask(key, payload)


def text_frame(payload: bytes) -> bytes:
    """One final, unmasked text frame carrying ``payload``: what the server sends."""
    size = len(payload)
    if size < 126:
        return bytes((_FIN | TEXT, size)) + payload
    if size < 65536:
        return _LEN16(_FIN | TEXT, 126, size) + payload
    return _LEN64(_FIN | TEXT, 127, size) + payload


def close_payload(code: int, reason: str = "") -> bytes:
    """The payload of a close frame (section 5.5.1): the code, then a UTF-8 reason cut to fit
    the 125 bytes of a control frame."""
    return code.to_bytes(2, "big") + reason.encode()[:123]


def parse_close(payload: bytes) -> tuple[int, str]:
    """The code and reason of a received close frame (1005 when it has none, section 7.1.5).

    Raises:
        ProtocolError: a one-byte payload, or a reason that is not UTF-8 (section 5.5.1).
    """
    if not payload:
        return CloseCode.NO_STATUS, ""
    if len(payload) == 1:
        raise ProtocolError("protocol error: close frame with a one-byte payload")
    try:
        reason = payload[2:].decode()
    except UnicodeDecodeError:
        raise ProtocolError("protocol error: close reason is not UTF-8",
                            close_code=CloseCode.INVALID_DATA) from None
    return int.from_bytes(payload[:2], "big"), reason


def _unmask(key: bytes, data: bytes) -> bytes:
    """Section 5.3: XOR with the 4-byte key, done on whole integers (also masks)."""
    n = len(data)
    repeated = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(repeated, "little")).to_bytes(
        n, "little"
    )
