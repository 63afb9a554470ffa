"""Run a replay server in a background thread with its own event loop.

For tests, notebooks and benchmarks that need a real server next to them in the same process::

    with BackgroundServer(ServeOptions("capture.jsonl", port=0)) as server:
        token = server.token("analyst")
        stream = oa.EventStream(server.ws_url, token=token, channels=[...])
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from types import TracebackType
from typing import Any, TypeVar

from ._app import ReplayServer
from ._options import ServeOptions
from ._replay import Replay
from ._tokens import issue_token

__all__ = ["BackgroundServer"]

T = TypeVar("T")


class BackgroundServer:
    """A :class:`~._app.ReplayServer` on its own thread. Use as a context manager, or call
    :meth:`start` and :meth:`stop`."""

    def __init__(self, options: ServeOptions, replay: Replay | None = None) -> None:
        self.server = ReplayServer(options, replay)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="replay-server",
                                        daemon=True)

    def __repr__(self) -> str:
        running = "serving" if self._thread.is_alive() else "stopped"
        return f"<BackgroundServer {running} {self.server.options.capture} on {self.base_url}>"

    @property
    def url(self) -> str:
        """``http(s)://127.0.0.1:<port>``: the server's root, what ``EventStream``, ``record``
        and ``fetch_token`` take."""
        return self.server.base_url

    @property
    def base_url(self) -> str:
        """The same as :attr:`url`."""
        return self.server.base_url

    @property
    def port(self) -> int:
        """The port it listens on."""
        return self.server.port

    @property
    def ws_url(self) -> str:
        """The WebSocket API's URL (without the token)."""
        return self.server.ws_url

    @property
    def secret(self) -> str:
        """The server's signing secret (to forge test tokens; never log it)."""
        return self.server.secret

    def token(self, node_id: str = "test", ttl: float | None = None) -> str:
        """A valid token for this server, without an HTTP round trip."""
        return issue_token(self.secret, node_id, ttl or self.server.options.token_ttl)

    def start(self, timeout: float = 30.0) -> BackgroundServer:
        """Start the thread and the server; return once it listens (or raise why not)."""
        self._thread.start()
        try:
            self.call(self.server.start(), timeout)
        except BaseException:
            self._halt()
            raise
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Close every client (1001), stop the server and the thread; safe to call twice."""
        if not self._thread.is_alive():
            return
        try:
            self.call(self.server.close(), timeout)
        finally:
            self._halt()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Run a coroutine on the server's loop and return its result."""
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(timeout)

    def status(self) -> dict[str, Any]:
        """What ``GET /api/v1/status`` would say, read on the server's loop."""
        async def read() -> dict[str, Any]:
            return self.server.hub.status()
        return self.call(read())

    def _halt(self) -> None:
        try:
            self.call(_cancel_the_rest(), 10.0)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10.0)
            if not self._thread.is_alive():
                self._loop.close()

    def __enter__(self) -> BackgroundServer:
        return self if self._thread.is_alive() else self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


async def _cancel_the_rest() -> None:
    """Cancel what still runs on the loop (connection handlers in their closing handshake) so
    that nothing is left pending when the loop closes."""
    current = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks() if t is not current]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
