"""``dashboard(url)``: the live dashboard as a web page, for people who do not write Python.

The page is exactly ``openagi_nb.widgets.dashboard(stream)`` (status line, a tab per channel,
live figures, controls), run by Voila in a kernel of its own: Voila executes a generated notebook
(:mod:`._notebook`), shows its outputs without code, and keeps the kernel, so the widgets stay
live. Every browser that opens the page gets its own kernel and stream. The page asks nothing of
anyone but its own server (:mod:`._voila`), and the token reaches the kernel through its
environment only.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
import weakref
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Final

from ..exceptions import OpenAGIError
from ..model import CHANNELS
from . import _notebook, _voila
from ._notebook import NODE_ID_VARIABLE, TOKEN_VARIABLE

__all__ = ["DEFAULT_NODE_ID", "DashboardPage", "dashboard"]

DEFAULT_NODE_ID: Final = "openagi-nb-dashboard"
"""Who asks the server for tokens when neither a token nor a node id is given."""
START_TIMEOUT: Final = 60.0
STOP_TIMEOUT: Final = 15.0
_PROBE: Final = "voila/static/labvariables.css"  # a file Voila serves; "/" would start a kernel
_PORT_TRIES: Final = 3
_WILDCARDS: Final = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


class DashboardPage:
    """A dashboard page served by Voila; made (and started) by :func:`dashboard`.

    Use it as a context manager, or call :meth:`stop` when done: it stops Voila and its kernels
    and deletes the page's files. Its repr and attributes never show the token.
    """

    def __init__(self, server: str, *, host: str, port: int, secrets: Mapping[str, str],
                 channels: list[str], window: int | str, view: str) -> None:
        self.server = server
        """The API's WebSocket URL the page's stream connects to, without its token."""
        self.host = host
        self.port = port
        """The port Voila listens on (the one chosen, when 0 was asked)."""
        self.channels = channels
        self.window = window
        self._view = view
        self._secrets = dict(secrets)
        self._process: subprocess.Popen[bytes] | None = None
        self._started: list[subprocess.Popen[bytes]] = []
        self._root = Path(tempfile.mkdtemp(prefix="openagi-nb-page-"))
        # stops Voila and deletes the files at stop(), or when the interpreter exits
        self._closer = weakref.finalize(self, _close, self._root, self._started)

    @property
    def url(self) -> str:
        """The page's address, for a browser."""
        host = _WILDCARDS.get(self.host, self.host)
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}/"

    @property
    def running(self) -> bool:
        """Whether Voila is running."""
        return self._process is not None and self._process.poll() is None

    @property
    def log(self) -> Path:
        """What Voila and its kernels print (deleted by :meth:`stop`)."""
        return self._root / "voila.log"

    def start(self, timeout: float = START_TIMEOUT) -> DashboardPage:
        """Write the page's notebook, start Voila and return once the page answers.

        Raises:
            OpenAGIError: Voila exited or did not answer within ``timeout`` seconds; the message
                ends with the tail of its log. Nothing is left running.
        """
        if self._process is not None or not self._closer.alive:
            raise OpenAGIError("a dashboard page starts once: make another with dashboard()")
        path = _notebook.write(_voila.sandbox(self._root) / _voila.NOTEBOOK, self.server,
                               channels=self.channels, window=self.window, view=self._view)
        chosen = self.port
        for _ in range(_PORT_TRIES if chosen == 0 else 1):
            self.port = chosen or _free_port(self.host)
            if self._launch(path, timeout):
                return self
        raise self._failure(f"port {chosen} on {self.host} is in use" if chosen else
                            f"no free port on {self.host} after {_PORT_TRIES} tries")

    def wait(self, timeout: float | None = None) -> int | None:
        """Block until Voila ends (it ends only when stopped, killed or broken); return its exit
        code, or None if it still runs after ``timeout`` seconds."""
        if self._process is None:
            return None
        with contextlib.suppress(subprocess.TimeoutExpired):
            return self._process.wait(timeout)
        return None

    def log_tail(self, lines: int = 30) -> str:
        """The last ``lines`` lines of Voila's log, for error messages."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.rstrip().splitlines()[-lines:])

    def stop(self) -> None:
        """Stop Voila (which shuts its kernels down) and delete the page's files; safe to call
        more than once."""
        self._process = None
        self._closer()

    def __enter__(self) -> DashboardPage:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    def __repr__(self) -> str:
        process = self._process
        state = ("stopped" if not self._closer.alive else "new" if process is None
                 else "running" if process.poll() is None else f"exited {process.returncode}")
        return f"<DashboardPage {self.url} of {self.server} ({state})>"

    def _launch(self, notebook_path: Path, timeout: float) -> bool:
        """Start Voila on ``self.port``; False when that port was taken meanwhile."""
        env = _voila.environment(self._root, self._secrets,
                                 watched=threading.current_thread() is threading.main_thread())
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(
                _voila.command(notebook_path, self.host, self.port), env=env,
                cwd=notebook_path.parent, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True)  # Ctrl-C is ours to pass on
        self._started.append(self._process)
        if self._ready(timeout):
            return True
        self._process.wait(STOP_TIMEOUT)
        if "is already in use" in self.log_tail(5):
            return False
        raise self._failure(f"voila exited with code {self._process.returncode}")

    def _ready(self, timeout: float) -> bool:
        """Poll the page until it answers (True) or Voila exits (False)."""
        assert self._process is not None
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback
        deadline = time.monotonic() + timeout
        while self._process.poll() is None:
            if time.monotonic() > deadline:
                raise self._failure(f"voila did not answer on {self.url} within {timeout:g} s")
            with contextlib.suppress(urllib.error.URLError, OSError), opener.open(
                    self.url + _PROBE, timeout=2) as response:
                if response.status == 200:
                    return True
            time.sleep(0.2)
        return False

    def _failure(self, what: str) -> OpenAGIError:
        tail = self.log_tail()
        self.stop()
        return OpenAGIError(f"the dashboard page did not start: {what}"
                            + (f"; its log ends:\n{tail}" if tail else ""))


def _free_port(host: str) -> int:
    """A port free on ``host`` now (Voila cannot report one it chose itself).

    Raises:
        OpenAGIError: nothing can listen on ``host`` (unknown, or not this machine's).
    """
    try:
        family, kind, _, _, address = socket.getaddrinfo(host or None, 0,
                                                         type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind) as sock:
            sock.bind(address)
            return int(sock.getsockname()[1])
    except OSError as exc:
        raise OpenAGIError(f"cannot listen on {host!r}: {exc.strerror or exc}") from exc


def _terminate(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, which Voila answers by shutting its kernels down; SIGKILL if it hangs."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def _close(root: Path, processes: list[subprocess.Popen[bytes]]) -> None:
    """Stop what a page left running and delete its files (also at interpreter exit)."""
    for process in processes:
        _terminate(process)
    _voila.remove(root)


def _channels(channels: Iterable[str]) -> list[str]:
    known = [str(c) for c in CHANNELS]
    chosen = [str(c) for c in channels]
    for channel in chosen:
        if channel not in known:
            raise ValueError(f"unknown channel {channel!r} (one of {', '.join(known)})")
    return chosen or known


def _view(window: int | str) -> str:
    """The dashboard's first window: the stream's when the dashboard offers it, else all a
    time window keeps, or the dashboard's default for a window of rows."""
    from ..widgets.board import WINDOWS

    if isinstance(window, int):
        return "5min"
    return window if window in WINDOWS else "all"


def dashboard(
    url: str,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    token: str | None = None,
    node_id: str | None = None,
    channels: Iterable[str] = CHANNELS,
    window: int | str = "15min",
    timeout: float = START_TIMEOUT,
) -> DashboardPage:
    """Serve the live dashboard of the server at ``url`` as a web page; return once it answers.

    Use it to let people watch a network in a browser without a notebook: open ``page.url``.
    The page shows no code, loads nothing from the internet, and is served on ``host`` only
    (loopback by default: give ``"0.0.0.0"`` to share it, behind your own access control).
    Stop it with ``page.stop()`` or a ``with`` block.

    Args:
        url: the server as every stream takes it (root, WebSocket root or ``.../api/v1/ws``),
            with or without ``?token=``.
        port: 0 picks a free one (``page.port`` says which).
        token: the token, if not in ``url``; it reaches the page's kernel only through its
            environment.
        node_id: fetch tokens for this node from the server (again whenever it refuses one);
            the default, without any token, is ``"openagi-nb-dashboard"``.
        channels: the channels to watch (default: all four).
        window: what the stream keeps of each channel: a time span (``"15min"``) or rows.
        timeout: seconds Voila may take to start.

    Raises:
        ValueError: a bad ``url``, channel or window (before anything starts).
        ImportError: Voila or nbformat is missing (``pip install 'openagi-nb[pages]'``).
        OpenAGIError: Voila did not start; the message ends with its log.
    """
    from ..stream._transport import split_token
    from ..stream._urls import websocket_url
    from ..stream._window import parse_window

    server, in_url = split_token(websocket_url(url))
    parse_window(window)
    chosen = _channels(channels)
    _voila.require()
    token = in_url or token
    secrets = {TOKEN_VARIABLE: token} if token else {}
    if node_id or not token:
        secrets[NODE_ID_VARIABLE] = node_id or DEFAULT_NODE_ID
    page = DashboardPage(server, host=host, port=port, secrets=secrets, channels=chosen,
                         window=window, view=_view(window))
    try:
        return page.start(timeout)
    except BaseException:  # Ctrl-C while Voila starts, too
        page.stop()
        raise
