"""One WebSocket connection: the handshake checks, the inbound messages, the close.

The handshake is refused with HTTP 401 (bad token) or 503 (too many clients) and a JSON body
before any upgrade. Once connected, every inbound frame is answered: a valid control message
with its ack or ``pong``, anything else with an ``error`` naming what was wrong (invalid JSON or
UTF-8, not an object, no or unknown type, unknown channel, over 64 KiB, binary), and the
connection goes on. What ends it from our side: a client that keeps sending too fast after being
told (1008), an expired token (4001), falling behind at a finite speed (1013, from the hub),
shutdown (1001). A frame over :data:`HARD_FRAME_LIMIT` is closed by aiohttp with 1009: skipping
a frame means reading it, which is the very memory the limit refuses to spend.

Each connection ends with one log line naming the close code really sent and who sent it:
``close=1013 by server`` for ours (1001, 1008, 1011, 1013, 4001) and aiohttp's refusals (1002,
1007, 1009), ``close=4000 by client`` for the client's code (1005 for a close frame without
one, 1006 when the connection went without a close frame; RFC 6455 section 7.1.5).

What the server sends is written by the subscriber's pump (:mod:`._subscriber`) straight to the
transport; this module only reads.

It knows nothing of the app above it: the app makes one :class:`WebSocketEndpoint`, routes
``GET /api/v1/ws`` to its :meth:`~WebSocketEndpoint.handle` and gives it what a session needs:
the :class:`Connections` registry (which the app reads at shutdown), the hub as
:class:`Subscribers`, the :class:`~._limits.Limits` and a :data:`Verify` callable.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Final, Literal, Protocol

from aiohttp import WebSocketError, WSMsgType, web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.http_websocket import WSMessageNoDecodeText

from .. import model
from ..exceptions import InvalidMessage, InvalidToken
from ..model import Channel, CloseCode, ErrorCode, MessageType
from ._limits import Limits, Verdict
from ._rest import error_response
from ._subscriber import Sink, Subscriber
from ._tokens import Claims

__all__ = [
    "CLOSE_TIMEOUT", "HARD_FRAME_LIMIT", "Connections", "Subscribers", "Verify",
    "WebSocketEndpoint",
]

log = logging.getLogger("openagi_nb.server")

HARD_FRAME_LIMIT: Final = 1024 * 1024
"""Inbound frames up to this size are read and refused with an error; beyond it aiohttp closes
with 1009 (reading a frame is the only way to skip it)."""
CLOSE_TIMEOUT: Final = 5.0
"""Seconds a client has to answer our close frame (aiohttp), then to take what is queued."""
_WebSocket = web.WebSocketResponse[Literal[False]]

Verify = Callable[[str | None], Claims]
"""Checks a token (None: there is none) and returns its claims, or raises InvalidToken."""


class Subscribers(Protocol):
    """What a session needs of the hub: a subscriber per connection, forgotten when it ends."""

    def attach(self, sink: Sink, label: str) -> Subscriber:
        """A new subscriber writing to ``sink``; the caller runs its ``run()`` as its writer."""
        ...

    def detach(self, sub: Subscriber) -> None:
        """Forget ``sub``, whose connection is gone."""

    def clock_now(self) -> model.Clock | None:
        """The server's clock now, stated in pongs (None: it states none)."""


class Connections:
    """The WebSocket connections of one server, and the upgrades under way.

    The app makes it and closes every connection through it at shutdown; the endpoint admits
    new clients against it, and each connection is in it while it serves.
    """

    def __init__(self) -> None:
        self._open: set[_Connection] = set()
        self._handshakes = 0

    def __len__(self) -> int:
        return len(self._open)

    @property
    def taken(self) -> int:
        """Connections open or being upgraded: what ``max_clients`` bounds."""
        return len(self._open) + self._handshakes

    @contextmanager
    def upgrading(self) -> Iterator[None]:
        """Count an upgrade under way against ``max_clients`` while the block runs."""
        self._handshakes += 1
        try:
            yield
        finally:
            self._handshakes -= 1

    def add(self, connection: _Connection) -> None:
        """Register a connection that starts serving."""
        self._open.add(connection)

    def discard(self, connection: _Connection) -> None:
        """Forget a connection that has ended."""
        self._open.discard(connection)

    async def close_all(self, code: int, reason: str, timeout: float) -> None:
        """Close every connection with ``code``; wait up to ``timeout`` seconds for the closing
        handshakes (the connections leave the registry as their handlers finish)."""
        for connection in list(self._open):
            connection.close(code, reason)
        waits = [c.sink.wait_closed() for c in list(self._open)]
        if waits:
            await asyncio.wait([asyncio.ensure_future(w) for w in waits], timeout=timeout)


class _Sink:
    """A connection's transport as the hub's :class:`~._subscriber.Sink`.

    Frames go to ``request.transport`` directly (many per write); flow control uses the
    response's public ``drain()``, which waits while asyncio has paused writing.
    """
    def __init__(self, request: web.Request, ws: _WebSocket, writer: AbstractStreamWriter) -> None:
        self._transport = request.transport
        self._ws = ws
        self._writer = writer
        self._closing: asyncio.Future[None] | None = None
        self.closed_with: int | None = None
        """The close code we sent, when we closed first."""

    def write(self, data: bytes) -> None:
        transport = self._transport
        # RFC 6455 section 5.5.1: nothing may follow our close frame (aiohttp marks the
        # response closed before it writes one).
        if self._ws.closed or transport is None or transport.is_closing():
            raise ConnectionResetError("connection closed")
        transport.write(data)

    def buffered(self) -> int:
        transport = self._transport
        return transport.get_write_buffer_size() if transport is not None else 0

    def pause_above(self, high: int) -> None:
        # asyncio pauses the protocol above ``high`` and aiohttp's drain() waits while paused.
        if self._transport is not None:
            self._transport.set_write_buffer_limits(high=high, low=high // 4)

    async def drain(self) -> None:
        await self._writer.drain()

    def close(self, code: int, reason: str) -> None:
        if self._closing is None and not self._ws.closed:
            self.closed_with = code
            self._closing = asyncio.ensure_future(self._close(code, reason))

    async def _close(self, code: int, reason: str) -> None:
        # drain=False: a client we close for not reading would never let a drain finish. What
        # is queued still goes out first; a client that reads nothing at all is cut after
        # CLOSE_TIMEOUT, so it cannot hold its buffers forever.
        try:
            await self._ws.close(code=code, message=reason.encode()[:120], drain=False)
        except ConnectionError:
            pass
        finally:
            if self._transport is not None:
                asyncio.get_running_loop().call_later(CLOSE_TIMEOUT, self._transport.abort)

    async def wait_closed(self) -> None:
        if self._closing is not None:
            await asyncio.shield(self._closing)


class WebSocketEndpoint:
    """``GET /api/v1/ws?token=...`` of one server: admit, authenticate, upgrade, serve until closed.

    Args:
        connections: the server's registry; admission counts it.
        hub: gives each connection its subscriber.
        limits: what clients may do.
        verify: checks a token (raises InvalidToken, which becomes HTTP 401).
    """

    def __init__(
        self, connections: Connections, hub: Subscribers, limits: Limits, verify: Verify
    ) -> None:
        self.connections, self.hub, self.limits, self.verify = connections, hub, limits, verify

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """The aiohttp handler: a refusal (503, 401), or the upgraded connection once it ends."""
        peer = _peer(request)
        taken, most = self.connections.taken, self.limits.max_clients
        if taken >= most:
            log.info("ws %s refused 503: %d clients already", peer, taken)
            return error_response(503, "too many clients", f"at most {most} connections")
        try:
            claims = self.verify(_token_of(request))
        except InvalidToken as exc:
            log.info("ws %s refused 401: %s", peer, exc)
            return error_response(401, "invalid token", str(exc))
        ws: _WebSocket = web.WebSocketResponse(
            compress=False, max_msg_size=HARD_FRAME_LIMIT, timeout=CLOSE_TIMEOUT,
            decode_text=False)
        with self.connections.upgrading():
            writer = await ws.prepare(request)
            connection = _Connection(self, request, ws, writer, claims, peer)
        await connection.serve()
        return ws


def _token_of(request: web.Request) -> str | None:
    token = request.query.get("token")
    if token:
        return token
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def _ending(msg: WSMessageNoDecodeText, close_code: int | None) -> tuple[int, str]:
    """The close code and who sent it, from the message that ended the read loop."""
    if msg.type is WSMsgType.ERROR and isinstance(msg.data, WebSocketError):
        # aiohttp refused the input (1002 framing, 1007, 1009 too big) and sent a close frame
        # with that code; ws.close_code then says 1006, as its broken reader never yields the
        # client's answer.
        return int(msg.data.code), "server"
    if msg.type is WSMsgType.CLOSE:
        # aiohttp gives 0 for a close frame without a code
        return int(msg.data) or CloseCode.NO_STATUS, "client"
    return close_code or CloseCode.ABNORMAL, "client"


def _peer(request: web.Request) -> str:
    peername = request.transport.get_extra_info("peername") if request.transport else None
    return f"{peername[0]}:{peername[1]}" if peername else "?"


class _Connection:
    """The life of one accepted connection."""

    def __init__(
        self, endpoint: WebSocketEndpoint, request: web.Request, ws: _WebSocket,
        writer: AbstractStreamWriter, claims: Claims, peer: str,
    ) -> None:
        self.ws, self.node, self.peer = ws, claims["sub"], peer
        self.connections, self.hub = endpoint.connections, endpoint.hub
        self.limits = endpoint.limits
        self.sink = _Sink(request, ws, writer)
        self.sub: Subscriber = self.hub.attach(self.sink, f"{peer} {self.node!r}")
        self.rate = self.limits.control()
        self.expires = claims["exp"]
        self.refused = 0
        self.ended: tuple[int, str] | None = None
        """The close code and who sent it, as the read loop saw the end."""

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        expiry = loop.call_later(max(0.0, self.expires - time.time()), self._expire)
        pump = asyncio.ensure_future(self.sub.run())
        pump.add_done_callback(self._pump_done)
        self.connections.add(self)
        try:
            await self._read()
        finally:
            expiry.cancel()
            self.connections.discard(self)
            self.hub.detach(self.sub)
            await self.sink.wait_closed()
            pump.cancel()
            code, by = self._close_code()
            log.info(
                "ws %s node=%r channels=%s%s sent=%d refused=%d close=%d by %s after %.1fs",
                self.peer, self.node, ",".join(self.sub.channels) or "-",
                "" if self.sub.batched is None else f" batches={self.sub.batched.settings.format}",
                self.sub.sent,
                self.refused, code, by, time.monotonic() - started,
            )

    def _close_code(self) -> tuple[int, str]:
        """The close code sent and by whom: ours first (a client's close frame after ours only
        answers it), then what the read loop saw."""
        if self.sink.closed_with is not None:
            return self.sink.closed_with, "server"
        if self.ended is not None:
            return self.ended
        return self.ws.close_code or CloseCode.ABNORMAL, "client"

    def _pump_done(self, pump: asyncio.Future[None]) -> None:
        if not pump.cancelled() and pump.exception() is not None:
            log.error("ws %s: writer failed", self.peer, exc_info=pump.exception())
            self.close(CloseCode.INTERNAL_ERROR, "internal error")

    def close(self, code: int, reason: str) -> None:
        """Close from our side (shutdown: 1001)."""
        self.sub.close(code, reason)

    def _expire(self) -> None:
        self.sub.close(CloseCode.TOKEN_EXPIRED, "token expired")

    async def _read(self) -> None:
        while True:
            msg = await self.ws.receive()
            if msg.type is WSMsgType.TEXT:
                self._on_text(msg.data)
            elif msg.type is WSMsgType.BINARY:
                self._refuse(ErrorCode.BINARY_FRAME, "binary frames are not accepted; send JSON "
                             "text frames")
            else:  # close, closing, closed, error (aiohttp has answered the close already)
                self.ended = _ending(msg, self.ws.close_code)
                return

    def _on_text(self, raw: bytes) -> None:
        verdict = self.rate.check()
        if verdict is not Verdict.ACCEPT:
            self._too_fast(verdict)
            return
        if len(raw) > self.limits.max_frame:
            self._refuse(ErrorCode.TOO_LARGE, f"frame of {len(raw)} bytes exceeds "
                         f"{self.limits.max_frame}")
            return
        try:
            message = model.parse(raw)
        except InvalidMessage as exc:
            self._refuse(exc.code, exc.reason)
            return
        self._dispatch(message)

    def _dispatch(self, message: model.Message) -> None:
        kind = message["type"]
        # parse() has checked channel (a known channel) and since (None or an int >= 0).
        if kind == MessageType.SUBSCRIBE:
            since = message.get("since")
            self.sub.subscribe(Channel(str(message.get("channel"))), since if isinstance(since, int)
                               else None)
        elif kind == MessageType.UNSUBSCRIBE:
            self.sub.unsubscribe(Channel(str(message.get("channel"))))
        elif kind == MessageType.PING:  # with the clock: how a client refreshes it
            self.sub.reply(model.pong(self.hub.clock_now()))
        elif kind == MessageType.BATCH:
            self.sub.batch(model.parse_batch_request(dict(message)))
        else:
            self._refuse(ErrorCode.UNKNOWN_TYPE, f"message type {kind!r} is not accepted from "
                         "clients; send subscribe, unsubscribe or ping")

    def _refuse(self, code: str, message: str) -> None:
        self.refused += 1
        self.sub.reply(model.error(code, message))

    def _too_fast(self, verdict: Verdict) -> None:
        self.refused += 1
        limit = f"more than {self.limits.control_rate:g} messages/s"
        if verdict is Verdict.CLOSE:
            self.sub.kick(CloseCode.POLICY, ErrorCode.RATE_LIMITED, f"{limit}, still: closing")
        else:
            self.sub.reply(model.error(ErrorCode.RATE_LIMITED, f"{limit}: message refused"))
