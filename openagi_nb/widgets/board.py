"""``dashboard(stream)``: everything a stream shows, in one ipywidgets layout.

::

    ● live · 12,345 events (monitoring 10,000, …) · 250 events/s · lag 0.2 s · reconnects 0 · …
    [window ▾] [metric ▾] [nodes ☰] [pause]
    | monitoring | security | consensus | network |
    | <the channel's live figure>                |
    | <its newest rows>                          |

One FigureWidget serves every tab (each FigureWidget ships plotly.js, about 5 MB, once): when a
tab is selected the figure moves into it and switches to that channel's builder and view. The
status line updates on every tick; the figure and the rows only when their frame changed and
the dashboard is not paused. ``stream.stop()`` ends every refresh after a last one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import ipywidgets as w

from ..model import Channel
from .consensus_plot import consensus_plot_live
from .live import Builder, LiveFigure, StreamLike, bind
from .metrics_live import metrics_plot_live
from .network_plot import network_plot_live
from .plotdata import Plot, View
from .refresh import Refresher, Scheduler
from .security_plot import security_plot_live
from .status import ROWS, newest_rows, status_html
from .timeaxis import span

__all__ = ["Dashboard", "dashboard"]

ORDER: Final = (Channel.MONITORING, Channel.SECURITY, Channel.CONSENSUS, Channel.NETWORK)
BUILDERS: Final[dict[Channel, Builder]] = {
    Channel.MONITORING: metrics_plot_live, Channel.SECURITY: security_plot_live,
    Channel.CONSENSUS: consensus_plot_live, Channel.NETWORK: network_plot_live,
}
WINDOWS: Final = ("1min", "5min", "15min", "1h", "all")
ALL_NODES: Final = "(all nodes)"


class Dashboard(w.VBox):  # type: ignore[misc]
    """The dashboard layout and its refresh; see :func:`dashboard`."""

    def __init__(self, stream: StreamLike, *, window: str = "5min", refresh: float = 0.5,
                 scheduler: Scheduler | None = None) -> None:
        self.stream = stream
        subscribed = {str(c) for c in getattr(stream, "channels", ORDER)}
        self.channels = [c for c in ORDER if c.value in subscribed] or list(ORDER)
        frames = [bind(stream, c) for c in self.channels]
        self.frames = [f for f, _ in frames]
        self.views = [View(window=_span(window)) for _ in self.channels]
        self.status = w.HTML(status_html(stream.stats))
        self.status.add_class("openagi-status")
        self.controls = _Controls(window, self._on_control)
        self.rows = [w.HTML() for _ in self.channels]
        self.tabs = w.Tab(children=[w.VBox([r]) for r in self.rows],
                          titles=[c.value for c in self.channels])
        self.figure = LiveFigure()
        self.figure.attach(self.frames[0], BUILDERS[self.channels[0]], self.views[0],
                           refresh=refresh, stopped=frames[0][1], scheduler=scheduler)
        self.figure.on_render(self._on_plot)
        self._on_plot(self.figure.last_plot)  # drawn once already, by attach
        self.tabs.children[0].children = (self.figure, self.rows[0])
        self.tabs.observe(self._on_tab, "selected_index")
        self.refresher = Refresher(refresh, self._version, self._show_rows, scheduler=scheduler,
                                   stopped=frames[0][1], every_tick=self._show_status)
        super().__init__([self.status, self.controls.box, self.tabs])
        self.add_class("openagi-dashboard")
        self.refresher.start()

    @property
    def selected(self) -> int:
        """The index of the channel shown."""
        return int(self.tabs.selected_index or 0)

    def pause(self) -> None:
        """Freeze the figure and the rows (the status line goes on)."""
        self.controls.pause.value = True

    def resume(self) -> None:
        """Follow the stream again."""
        self.controls.pause.value = False

    def close(self) -> None:
        """Stop every refresh and close the widgets."""
        self.refresher.close()
        self.figure.close()
        super().close()

    def _version(self) -> tuple[int, int]:
        return self.selected, self.frames[self.selected].version

    def _show_rows(self) -> None:
        self.rows[self.selected].value = newest_rows(self.frames[self.selected].tail(ROWS))

    def _show_status(self) -> None:
        self.status.value = status_html(self.stream.stats, paused=self.refresher.paused)

    def _on_tab(self, change: dict[str, Any]) -> None:
        old, new = change["old"] or 0, change["new"] or 0
        self.views[old] = self.figure.view.but(x_range=None)
        self.tabs.children[old].children = (self.rows[old],)
        self.tabs.children[new].children = (self.figure, self.rows[new])
        self.figure.show_frame(self.frames[new], BUILDERS[self.channels[new]], self.views[new])
        self.controls.enable(self.channels[new] is Channel.MONITORING)
        self.refresher.invalidate()

    def _on_control(self, name: str, value: Any) -> None:
        if name == "pause":
            for target in (self.figure, self.refresher):
                target.pause() if value else target.resume()
            self._show_status()
        elif name == "window":
            self.views = [v.but(window=_span(value)) for v in self.views]
            self.figure.set_view(window=_span(value))
        elif name == "metric":
            self.figure.set_view(metric=value)
        elif name == "nodes":
            self.figure.set_view(nodes=value)

    def _on_plot(self, plot: Plot) -> None:
        if "metrics" in plot.meta:
            self.controls.offer(plot.meta["metrics"], plot.meta.get("metric"),
                                plot.meta.get("groups", []))


class _Controls:
    """Window, metric, nodes and pause; reports user changes as ``on_change(name, value)``."""

    def __init__(self, window: str, on_change: Callable[[str, Any], None]) -> None:
        self._on_change, self._filling = on_change, False
        self.window = w.Dropdown(options=WINDOWS, value=window if window in WINDOWS else "all",
                                 description="window", layout=w.Layout(width="170px"))
        self.metric = w.Dropdown(options=[], description="metric",
                                 layout=w.Layout(width="260px"))
        self.nodes = w.SelectMultiple(options=[ALL_NODES], value=[ALL_NODES], rows=3,
                                      description="nodes", layout=w.Layout(width="260px"))
        self.pause = w.ToggleButton(value=False, description="pause", icon="pause",
                                    tooltip="freeze the view; data keeps arriving")
        self.box = w.HBox([self.window, self.metric, self.nodes, self.pause])
        for name in ("window", "metric", "nodes", "pause"):
            getattr(self, name).observe(self._changed(name), "value")

    def _changed(self, name: str) -> Callable[[dict[str, Any]], None]:
        def handler(change: dict[str, Any]) -> None:
            if self._filling:
                return
            value = change["new"]
            if name == "nodes":
                value = None if not value or ALL_NODES in value else tuple(value)
            self._on_change(name, value)
        return handler

    def offer(self, metrics: list[str], metric: str | None, nodes: list[str]) -> None:
        """Fill the choices from what the data holds, keeping the user's selection."""
        self._filling = True
        try:
            if list(self.metric.options) != metrics:
                self.metric.options = metrics
            if metric in metrics and self.metric.value != metric:
                self.metric.value = metric
            choices = [ALL_NODES, *nodes]
            if list(self.nodes.options) != choices:
                kept = [v for v in self.nodes.value if v in choices] or [ALL_NODES]
                self.nodes.options = choices
                self.nodes.value = kept
        finally:
            self._filling = False

    def enable(self, metrics: bool) -> None:
        """Metric and nodes apply to the monitoring tab only."""
        self.metric.disabled = self.nodes.disabled = not metrics


def _span(window: str) -> int | None:
    return None if window == "all" else span(window)


def dashboard(stream: StreamLike, *, window: str = "5min", refresh: float = 0.5,
              scheduler: Scheduler | None = None) -> Dashboard:
    """Watch a stream: status line, a tab per subscribed channel with its live figure and
    newest rows, and controls for window, metric, nodes and pause.

    Args:
        stream: a started (or about to start) ``EventStream``.
        window: the initial time window (one of ``1min``, ``5min``, ``15min``, ``1h``, ``all``).
        refresh: seconds between redraws at most.
        scheduler: what runs the ticks (default: the kernel's running event loop).
    """
    return Dashboard(stream, window=window, refresh=refresh, scheduler=scheduler)
