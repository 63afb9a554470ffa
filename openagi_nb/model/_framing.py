"""Reading WebSocket frames (RFC 6455 §5) from big socket reads, for the stream's hot path.

websocket-client parses each frame with some thirty Python calls and three ``recv`` syscalls
(PERF_NOTES: 8.5 µs a frame of its 12 µs here); :class:`FrameReader` takes 64 KiB at a time and
slices frames out of it, about 1 µs a frame. websocket-client still opens the connection, does
TLS, sends (masked, §5.3) and closes; only reading is done here.

The reader is fed by any ``recv(n) -> bytes`` that raises on timeout and on a closed connection;
nothing is lost when it raises: bytes already read stay buffered and the next call resumes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from ..exceptions import ConnectionFailed

__all__ = ["BINARY", "CLOSE", "CONTINUATION", "FrameReader", "PING", "PONG", "TEXT"]

CONTINUATION: Final = 0x0
TEXT: Final = 0x1
BINARY: Final = 0x2
CLOSE: Final = 0x8
PING: Final = 0x9
PONG: Final = 0xA
READ_SIZE: Final = 65536
MAX_MESSAGE: Final = 64 << 20
"""A message larger than this (64 MiB) is refused rather than buffered."""


class FrameReader:
    """Whole messages (fragments joined, §5.4) and control frames, in arrival order."""

    def __init__(self, recv: Callable[[int], bytes]) -> None:
        self._recv = recv
        self._buf = b""
        self._pos = 0
        self._more: list[bytes] = []  # read, not yet joined to _buf (see _fill)
        self._extra = 0
        self._parts: list[bytes] = []  # fragments of the message being assembled
        self._opcode = 0

    def next(self) -> tuple[int, bytes]:
        """The next data message (TEXT or BINARY, fragments joined) or control frame (CLOSE,
        PING, PONG): ``(opcode, payload)``. Raises whatever ``recv`` raises, and
        ``ConnectionFailed`` when the peer breaks the framing or closes the socket."""
        while True:
            fin, opcode, payload = self._frame()
            if opcode >= CLOSE:
                if not fin or len(payload) > 125:  # §5.5
                    raise _broken("fragmented or oversized control frame")
                return opcode, payload
            if opcode == CONTINUATION:
                if not self._parts:
                    raise _broken("continuation frame without a message to continue")
                self._parts.append(payload)
            elif self._parts:
                raise _broken("new message before the last one's final fragment")
            elif fin:
                return opcode, payload
            else:
                self._opcode, self._parts = opcode, [payload]
            if fin:
                data, self._parts = b"".join(self._parts), []
                return self._opcode, data

    def _frame(self) -> tuple[bool, int, bytes]:
        """One frame (§5.2), consumed only once it is whole."""
        buf, pos = self._buf, self._pos
        if len(buf) - pos < 2:
            buf, pos = self._fill(2)
        b1, b2 = buf[pos], buf[pos + 1]
        if b1 & 0x70:
            raise _broken("reserved bits set: no extension was negotiated")
        length, start = b2 & 0x7F, pos + 2
        if length >= 126:
            size = 2 if length == 126 else 8
            if len(buf) - start < size:
                buf, pos = self._fill(2 + size)
                start = pos + 2
            length = int.from_bytes(buf[start:start + size], "big")
            start += size
            if length > MAX_MESSAGE:
                raise _broken(f"frame of {length} bytes is over the {MAX_MESSAGE} limit")
        mask = b2 & 0x80
        end = start + (4 if mask else 0) + length
        if end > len(buf):
            buf, moved = self._fill(end - pos)
            start, end = start + moved - pos, end + moved - pos
        self._pos = end
        if mask:  # servers do not mask (§5.1); tolerate it rather than drop the stream
            return bool(b1 & 0x80), b1 & 0x0F, _unmask(buf[start:start + 4], buf[start + 4:end])
        return bool(b1 & 0x80), b1 & 0x0F, buf[start:end]

    def _fill(self, need: int) -> tuple[bytes, int]:
        """Read until ``need`` bytes are buffered from the current position; return the buffer
        and the new position. Reads are kept in ``_more`` until enough, so a timeout in between
        loses nothing and a big frame is joined once, not re-copied per read."""
        have = len(self._buf) - self._pos + self._extra
        while have < need:
            chunk = self._recv(max(READ_SIZE, need - have))
            if not chunk:
                raise ConnectionFailed("connection closed by the peer")
            self._more.append(chunk)
            self._extra += len(chunk)
            have += len(chunk)
        self._buf = b"".join([self._buf[self._pos:], *self._more])
        self._pos, self._more, self._extra = 0, [], 0
        return self._buf, 0


def _broken(reason: str) -> ConnectionFailed:
    """The peer broke RFC 6455 framing: the connection cannot go on."""
    return ConnectionFailed(f"protocol error: {reason}")


def _unmask(key: bytes, data: bytes) -> bytes:
    """§5.3: XOR with the 4-byte key, done on whole integers."""
    n = len(data)
    repeated = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(repeated, "little")).to_bytes(
        n, "little"
    )
