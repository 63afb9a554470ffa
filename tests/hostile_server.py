"""A misbehaving WebSocket server for the stream's hostile tests (``test_stream_hostile.py``).

``HostileServer(mode, **params)`` listens on 127.0.0.1:0 in its own thread and event loop and
runs ``MODES[mode](connection, **params)`` on every connection, numbered from 0. Every mode but
``silent_tcp`` is the ``websockets`` library's asyncio server, misbehaving either through its
API or by writing raw frames (RFC 6455 section 5.2) to the transport; ``silent_tcp`` is a bare
TCP listener that never says a word, so a ``wss://`` client hangs in its TLS handshake and a
``ws://`` one in its HTTP upgrade.

Data messages are valid API messages of ``monitoring_events`` with a ``seq`` that goes on
increasing across connections, so a client that resumes accepts every one of them once.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import socket
import struct
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import Any, Final

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from openagi_nb import model

__all__ = [
    "CHANNEL", "JUNK_THEN_FATAL", "MODES", "ODD_CLOSES", "HostileServer", "ResettingServer",
    "closed_port", "full_backlog", "raw_frame",
]

CHANNEL: Final = "monitoring_events"
FIN: Final = 0x80
RSV1: Final = 0x40


def raw_frame(first: int, payload: bytes = b"") -> bytes:
    """An unmasked frame with ``first`` as its first byte (FIN, RSV bits, opcode), any opcode:
    what no WebSocket library will send for us. Payloads up to 125 bytes, plus the 126-byte
    form (16-bit length) for an oversized control frame."""
    if len(payload) < 126:
        return bytes((first, len(payload))) + payload
    return struct.pack("!BBH", first, 126, len(payload)) + payload


class Connection:
    """One accepted connection, as a mode sees it."""

    def __init__(self, server: HostileServer, ws: ServerConnection, number: int) -> None:
        self.server, self.ws, self.number = server, ws, number

    async def events(self, count: int) -> None:
        """Send ``count`` valid events, each as one text frame."""
        for _ in range(count):
            await self.ws.send(self.server.next_event(), text=True)

    async def subscribed(self) -> None:
        """Wait for the client's first message (its subscribe)."""
        await self.ws.recv()

    def raw(self, *frames: bytes) -> None:
        """Write bytes as they are, behind what ``websockets`` has already written."""
        self.ws.transport.write(b"".join(frames))

    async def hold(self) -> None:
        """Stay until the client goes (or the server is stopped)."""
        await self.ws.wait_closed()


# --- the modes: one coroutine each, run once per connection ----------------------------------

async def stall(c: Connection) -> None:
    """The handshake is done, then nothing: no byte is sent, none is read, so neither a ping
    nor a close from the client is ever answered."""
    c.ws.transport.pause_reading()
    await c.hold()


async def deaf(c: Connection, interval: float = 0.02) -> None:
    """Keeps sending events but reads nothing: the client's close is never answered."""
    c.ws.transport.pause_reading()
    while True:
        await c.events(1)
        await asyncio.sleep(interval)


async def flood(c: Connection) -> None:
    """Valid events as fast as the client takes them (flow control keeps our buffer small)."""
    while True:
        await c.events(256)
        await asyncio.sleep(0)  # let the loop breathe: stop() and the client's close


async def fragments(c: Connection, size: int = 1 << 20) -> None:
    """A text message begun and never finished: continuation fragments of ``size`` bytes
    forever, never a FIN (section 5.4)."""
    chunk = "x" * size

    async def parts() -> AsyncIterator[str]:
        yield '{"type":"monitoring_event","event":"metric_update","data":{"pad":"'
        while True:
            yield chunk

    await c.ws.send(parts())


async def flap(c: Connection, events: int = 3, code: int = 1011) -> None:
    """``events`` valid events, then a proper close with ``code``."""
    await c.events(events)
    await c.ws.close(code, f"flap {code}")


JUNK_THEN_FATAL: Final = (
    raw_frame(0x83, b"x"),  # unknown data opcode 0x3
    raw_frame(0x8B),  # unknown control opcode 0xB
    raw_frame(FIN | RSV1 | model.TEXT, b"{}"),  # a reserved bit, no extension negotiated
    raw_frame(FIN | model.CONTINUATION, b"x"),  # a continuation with nothing to continue
    raw_frame(model.PING, b"x"),  # a fragmented control frame
    raw_frame(FIN | model.PING, b"x" * 126),  # a control frame over 125 bytes
)
"""The frame that ends each ``junk`` connection, by connection number."""


async def junk(c: Connection, fatal: int = 0) -> None:
    """An event, a binary frame, a text frame that is not UTF-8, an event, then the frame
    ``JUNK_THEN_FATAL[fatal]``, which breaks the framing."""
    await c.events(1)
    await c.ws.send(b"\x00\x01binary")
    await c.ws.send(b'{"type": "monitoring_event", "x": "\xff\xfe"}', text=True)
    await c.events(1)
    c.raw(JUNK_THEN_FATAL[fatal])
    await c.hold()


ODD_CLOSES: Final = ("one_byte", "bad_code", "reset")


async def close_oddly(c: Connection, how: str = "one_byte") -> None:
    """Once the client has subscribed, two events, then an end no server should make: a close
    frame with a one-byte payload, a close code that may not be sent (1005, 999, 5000 in turn;
    section 7.4), or a TCP reset without any close frame."""
    await c.subscribed()  # so that, reset or not, the client has no write left to fail
    await c.events(2)
    if how == "one_byte":
        c.raw(raw_frame(FIN | model.CLOSE, b"\x03"))
    elif how == "bad_code":
        code = (1005, 999, 5000)[c.number % 3]
        c.raw(raw_frame(FIN | model.CLOSE, code.to_bytes(2, "big") + b"odd"))
    else:
        sock = c.ws.transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.ws.transport.abort()  # linger 0: the kernel sends RST, not FIN
    await c.hold()


Mode = Callable[..., Awaitable[None]]
MODES: Final[dict[str, Mode | None]] = {
    "silent_tcp": None, "stall": stall, "deaf": deaf, "flood": flood, "fragments": fragments,
    "flap": flap, "junk": junk, "close_oddly": close_oddly,
}


class HostileServer:
    """A server misbehaving as ``mode`` (see :data:`MODES`) on every connection.

    Attributes:
        accepted: when (``time.monotonic()``) each connection was accepted, in order.
        close_codes: per connection that ended, the close code the client sent (None: none).
    """

    def __init__(self, mode: str, **params: Any) -> None:
        self.mode, self.params = MODES[mode], params
        self.accepted: list[float] = []
        self.close_codes: list[int | None] = []
        self.port = 0
        self._seq = itertools.count(1)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="hostile-server",
                                        daemon=True)
        self._server: Server | asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._connections: set[ServerConnection] = set()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/api/v1/ws"

    def next_event(self) -> bytes:
        """A valid data message with the next ``seq`` (called on the server's loop only)."""
        seq = next(self._seq)
        data = {"node_id": f"node_{seq % 5}", "metric": "cpu_usage", "value": float(seq % 100),
                "threshold": 80.0, "status": "ok"}
        stamp = model.format_timestamp(time.time_ns())
        return model.encode(model.data_message(CHANNEL, "metric_update", data, stamp, seq))

    # --- life ------------------------------------------------------------------------------

    def start(self) -> HostileServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        """Cut every connection and stop listening (never waits for a closing handshake)."""
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> HostileServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    async def _start(self) -> None:
        if self.mode is None:
            self._server = await asyncio.start_server(self._silent, "127.0.0.1", 0)
        else:
            self._server = await serve(self._handle, "127.0.0.1", 0, compression=None,
                                       ping_interval=None, open_timeout=None, close_timeout=1,
                                       max_size=None)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        for conn in list(self._connections):
            conn.transport.abort()
        for writer in self._writers:
            writer.transport.abort()
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _silent(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted.append(time.monotonic())
        self._writers.append(writer)  # held open, never read or written, until stop()

    async def _handle(self, ws: ServerConnection) -> None:
        number = len(self.accepted)
        self.accepted.append(time.monotonic())
        self._connections.add(ws)
        assert self.mode is not None
        try:
            await self.mode(Connection(self, ws, number), **self.params)
        except (ConnectionClosed, OSError):
            pass  # the client went: that is what these modes wait for
        finally:
            self._connections.discard(ws)
            received = ws.protocol.close_rcvd
            self.close_codes.append(received.code if received is not None else None)


def full_backlog() -> tuple[socket.socket, socket.socket]:
    """A listener that never accepts, its one-slot backlog taken by a first connection: Linux
    drops the SYNs of the next, whose ``connect()`` hangs. Returns (listener, filler); close
    both when done."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    filler = socket.create_connection(listener.getsockname(), timeout=2)
    return listener, filler


def closed_port() -> int:
    """A port of 127.0.0.1 nothing listens on (bound, then released): connecting is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class ResettingServer:
    """A plain-socket server that answers the handshake, sends ``events`` data messages at once
    (before the client's subscribe can arrive) and resets the connection (RST, no close)."""

    def __init__(self, events: int = 2) -> None:
        self._events, self._seq = events, itertools.count(1)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self._listener.getsockname()[1]}/api/v1/ws"

    def close(self) -> None:
        self._listener.close()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with conn:
                self._answer(conn)

    def _answer(self, conn: socket.socket) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = conn.recv(4096)
            if not chunk:
                return
            request += chunk
        key = next((line.split(b":", 1)[1].strip() for line in request.split(b"\r\n")
                    if line.lower().startswith(b"sec-websocket-key")), None)
        if key is None:  # not an upgrade (the client asks for the status first): none here
            conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            return
        self.connections += 1
        accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
        events = b"".join(model.text_frame(self._event()) for _ in range(self._events))
        conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
                     + events)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def _event(self) -> bytes:
        seq = next(self._seq)
        data = {"node_id": "node_1", "metric": "cpu_usage", "value": 1.0, "threshold": 80.0,
                "status": "ok"}
        stamp = model.format_timestamp(time.time_ns())
        return model.encode(model.data_message(CHANNEL, "metric_update", data, stamp, seq))


_GUID: Final = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3
