"""pytest plugin: run notebooks (or any tests) against a replay of a capture.

Shipped with the package as a ``pytest11`` entry point, so it is loaded into every pytest run of
anyone who installs openagi-nb. Without its options it does nothing: no server, no environment
change, and nothing of openagi-nb beyond this module is imported. With them::

    pytest --nbval --openagi-capture my.jsonl.gz my_notebooks/

it starts a replay server over ``my.jsonl.gz`` on a free loopback port when the session starts
(looping, at ``--openagi-speed`` capture seconds per second), and exports

- ``OPENAGI_NB_URL``: the server's root, ``http://127.0.0.1:<port>`` (the token endpoint is
  ``/api/v1/auth/token`` under it, the WebSocket API ``ws://127.0.0.1:<port>/api/v1/ws``),
- ``OPENAGI_NB_TOKEN``: a token the server accepts (valid for a day),
- ``OPENAGI_NB_CAPTURE``: the capture's absolute path,

which every process started during the session inherits: the kernels nbval starts for each
notebook, subprocesses of tests. When the session ends the server stops and the variables get
their previous values back. A notebook reads them in its parameters cell::

    CAPTURE = os.environ.get("OPENAGI_NB_CAPTURE", "data/sample_capture.jsonl.gz")
    LIVE_URL = os.environ.get("OPENAGI_NB_URL")   # None: skip the live sections
    api = LIVE_URL.replace("http", "ws", 1) + "/api/v1/ws"
    token = os.environ.get("OPENAGI_NB_TOKEN") or fetch_token(LIVE_URL)

:class:`ReplayEnvironment` is the same thing as a context manager, for scripts that execute
notebooks (``tools/run_notebooks.py``).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Final

import pytest

if TYPE_CHECKING:  # the package is imported only when the plugin is asked to do something
    from .server import BackgroundServer

__all__ = [
    "DEFAULT_SPEED",
    "ENV_CAPTURE",
    "ENV_TOKEN",
    "ENV_URL",
    "ReplayEnvironment",
    "ReplaySession",
]

ENV_URL: Final = "OPENAGI_NB_URL"
ENV_TOKEN: Final = "OPENAGI_NB_TOKEN"
ENV_CAPTURE: Final = "OPENAGI_NB_CAPTURE"
DEFAULT_SPEED: Final = 10.0
"""Tests want events sooner than real time: ten capture seconds per second by default."""
TOKEN_TTL: Final = 86_400.0
"""A test session may be long; its token must outlive it."""
TOKEN_SUBJECT: Final = "pytest"
_PLUGIN_NAME: Final = "openagi-nb-replay"


class ReplayEnvironment:
    """A replay server on a free loopback port, announced in ``os.environ`` while it runs.

    Use it as a context manager (or :meth:`start` / :meth:`stop`) around whatever starts the
    processes that should see it: kernels, subprocesses.

    Args:
        capture: a ``.jsonl`` or ``.jsonl.gz`` capture.
        speed: capture seconds per second (``math.inf`` for as fast as the slowest client).

    Raises:
        ServerConfigError: no such capture file, or a speed that is not positive.
    """

    def __init__(self, capture: str | os.PathLike[str], speed: float = DEFAULT_SPEED) -> None:
        from .server import ServeOptions

        self.capture = Path(capture).resolve()
        self.options = ServeOptions(str(self.capture), host="127.0.0.1", port=0, speed=speed,
                                    loop=True, token_ttl=TOKEN_TTL)
        self.server: BackgroundServer | None = None
        self._saved: dict[str, str | None] = {}

    def __repr__(self) -> str:
        state = self.server.base_url if self.server is not None else "stopped"
        return f"<ReplayEnvironment {self.capture.name} speed={self.options.speed:g} {state}>"

    @property
    def url(self) -> str:
        """The server's root, ``http://127.0.0.1:<port>`` (once started)."""
        return self._started().base_url

    @property
    def ws_url(self) -> str:
        """The WebSocket API, ``ws://127.0.0.1:<port>/api/v1/ws`` (once started)."""
        return self._started().ws_url

    def _started(self) -> BackgroundServer:
        if self.server is None:
            raise RuntimeError("replay environment not started")
        return self.server

    def start(self) -> ReplayEnvironment:
        """Load the capture, start the server, export the variables; return self.

        Raises:
            CaptureError: the capture cannot be read.
            ServerConfigError: the server cannot listen.
        """
        from .server import BackgroundServer

        if self.server is not None:
            return self
        server = BackgroundServer(self.options).start()
        self.server = server
        self._export({
            ENV_URL: server.base_url,
            ENV_TOKEN: server.token(TOKEN_SUBJECT),
            ENV_CAPTURE: str(self.capture),
        })
        return self

    def stop(self) -> None:
        """Give the variables back their previous values, then stop the server; idempotent."""
        for name, value in self._saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved = {}
        server, self.server = self.server, None
        if server is not None:
            server.stop()

    def _export(self, values: dict[str, str]) -> None:
        for name, value in values.items():
            self._saved.setdefault(name, os.environ.get(name))
            os.environ[name] = value

    def __enter__(self) -> ReplayEnvironment:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class ReplaySession:
    """The plugin object registered when ``--openagi-capture`` is given: one
    :class:`ReplayEnvironment` for the whole test session."""

    def __init__(self, replay: ReplayEnvironment) -> None:
        self.replay = replay

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        from .exceptions import OpenAGIError

        try:
            self.replay.start()
        except OpenAGIError as exc:
            raise pytest.UsageError(f"--openagi-capture: {exc}") from exc

    def pytest_report_header(self, config: pytest.Config) -> str:
        speed = self.replay.options.speed
        shown = "max" if math.isinf(speed) else f"{speed:g}"
        return (f"openagi-nb: replaying {self.replay.capture} at speed {shown} for "
                f"{ENV_URL}, {ENV_TOKEN}, {ENV_CAPTURE}")

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        self.replay.stop()

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self.replay.stop()  # the session may have ended before sessionfinish (an error)


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--openagi-capture PATH`` and ``--openagi-speed SPEED``."""
    group = parser.getgroup("openagi-nb", "replay a capture for notebook tests (openagi-nb)")
    group.addoption(
        "--openagi-capture", metavar="PATH", default=None,
        help=f"start a replay server over this .jsonl[.gz] capture for the session and export "
             f"{ENV_URL}, {ENV_TOKEN} and {ENV_CAPTURE} (kernels and subprocesses inherit them)",
    )
    group.addoption(
        "--openagi-speed", metavar="SPEED", default=None, type=_speed,
        help=f"capture seconds per second of that replay, or 'max' (default {DEFAULT_SPEED:g})",
    )


def _speed(text: str) -> float:
    """argparse ``type=`` for ``--openagi-speed`` (called only when the option is given)."""
    from .server import parse_speed

    return parse_speed(text)


def pytest_configure(config: pytest.Config) -> None:
    """Check the options and, when a capture is given, register the :class:`ReplaySession`."""
    capture = config.getoption("openagi_capture", None)
    speed = config.getoption("openagi_speed", None)
    if capture is None:
        if speed is not None:
            raise pytest.UsageError("--openagi-speed needs --openagi-capture")
        return
    from .exceptions import OpenAGIError

    try:
        replay = ReplayEnvironment(capture, DEFAULT_SPEED if speed is None else speed)
    except OpenAGIError as exc:
        raise pytest.UsageError(f"--openagi-capture: {exc}") from exc
    config.pluginmanager.register(ReplaySession(replay), _PLUGIN_NAME)
