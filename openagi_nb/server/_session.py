"""One WebSocket connection: the handshake checks, the inbound messages, the close.

The handshake is refused with HTTP 401 (bad token) or 503 (too many clients) and a JSON body
before any upgrade. Once connected, every inbound frame is answered: a valid control message
with its ack or ``pong``, anything else with an ``error`` naming what was wrong (invalid JSON or
UTF-8, not an object, no or unknown type, unknown channel, over 64 KiB, binary), and the
connection goes on. What ends it from our side: a client that keeps sending too fast after being
told (1008), an expired token (4001), falling behind at a finite speed (1013, from the hub),
shutdown (1001). A frame over :data:`HARD_FRAME_LIMIT` is closed by aiohttp with 1009: skipping
a frame means reading it, which is the very memory the limit refuses to spend.

What the server sends is written by the subscriber's pump (:mod:`.subscriber`) straight to the
transport; this module only reads.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Final, Literal

from aiohttp import WSMsgType, web
from aiohttp.abc import AbstractStreamWriter

from .. import model
from ..exceptions import AuthenticationFailed, InvalidMessage
from ..model import Channel, ErrorCode, MessageType
from ._limits import ControlRate, Verdict
from ._subscriber import Subscriber

if TYPE_CHECKING:
    from ._app import ReplayServer

__all__ = ["HARD_FRAME_LIMIT", "SERVER", "websocket_handler"]

log = logging.getLogger("openagi_nb.server")

HARD_FRAME_LIMIT: Final = 1024 * 1024
"""Inbound frames up to this size are read and refused with an error; beyond it aiohttp closes
with 1009 (reading a frame is the only way to skip it)."""
TOKEN_EXPIRED: Final = 4001
GOING_AWAY: Final = 1001
INTERNAL_ERROR: Final = 1011
CLOSE_TIMEOUT: Final = 5.0
"""Seconds a client has to answer our close frame (aiohttp), then to take what is queued."""
_WebSocket = web.WebSocketResponse[Literal[False]]


SERVER: Final = web.AppKey["ReplayServer"]("server")
"""Where the application keeps its :class:`~.app.ReplayServer`."""


class _Sink:
    """A connection's transport as the hub's :class:`~.subscriber.Sink`.

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


async def websocket_handler(request: web.Request) -> web.StreamResponse:
    """``GET /api/v1/ws?token=...``: authenticate, upgrade, serve until closed."""
    server = request.app[SERVER]
    peer = _peer(request)
    taken = len(server.hub.subscribers) + server.handshakes
    if taken >= server.options.max_clients:
        log.info("ws %s refused 503: %d clients already", peer, taken)
        return server.error_response(503, "too many clients",
                                     f"at most {server.options.max_clients} connections")
    try:
        claims = server.verify(_token_of(request))
    except AuthenticationFailed as exc:
        log.info("ws %s refused 401: %s", peer, exc)
        return server.error_response(401, "invalid token", str(exc))
    ws: _WebSocket = web.WebSocketResponse(
        compress=False, max_msg_size=HARD_FRAME_LIMIT, timeout=CLOSE_TIMEOUT,
        decode_text=False)
    server.handshakes += 1  # counted against max_clients while the upgrade is under way
    try:
        writer = await ws.prepare(request)
        connection = _Connection(server, request, ws, writer, claims["sub"], claims["exp"], peer)
    finally:
        server.handshakes -= 1
    await connection.serve()
    return ws


def _token_of(request: web.Request) -> str | None:
    token = request.query.get("token")
    if token:
        return token
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def _peer(request: web.Request) -> str:
    peername = request.transport.get_extra_info("peername") if request.transport else None
    return f"{peername[0]}:{peername[1]}" if peername else "?"


class _Connection:
    """The life of one accepted connection."""

    def __init__(
        self, server: ReplayServer, request: web.Request, ws: _WebSocket,
        writer: AbstractStreamWriter, node: str, expires: int, peer: str,
    ) -> None:
        self.server, self.ws, self.node, self.peer = server, ws, node, peer
        self.sink = _Sink(request, ws, writer)
        self.sub: Subscriber = server.hub.attach(self.sink, f"{peer} {node!r}")
        o = server.options
        self.rate = ControlRate(o.control_rate, o.control_burst, o.strikes)
        self.expires = expires
        self.refused = 0

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        expiry = loop.call_later(max(0.0, self.expires - time.time()), self._expire)
        pump = asyncio.ensure_future(self.sub.run())
        pump.add_done_callback(self._pump_done)
        self.server.connections.add(self)
        try:
            await self._read()
        finally:
            expiry.cancel()
            self.server.connections.discard(self)
            self.server.hub.detach(self.sub)
            await self.sink.wait_closed()
            pump.cancel()
            ours = self.sink.closed_with
            log.info(
                "ws %s node=%r channels=%s sent=%d refused=%d close=%s by %s after %.1fs",
                self.peer, self.node, ",".join(self.sub.channels) or "-", self.sub.sent,
                self.refused, ours if ours is not None else self.ws.close_code,
                "server" if ours is not None else "client", time.monotonic() - started,
            )

    def _pump_done(self, pump: asyncio.Future[None]) -> None:
        if not pump.cancelled() and pump.exception() is not None:
            log.error("ws %s: writer failed", self.peer, exc_info=pump.exception())
            self.close(INTERNAL_ERROR, "internal error")

    def close(self, code: int, reason: str) -> None:
        """Close from our side (shutdown: 1001)."""
        self.sub.closed = True
        self.sink.close(code, reason)

    def _expire(self) -> None:
        self.sub.closed = True
        self.sink.close(TOKEN_EXPIRED, "token expired")

    async def _read(self) -> None:
        while True:
            msg = await self.ws.receive()
            if msg.type is WSMsgType.TEXT:
                self._on_text(msg.data)
            elif msg.type is WSMsgType.BINARY:
                self._refuse(ErrorCode.BINARY_FRAME, "binary frames are not accepted; send JSON "
                             "text frames")
            else:  # close, closing, closed, error (aiohttp has answered the close already)
                return

    def _on_text(self, raw: bytes) -> None:
        verdict = self.rate.check()
        if verdict is not Verdict.ACCEPT:
            self._too_fast(verdict)
            return
        if len(raw) > self.server.options.max_frame:
            self._refuse(ErrorCode.TOO_LARGE, f"frame of {len(raw)} bytes exceeds "
                         f"{self.server.options.max_frame}")
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
        elif kind == MessageType.PING:
            self.sub.reply(model.pong())
        else:
            self._refuse(ErrorCode.UNKNOWN_TYPE, f"message type {kind!r} is not accepted from "
                         "clients; send subscribe, unsubscribe or ping")

    def _refuse(self, code: str, message: str) -> None:
        self.refused += 1
        self.sub.reply(model.error(code, message))

    def _too_fast(self, verdict: Verdict) -> None:
        self.refused += 1
        limit = f"more than {self.server.options.control_rate:g} messages/s"
        if verdict is Verdict.CLOSE:
            self.sub.kick(1008, ErrorCode.RATE_LIMITED, f"{limit}, still: closing")
        else:
            self.sub.reply(model.error(ErrorCode.RATE_LIMITED, f"{limit}: message refused"))
