"""The replay server: the Open-A.G.I WebSocket API and its token endpoint over a capture.

We use aiohttp: one maintained library for HTTP and WebSocket on the same port (the token and
status endpoints beside ``/api/v1/ws``), TLS through the standard ``ssl`` module, a handshake we
can refuse with a JSON body before upgrading, and public access to the transport and its drain so
the hub can write many pre-framed messages per write (:mod:`._subscriber`).

- ``POST /api/v1/auth/token`` ``{"node_id", "public_key"}`` -> ``{"token", "token_type",
  "expires_in"}``.
- ``GET /api/v1/status``: uptime, clients, messages published, capture, replay position, speed.
- ``GET /api/v1/ws?token=JWT``: the WebSocket API (:mod:`._session`).

This module is the top of the server (only :mod:`._background` builds on it): it owns the hub,
the connections registry and the WebSocket endpoint, and hands each what it needs.

Errors are the HTTP API's ``{"error": {"code", "message", "details"}}`` (:mod:`._rest`). One log
line per WebSocket connection (peer, node, channels, messages sent, close code), never a token:
aiohttp's access log, which would print the query string, is off.

:func:`serve` is what ``openagi-nb serve`` calls; :class:`ReplayServer` runs inside a loop you
own (tests, :mod:`._background`).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl
import time
from collections.abc import Callable
from typing import Final

import orjson
from aiohttp import web

from ..exceptions import ServerConfigError
from ..model import STATUS_PATH, TOKEN_PATH, WS_PATH, CloseCode
from ._hub import Hub
from ._limits import Limits
from ._options import ServeOptions
from ._replay import Replay, load_replay
from ._rest import error_response, json_errors, json_response
from ._session import Connections, WebSocketEndpoint
from ._tokens import Claims, issue_token, resolve_secret, verify_token

__all__ = ["ReplayServer", "serve"]

log = logging.getLogger("openagi_nb.server")

MAX_NODE_ID: Final = 256
SHUTDOWN_WAIT: Final = 6.0
"""Seconds :meth:`ReplayServer.close` waits for the clients' closing handshakes."""


class ReplayServer:
    """A replay server bound to an event loop. ``await start()``, then ``await close()``.

    Args:
        options: what ``openagi-nb serve`` was told.
        replay: the capture already loaded (else it is loaded from ``options.capture``).
    """

    def __init__(self, options: ServeOptions, replay: Replay | None = None) -> None:
        self.options = options
        self.secret = resolve_secret(options.secret)
        self.replay = replay if replay is not None else load_replay(options.capture)
        self.connections = Connections()
        self._runner: web.AppRunner | None = None
        self._hub: Hub | None = None
        self._publisher: asyncio.Task[None] | None = None
        self._started = time.monotonic()
        self.port = options.port

    def __repr__(self) -> str:
        return f"<ReplayServer {self.base_url} capture={self.options.capture!r}>"

    @property
    def hub(self) -> Hub:
        """The hub (exists once started)."""
        if self._hub is None:
            raise RuntimeError("server not started")
        return self._hub

    @property
    def base_url(self) -> str:
        """``http(s)://host:port`` (the port bound, once started)."""
        scheme = "https" if self.options.tls else "http"
        host = self.options.host
        host = f"[{host}]" if ":" in host else host
        return f"{scheme}://{host}:{self.port}"

    @property
    def ws_url(self) -> str:
        """The WebSocket API's URL, without the token."""
        return self.base_url.replace("http", "ws", 1) + WS_PATH

    async def start(self) -> None:
        """Listen, and start the replay clock.

        Raises:
            ServerConfigError: the address cannot be bound or the TLS files cannot be used.
        """
        context = self._ssl_context()
        self._hub = Hub(self.replay, self.options)
        endpoint = WebSocketEndpoint(self.connections, self._hub, _limits(self.options),
                                     self.verify)
        app = web.Application(middlewares=[json_errors], client_max_size=64 * 1024)
        app.router.add_post(TOKEN_PATH, self._token)
        app.router.add_get(STATUS_PATH, self._status)
        app.router.add_get(WS_PATH, endpoint.handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False,
                                     shutdown_timeout=5.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.options.host, self.options.port,
                           ssl_context=context)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            raise ServerConfigError(
                f"cannot listen on {self.options.host}:{self.options.port}: {exc.strerror or exc}"
            ) from exc
        self.port = self._runner.addresses[0][1]
        self._publisher = asyncio.ensure_future(self.hub.run())
        self._publisher.add_done_callback(_publisher_done)

    async def close(self, code: int = CloseCode.GOING_AWAY,
                    reason: str = "server shutting down") -> None:
        """Stop listening, close every client with ``code`` (1001: going away), stop."""
        if self._runner is not None:
            for site in list(self._runner.sites):
                await site.stop()  # no new connection from here on
        await self.connections.close_all(code, reason, SHUTDOWN_WAIT)
        if self._publisher is not None:
            self._publisher.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def verify(self, token: str | None) -> Claims:
        """Check a token against this server's secret (raises InvalidToken)."""
        return verify_token(self.secret, token)

    def _ssl_context(self) -> ssl.SSLContext | None:
        if not self.options.tls:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            context.load_cert_chain(self.options.certfile or "", self.options.keyfile)
        except (OSError, ssl.SSLError) as exc:
            raise ServerConfigError(f"cannot use certfile/keyfile: {exc}") from exc
        return context

    async def _token(self, request: web.Request) -> web.Response:
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError as exc:
            return error_response(400, "invalid JSON body", str(exc))
        problem = _bad_token_request(body)
        if problem:
            return error_response(400, "invalid request", problem)
        node = body["node_id"]
        token = issue_token(self.secret, node, self.options.token_ttl)
        log.info("token issued to node %r for %gs", node, self.options.token_ttl)
        return json_response(
            {"token": token, "token_type": "bearer", "expires_in": int(self.options.token_ttl)}
        )

    async def _status(self, request: web.Request) -> web.Response:
        status = {"uptime": round(time.monotonic() - self._started, 3), **self.hub.status()}
        return json_response(status)


def _bad_token_request(body: object) -> str:
    """What is wrong with a token request's JSON body, for ``details`` ("" if nothing).

    ``public_key`` is required, as in the network's REST API, but may be empty and is not
    checked: a replay server keeps no registry of node keys.
    """
    if not isinstance(body, dict):
        return f"expected a JSON object, got {type(body).__name__}"
    node = body.get("node_id")
    if not isinstance(node, str) or not node or len(node) > MAX_NODE_ID:
        return f"'node_id' must be a non-empty string of at most {MAX_NODE_ID} characters"
    if "public_key" not in body:
        return "missing field 'public_key' (a string; it may be empty)"
    if not isinstance(body["public_key"], str):
        return "'public_key' must be a string (it may be empty)"
    return ""


def _publisher_done(task: asyncio.Future[None]) -> None:
    if task.cancelled():
        return
    if task.exception() is not None:
        log.error("the replay clock stopped", exc_info=task.exception())
    else:
        log.info("replay finished: every message of the capture was published")


def _limits(options: ServeOptions) -> Limits:
    o = options
    return Limits(o.max_clients, o.max_frame, o.control_rate, o.control_burst, o.strikes)


def serve(
    options: ServeOptions, on_ready: Callable[[str], None] | None = None
) -> int:
    """Run the server until SIGINT or SIGTERM; return the exit code (0).

    ``on_ready`` is called with the base URL once the server listens (the CLI prints it).
    On a signal every client is closed with 1001 before returning.

    Raises:
        ServerConfigError, CaptureError: the server cannot start.
    """
    server = ReplayServer(options)
    return asyncio.run(_serve(server, on_ready))


async def _serve(server: ReplayServer, on_ready: Callable[[str], None] | None) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await server.start()
    log.info("serving %s (%d messages) on %s", server.options.capture, len(server.replay),
             server.base_url)
    if on_ready is not None:
        on_ready(server.base_url)
    await stop.wait()
    log.info("shutting down: closing %d clients", len(server.connections))
    await server.close()
    return 0
