"""The reports in headless Chromium, opened from the file as a reader would open an attachment:
every figure is drawn (plotly.js from the page itself), the page asks for nothing but its own
file, and logs no console error.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from openagi_nb.pages import REPORTS, report

from .conftest import REPO

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(240)]

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
FIGURES = """() => Array.from(document.querySelectorAll('.plotly-graph-div')).map(gd => ({
  id: gd.id,
  svg: gd.querySelectorAll('.main-svg').length,
  traces: (gd._fullData || []).length,
  drawn: gd.querySelectorAll('g.trace').length,
  marks: gd.querySelectorAll('g.trace path, g.trace rect, g.trace .point').length,
  width: gd.getBoundingClientRect().width,
  height: gd.getBoundingClientRect().height,
}))"""


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The three reports of the bundled capture."""
    out = tmp_path_factory.mktemp("reports")
    capture = REPO / "data" / "sample_capture.jsonl.gz"
    return {name: report(capture, name, out / f"{name}.html") for name in REPORTS}


def local(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "file" or (parts.scheme in {"http", "https", "ws", "wss"}
                                      and parts.hostname in LOOPBACK)


@pytest.fixture
def page(chromium: str) -> Iterator[tuple[Any, list[str], list[str]]]:
    """A page, every URL it asks for, and its console errors; anything not local is refused
    (and still recorded)."""
    from playwright.sync_api import sync_playwright  # the chromium fixture checked it is there

    asked: list[str] = []
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=ARGS)
        context = browser.new_context(viewport={"width": 1300, "height": 1000})
        context.route("**/*", lambda route: route.continue_() if local(route.request.url)
                      else route.abort())
        pg = context.new_page()
        pg.on("request", lambda r: asked.append(r.url))
        pg.on("websocket", lambda ws: asked.append(ws.url))
        pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        pg.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
        try:
            yield pg, asked, errors
        finally:
            browser.close()


def drawn(pg: Any, count: int, timeout: float = 20.0) -> list[dict[str, Any]]:
    """The figures' state once ``count`` of them have their SVG, or whatever there is then."""
    deadline = time.monotonic() + timeout
    while True:
        state = pg.evaluate(FIGURES)
        if (len(state) == count and all(f["svg"] for f in state)) or time.monotonic() > deadline:
            return state
        time.sleep(0.2)


@pytest.mark.parametrize("name", sorted(REPORTS))
def test_a_report_draws_its_figures_offline_from_its_own_file(reports, page, name, tmp_path):
    pg, asked, errors = page
    html = reports[name].read_text(encoding="utf-8")
    count = html.count('class="plotly-graph-div"')
    assert count >= 3
    pg.goto(reports[name].as_uri(), wait_until="load")
    figures = drawn(pg, count)
    pg.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)
    assert len(figures) == count
    for figure in figures:
        assert figure["svg"] >= 1, figure
        assert figure["traces"] >= 1, figure
        assert figure["drawn"] >= 1, figure
        assert figure["marks"] >= 1, figure
        assert figure["width"] > 300, figure
        assert figure["height"] > 200, figure
    assert pg.evaluate("() => typeof window.Plotly.newPlot") == "function"
    assert [url for url in asked if not local(url)] == []
    assert asked == [reports[name].as_uri()]
    assert errors == []
