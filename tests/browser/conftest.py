"""Fixtures of the browser test: Debian's Chromium, the replay server, JupyterLab.

- ``chromium``: the browser's path; skips when it is missing (``make test`` installs it as root),
  fails instead when ``OPENAGI_NB_REQUIRE_BROWSER=1`` (CI).
- ``replay_url``: a replay server of the bundled capture on 127.0.0.1 (free port, 20x, looping).
- ``lab``: JupyterLab on 127.0.0.1 (free port, token off, fresh config/data/runtime/settings/
  workspace dirs, no browser opened, no news), its root a temporary directory holding a copy of
  ``notebooks/00_quickstart.ipynb``, its kernels told ``OPENAGI_NB_URL``.
- ``local_page(chromium)``: a Chromium page that may reach 127.0.0.1 only (anything else is
  refused) and a :class:`Recorder` of every request, WebSocket and console error it made.
- ``wait_until(check, timeout, what)``: poll until ``check()`` is true, or fail naming ``what``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from openagi_nb.server import BackgroundServer, ServeOptions

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
NOTEBOOK = "notebooks/00_quickstart.ipynb"
LAB_START_TIMEOUT = 60.0
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
LOCAL = {"127.0.0.1"}


def unavailable(why: str) -> None:
    """Skip, or fail when ``OPENAGI_NB_REQUIRE_BROWSER=1`` (CI: the test must run)."""
    if os.environ.get("OPENAGI_NB_REQUIRE_BROWSER") == "1":
        pytest.fail(f"OPENAGI_NB_REQUIRE_BROWSER=1 but {why}")
    pytest.skip(why)


@pytest.fixture(scope="session")
def chromium() -> str:
    """The path of Debian's Chromium, or a skip (a failure in CI) saying how to get it."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        unavailable("playwright is not installed: pip install -e '.[test]'")
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        unavailable(f"{CHROMIUM} is missing: run `make test` as root (it runs apt-get install "
                    "-y chromium) or install Debian's chromium package")
    return str(CHROMIUM)


def wait_until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``check`` until it returns something true; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Recorder:
    """Every request, WebSocket and console error of a page."""

    def __init__(self) -> None:
        self.urls: list[str] = []
        self.errors: list[str] = []

    def attach(self, page: Any) -> None:
        page.on("request", lambda r: self.urls.append(r.url))
        page.on("websocket", lambda ws: self.urls.append(ws.url))
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))

    def foreign(self) -> list[str]:
        return [u for u in self.urls if urlsplit(u).hostname not in LOCAL]


@contextmanager
def local_page(chromium: str, height: int = 3600) -> Iterator[tuple[Any, Recorder]]:
    """A page of headless Chromium that reaches 127.0.0.1 only, and its recorder."""
    from playwright.sync_api import sync_playwright  # the chromium fixture checked it is there

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=ARGS)
        context = browser.new_context(viewport={"width": 1300, "height": height})
        # anything not local is refused, and the recorder still sees it was asked for
        context.route("**/*", lambda route: route.continue_()
                      if urlsplit(route.request.url).hostname in LOCAL else route.abort())
        recorder = Recorder()
        pg = context.new_page()
        recorder.attach(pg)
        try:
            yield pg, recorder
        finally:
            browser.close()


def free_port() -> int:
    """A port free on 127.0.0.1 now (for a server that cannot report the one it bound)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def replay_url() -> Iterator[str]:
    """Base URL of a replay server of the bundled capture, fast enough to see plots move."""
    options = ServeOptions(str(REPO / "data" / "sample_capture.jsonl.gz"), host="127.0.0.1",
                           port=0, speed=20, loop=True)
    with BackgroundServer(options) as server:
        yield server.base_url


@dataclass
class Lab:
    """A running JupyterLab: its URL, root directory and log file."""

    url: str
    root: Path
    log: Path

    def api(self, path: str) -> object:
        with urllib.request.urlopen(f"{self.url}{path}", timeout=5) as response:
            return json.loads(response.read())


def _lab_env(base: Path, replay_url: str) -> dict[str, str]:
    dirs = {name: base / name.lower() for name in (
        "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR",
        "JUPYTERLAB_SETTINGS_DIR", "JUPYTERLAB_WORKSPACES_DIR")}
    for path in dirs.values():
        path.mkdir(parents=True)
    # the news/announcements plugin would ask to fetch from the internet: off
    labconfig = dirs["JUPYTER_CONFIG_DIR"] / "labconfig"
    labconfig.mkdir()
    (labconfig / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))
    # every cell rendered, even off screen, so the test sees every output
    tracker = dirs["JUPYTERLAB_SETTINGS_DIR"] / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True)
    (tracker / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "OPENAGI_NB"))}
    env.update({k: str(v) for k, v in dirs.items()})
    env["OPENAGI_NB_URL"] = replay_url
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + LAB_START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"jupyter lab exited ({process.returncode}):\n"
                                 f"{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/api/status", timeout=2):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.3)
    raise AssertionError(f"jupyter lab not ready in {LAB_START_TIMEOUT}s:\n"
                         f"{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, replay_url: str) -> Iterator[Lab]:
    """JupyterLab serving a copy of the quickstart notebook; stopped at teardown."""
    base = tmp_path_factory.mktemp("lab")
    root = base / "root"
    (root / "notebooks").mkdir(parents=True)
    shutil.copy(REPO / NOTEBOOK, root / NOTEBOOK)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = base / "jupyter.log"
    command = [
        sys.executable, "-m", "jupyterlab", "--ServerApp.open_browser=False",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        "--IdentityProvider.token=", "--ServerApp.password=", f"--ServerApp.root_dir={root}",
        "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",  # the pypi one asks pypi.org from the server
        *(["--allow-root"] if os.geteuid() == 0 else []),
    ]
    with log.open("wb") as sink:
        process = subprocess.Popen(command, cwd=root, env=_lab_env(base, replay_url),
                                   stdout=sink, stderr=subprocess.STDOUT)
    try:
        _wait_ready(url, process, log)
        yield Lab(url, root, log)
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
