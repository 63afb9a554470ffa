"""``openagi-nb dashboard`` as an operator runs it: the real command in a subprocess, serving
the dashboard page of a replay server through Voila, opened in headless Chromium.

The page talks to nobody but 127.0.0.1, shows no code and no token, its status line and tabs
render, its figure follows the stream, the pause control freezes it and resuming restarts it;
Ctrl-C then stops the command cleanly: exit 0, Voila and its kernel gone, the port released.
"""

from __future__ import annotations

import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from openagi_nb import fetch_token

from .conftest import REPO, local_page, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

START_TIMEOUT = 60.0
# the newest event the figure shows (its x axis' end), and the newest row of the table
FIGURE = """() => {
  const gd = document.querySelector('.openagi-dashboard .js-plotly-plot');
  if (!gd || !gd._fullLayout || !gd._fullLayout.xaxis) return null;
  const axis = gd._fullLayout.xaxis;
  return {end: axis.r2l(axis.range[1]), type: axis.type,
          points: gd.data.reduce((n, t) => n + (t.x ? t.x.length : 0), 0),
          row: (document.querySelector('.openagi-rows tbody tr') || {}).innerText || null};
}"""
ICON_FONT = """() => {
  const icon = document.querySelector('.openagi-dashboard button i.fa');
  const family = icon ? getComputedStyle(icon, '::before').fontFamily : '';
  return family.includes('Font Awesome') &&
    Array.from(document.fonts).some(f => f.family.includes('Font Awesome') &&
                                         f.status === 'loaded');
}"""


@pytest.fixture
def token(replay_url: str) -> str:
    return fetch_token(replay_url, node_id="page-test")


@pytest.fixture
def command(replay_url: str, token: str) -> Iterator[subprocess.Popen[str]]:
    """``openagi-nb dashboard`` on the replay server, the token in its environment only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "OPENAGI_NB"))}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    env["OPENAGI_NB_TOKEN"] = token
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    process = subprocess.Popen(
        [sys.executable, "-m", "openagi_nb", "dashboard", replay_url, "--window", "15min"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield process
    finally:
        if process.poll() is None:  # the test failed: stop it as a user would, then for sure
            process.send_signal(signal.SIGINT)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def read_line(stream: Any, timeout: float) -> str:
    """A line of a subprocess' output, or a failure after ``timeout`` seconds."""
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        if not selector.select(timeout):
            raise AssertionError(f"no output in {timeout}s")
    return str(stream.readline())


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (Voila and its kernels), from /proc."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            found |= {child, *descendants(child)}
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def port_released(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is fine
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def frozen(page: Any, seconds: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """The figure's state now and ``seconds`` later."""
    before = page.evaluate(FIGURE)
    time.sleep(seconds)
    return before, page.evaluate(FIGURE)


def events(page: Any) -> int:
    text = page.locator(".openagi-status").inner_text()
    return int(re.search(r"([\d,]+) events\b", text).group(1).replace(",", ""))


def test_dashboard_page_is_live_local_and_stops_cleanly(chromium, command, token):
    line = read_line(command.stdout, START_TIMEOUT)
    match = re.search(r"on (http://127\.0\.0\.1:(\d+)/) ", line)
    assert match, (line, command.stderr.read() if command.poll() is not None else "")
    url, port = match.group(1), int(match.group(2))
    below = descendants(command.pid)
    assert below, "voila is not running below the command"

    with local_page(chromium, height=1400) as (pg, recorder):
        pg.goto(url, timeout=START_TIMEOUT * 1000)
        status = pg.locator(".openagi-status")
        status.wait_for(timeout=START_TIMEOUT * 1000)
        wait_until(lambda: "live" in status.inner_text(), 30, "the status line to read live")
        tabs = pg.locator(".openagi-dashboard .lm-TabBar-tab").all_inner_texts()
        assert [t.strip() for t in tabs] == ["monitoring_events", "security_events",
                                             "consensus_events", "network_events"]
        # no code: no input area, no editor, no source text
        assert pg.locator(".jp-InputArea, .jp-Editor, .cm-editor, .highlight").count() == 0
        html = pg.content()
        assert "EventStream" not in html
        assert "fetch_token" not in html
        assert token not in html

        # the figure follows the stream
        first = wait_until(lambda: (s := pg.evaluate(FIGURE)) and s["points"] > 0 and s, 30,
                           "the figure to draw")
        assert first["type"] == "date"  # updates must not turn the time axis into numbers
        wait_until(lambda: (s := pg.evaluate(FIGURE))["end"] > first["end"] and s["points"] > 0,
                   20, "the figure to move")
        wait_until(lambda: pg.evaluate(ICON_FONT), 10, "the pause icon's font to load")

        # paused: the figure and the rows stay put while events keep arriving
        pause = pg.locator(".openagi-dashboard button", has_text="pause")
        pause.click()
        wait_until(lambda: "paused" in status.inner_text(), 10, "the status line to say paused")
        time.sleep(1.0)  # a redraw already under way may land
        received = events(pg)
        before, after = frozen(pg, 2.5)
        assert before == after
        assert events(pg) > received

        # resumed: it moves again
        pause.click()
        wait_until(lambda: "paused" not in status.inner_text(), 10, "paused to go away")
        wait_until(lambda: pg.evaluate(FIGURE)["end"] > after["end"], 20, "the figure to move")

        assert recorder.foreign() == []
        assert recorder.errors == []
        assert any(u.startswith(url) for u in recorder.urls)

        # Ctrl-C with the page still open: Voila stops, and its kernel with it
        below = descendants(command.pid)
        command.send_signal(signal.SIGINT)
        assert command.wait(30) == 0
    out, err = command.communicate(timeout=5)
    assert out.strip() == "stopped"
    assert "Traceback" not in err
    assert token not in line + out + err
    assert not [pid for pid in below if alive(pid)]
    assert port_released(port)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
