"""The quickstart notebook in real JupyterLab and headless Chromium: the live plots render and
move, the dashboard reads live, stopping the stream reads stopped, and the page talked to nobody
but 127.0.0.1 and logged no console error.

Cells run through JupyterLab's own commands (``notebook:run-all-above`` with the last cell, the
``stream.stop()`` one, selected; then ``notebook:run-cell``), so the widgets go through the real
comm, widget manager and plotly.js.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import NOTEBOOK, Lab, Recorder, local_page, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

KERNEL_IDLE = """() => {
  const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const kernel = panel && panel.sessionContext && panel.sessionContext.session &&
    panel.sessionContext.session.kernel;
  return !!(panel && panel.sessionContext.isReady && kernel && kernel.status === 'idle' &&
    kernel.connectionStatus === 'connected');
}"""
RUN = """async ([command, index]) => {
  const app = window.jupyterapp, notebook = app.shell.currentWidget.content;
  notebook.activeCellIndex = index < 0 ? notebook.widgets.length + index : index;
  await app.commands.execute(command);
}"""
CELLS = """() => window.jupyterapp.shell.currentWidget.content.widgets.map(c => ({
  type: c.model.type,
  count: c.model.type === 'code' ? c.model.executionCount : null,
  errors: c.model.type === 'code' ? c.model.outputs.toJSON()
    .filter(o => o.output_type === 'error').map(o => `${o.ename}: ${o.evalue}`) : [],
}))"""
PLOT = """(i) => {
  const gd = document.querySelectorAll('.js-plotly-plot')[i];
  const axis = gd._fullLayout.xaxis;
  return {points: gd.data.reduce((n, t) => n + (t.x ? t.x.length : 0), 0),
          end: axis.r2l(axis.range[1]), type: axis.type};
}"""


LINES = """(i) => {
  const gd = document.querySelectorAll('.js-plotly-plot')[i], axis = gd._fullLayout.xaxis;
  const xs = gd.data.filter(t => t.name.startsWith('node_')).map(t => Array.from(t.x));
  return {autorange: axis.autorange, range: axis.range.map(axis.r2l),
          lo: Math.min(...xs.map(x => Math.min(...x))),
          hi: Math.max(...xs.map(x => Math.max(...x)))};
}"""


@pytest.fixture
def page(chromium: str, lab: Lab) -> Iterator[tuple[Any, Recorder]]:
    with local_page(chromium) as (pg, recorder):
        yield pg, recorder


def run_cells(page: Any, command: str, index: int, upto: int) -> list[dict[str, Any]]:
    """Run cells with a notebook command; wait until cells ``[:upto]`` ran and the kernel is
    idle; fail on any error output."""
    page.evaluate(RUN, [command, index])

    def done() -> list[dict[str, Any]] | None:
        cells = page.evaluate(CELLS)[:upto]
        ran = all(c["count"] is not None for c in cells if c["type"] == "code")
        return cells if ran and page.evaluate(KERNEL_IDLE) else None

    cells = wait_until(done, 90, f"cells up to {upto} to run")
    errors = [e for c in cells for e in c["errors"]]
    assert not errors, errors
    return cells


def plot_state(page: Any, index: int) -> dict[str, float]:
    return page.evaluate(PLOT, index)


def zoom(page: Any, index: int) -> None:
    """Drag across the middle fifth of a plot, as a user zooms in."""
    area = page.locator(".js-plotly-plot").nth(index).locator(".nsewdrag").first
    area.scroll_into_view_if_needed()
    box = area.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.4, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, y, steps=5)
    page.mouse.move(box["x"] + box["width"] * 0.6, y, steps=5)
    page.mouse.up()


def resampled(page: Any, index: int) -> bool:
    """Whether the kernel answered the zoom: the lines hold the zoomed range (and one sample
    beyond each edge, 10 s of event time apart), not the whole window."""
    state = page.evaluate(LINES, index)
    lo, hi = state["range"]
    margin = 30_000  # ms
    return (state["autorange"] is False and state["lo"] >= lo - margin
            and state["hi"] <= hi + margin)


def test_quickstart_notebook_plots_live_in_jupyterlab(page, lab, tmp_path: Path):
    pg, recorder = page
    pg.goto(f"{lab.url}/lab/tree/{NOTEBOOK}")
    pg.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=60_000)
    wait_until(lambda: pg.evaluate(KERNEL_IDLE), 60, "the kernel to be idle")
    cells = pg.evaluate(CELLS)

    run_cells(pg, "notebook:run-all-above", -1, len(cells) - 1)
    pg.wait_for_selector(".js-plotly-plot .main-svg", timeout=30_000)
    plots = wait_until(lambda: pg.locator(".js-plotly-plot .main-svg").count() >= 2, 30,
                       "the dashboard's and live_metrics' plots")
    assert plots
    status = pg.locator(".openagi-status")
    wait_until(lambda: "live" in status.inner_text(), 20, "the dashboard status to read live")
    assert "events/s" in status.inner_text()

    last = pg.locator(".js-plotly-plot").count() - 1
    before = plot_state(pg, last)
    assert before["type"] == "date"  # updates must not turn the time axis into numbers
    after = wait_until(lambda: (s := plot_state(pg, last))["end"] > before["end"] and s, 20,
                       "live_metrics' x range to grow")
    assert after["points"] > 0
    assert plot_state(pg, 0)["type"] == "date"
    pg.screenshot(path=str(tmp_path / "quickstart.png"), full_page=True)
    pg.locator(".openagi-dashboard").screenshot(path=str(tmp_path / "dashboard.png"))

    whole = pg.evaluate(LINES, last)
    zoom(pg, last)
    try:
        wait_until(lambda: resampled(pg, last), 20, "the zoomed range to be resampled")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: before {whole}, after {pg.evaluate(LINES, last)}") from None
    assert pg.evaluate(LINES, last)["hi"] - pg.evaluate(LINES, last)["lo"] < (
        whole["hi"] - whole["lo"])

    run_cells(pg, "notebook:run-cell", -1, len(cells))
    wait_until(lambda: "stopped" in status.inner_text(), 20, "the dashboard status to read stopped")
    assert recorder.foreign() == []
    assert recorder.errors == []
