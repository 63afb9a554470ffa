"""Live figures: plotly FigureWidgets that redraw themselves from a stream's frames.

::

    fig = live_metrics(stream)          # or a LiveFrame; the cell shows the widget
    fig.pause(); fig.resume()           # freeze the picture; catch up
    fig.set_view(metric="cpu_usage", window=pd.Timedelta("15min").value)
    fig.close()                         # stops its refresh; stream.stop() stops every view

On each :class:`~.refresh.Refresher` tick (the kernel's event loop, at most every ``refresh``
seconds, only when the frame's ``version`` changed) a figure reads from its
:class:`~openagi_nb.stream.LiveFrame` the rows its view shows, not the whole window
(:meth:`~openagi_nb.stream.LiveFrame.arrays`; the ``*_plot_live`` builders), builds a
:class:`~.plotdata.Plot` (each trace downsampled to at most ``max_points``) and pushes it with
:class:`~.sync.Synced`. A zoom in the browser comes back as a relayout; the next tick then
resamples the zoomed range at full detail. A double click (autorange) returns to following the
newest data.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any, Protocol

import pandas as pd
import plotly.graph_objects as go

from ..model import Channel
from ..stream import LiveFrame
from .consensus_plot import consensus_plot_live
from .downsample import MAX_POINTS
from .metrics_live import metrics_plot_live
from .network_plot import network_plot_live
from .plotdata import Plot, View
from .refresh import Refresher, Scheduler
from .security_plot import security_plot_live
from .sync import Synced
from .timeaxis import parse_when, span

__all__ = [
    "Builder", "LiveFigure", "StreamLike", "bind", "live_consensus", "live_metrics",
    "live_network", "live_security",
]

Builder = Callable[[LiveFrame, View], Plot]
"""Turns a frame and a view into a plot, reading what the view shows (``metrics_plot_live``
with its options bound)."""
Window = str | timedelta | pd.Timedelta | None
ENDED = frozenset({"stopped", "failed"})
"""Stream states after which no row arrives any more: views render once more and stop."""


class StreamLike(Protocol):
    """What a live view needs of an ``EventStream``."""

    def live_frame(self, channel: str) -> LiveFrame: ...

    @property
    def stats(self) -> Any: ...


def bind(source: StreamLike | LiveFrame, channel: Channel) -> tuple[LiveFrame, Callable[[], bool]]:
    """The frame of ``channel`` in ``source`` and a test of whether ``source`` has ended.

    Raises:
        ValueError: ``source`` is a LiveFrame of another channel.
        TypeError: ``source`` is neither a stream nor a LiveFrame.
    """
    if isinstance(source, LiveFrame):
        if source.channel != channel:
            raise ValueError(f"expected a {channel.value} frame, got {source.channel.value}")
        return source, lambda: False
    if not callable(getattr(source, "live_frame", None)):
        raise TypeError(f"expected an EventStream or a LiveFrame, got {type(source).__name__}")
    return source.live_frame(channel), lambda: str(source.stats.state) in ENDED


class LiveFigure(go.FigureWidget):  # type: ignore[misc]
    """The widget the ``live_*`` functions return: a FigureWidget that keeps itself current.

    Use :meth:`pause` / :meth:`resume`, :meth:`set_view` and :meth:`close`; ``refresher``
    exposes the tick state (``renders``, ``last_error``).
    """

    def attach(self, frame: LiveFrame, build: Builder, view: View, *, refresh: float,
               stopped: Callable[[], bool], scheduler: Scheduler | None) -> LiveFigure:
        """Start showing ``build(frame, view)``: draw now, then on every tick
        (``live_*`` and the dashboard call this once, right after making the widget)."""
        self._frame, self._build, self._view = frame, build, view
        self._synced = Synced(self)
        self._render_callbacks: list[Callable[[Plot], None]] = []
        self._refresher = Refresher(refresh, lambda: self._frame.version, self._render,
                                    scheduler=scheduler, stopped=stopped)
        self.observe(self._on_comm, "comm")
        self._watch_comm(self.comm)
        self._refresher.start()
        return self

    @property
    def refresher(self) -> Refresher:
        """The tick behind this figure."""
        return self._refresher

    @property
    def last_plot(self) -> Plot:
        """The plot last pushed to the browser (its traces as sent: downsampled)."""
        return self._last_plot

    @property
    def view(self) -> View:
        """What the figure shows (window, zoom, nodes, metric, point budget)."""
        return self._view

    @property
    def paused(self) -> bool:
        """Whether the picture is frozen."""
        return self._refresher.paused

    def pause(self) -> None:
        """Freeze the picture; rows keep arriving in the frame."""
        self._refresher.pause()

    def resume(self) -> None:
        """Follow the data again from the next tick, with everything that arrived meanwhile."""
        self._refresher.resume()

    def set_view(self, **changes: Any) -> None:
        """Change what is shown (``metric=``, ``nodes=``, ``window=`` in ns...) from the next
        tick on."""
        self._view = self._view.but(**changes)
        self._refresher.invalidate()

    def show_frame(self, frame: LiveFrame, build: Builder, view: View) -> None:
        """Show another frame with another builder (the dashboard's tabs share one figure)."""
        self._frame, self._build, self._view = frame, build, view
        self._synced.forget()
        self._refresher.invalidate()

    def on_render(self, callback: Callable[[Plot], None]) -> None:
        """Call ``callback(plot)`` after each redraw (the dashboard fills its controls so)."""
        self._render_callbacks.append(callback)

    def close(self) -> None:
        """Stop refreshing and close the widget."""
        refresher = getattr(self, "_refresher", None)  # None while still being built
        if refresher is not None:
            refresher.close()
        super().close()

    def _render(self) -> None:
        plot = self._build(self._frame, self._view)
        if self._view.metric is None and plot.meta.get("metric"):
            self._view = self._view.but(metric=plot.meta["metric"])
        self._last_plot = plot
        if self._synced.show(plot):
            self.layout.on_change(self._on_range, "xaxis.range", "xaxis.autorange")
        for callback in self._render_callbacks:
            callback(plot)

    def _on_range(self, _layout: Any, x_range: Any, autorange: Any) -> None:
        """A zoom, pan or reset in the browser: resample when the shown range changed."""
        zoom = None
        if x_range is not None and autorange is not True:
            zoom = (parse_when(x_range[0]), parse_when(x_range[1]))
        if not _same_range(zoom, self._view.x_range):
            self._view = self._view.but(x_range=zoom)
            self._refresher.invalidate()

    def _on_comm(self, change: dict[str, Any]) -> None:
        if change["new"] is None:
            self._refresher.close()
        else:
            self._watch_comm(change["new"])

    def _watch_comm(self, comm: Any) -> None:
        """Stop when the browser closes the widget's comm, too (ipywidgets does not tell)."""
        if comm is not None and callable(getattr(comm, "on_close", None)):
            comm.on_close(lambda _msg: self._refresher.close())


def _same_range(a: tuple[int, int] | None, b: tuple[int, int] | None) -> bool:
    """Equal to the millisecond: the browser reports back the range we sent, rounded."""
    if a is None or b is None:
        return a is b
    return abs(a[0] - b[0]) < 1_000_000 and abs(a[1] - b[1]) < 1_000_000


def _live(source: StreamLike | LiveFrame, channel: Channel, build: Builder, view: View,
          refresh: float, scheduler: Scheduler | None) -> LiveFigure:
    frame, stopped = bind(source, channel)
    fig = LiveFigure()
    return fig.attach(frame, build, view, refresh=refresh, stopped=stopped, scheduler=scheduler)


def live_metrics(
    source: StreamLike | LiveFrame, metric: str | None = None, *, by: str = "node_id",
    window: Window = "5min", nodes: Iterable[str] | None = None, for_: str = "0s",
    refresh: float = 0.5, max_points: int | None = MAX_POINTS,
    scheduler: Scheduler | None = None,
) -> LiveFigure:
    """A metric climbing toward its threshold, live: a line per ``by`` value, the threshold
    dashed, samples over it marked, breach episodes (``analysis.breaches`` with ``for_``)
    shaded, over the last ``window`` of events.

    Args:
        source: an ``EventStream`` or the ``monitoring_events`` LiveFrame.
        metric: the metric to show (None: the one nearest its threshold when first drawn).
        nodes: only these nodes.
        refresh: seconds between redraws at most.
        max_points: points per trace at most (None: send everything, see bench_plot).
        scheduler: what runs the ticks (default: the kernel's running event loop).
    """
    view = View(window=span(window), max_points=max_points, metric=metric,
                nodes=None if nodes is None else tuple(nodes))
    build = functools.partial(metrics_plot_live, by=by, for_=for_)
    return _live(source, Channel.MONITORING, build, view, refresh, scheduler)


def live_security(
    source: StreamLike | LiveFrame, *, window: Window = "15min", min_severity: str = "high",
    refresh: float = 1.0, scheduler: Scheduler | None = None,
) -> LiveFigure:
    """Attacks per interval by type and by severity, with the unblocked intrusions at or above
    ``min_severity`` marked, over the last ``window``."""
    build = functools.partial(security_plot_live, min_severity=min_severity)
    return _live(source, Channel.SECURITY, build, View(window=span(window)), refresh, scheduler)


def live_consensus(
    source: StreamLike | LiveFrame, *, window: Window = "15min", stuck_after: str = "60s",
    max_proposals: int = 40, refresh: float = 1.0, scheduler: Scheduler | None = None,
) -> LiveFigure:
    """The newest proposals moving through the PBFT phases, stuck ones crossed, and the
    latency of executed ones."""
    build = functools.partial(consensus_plot_live, stuck_after=stuck_after,
                              max_proposals=max_proposals)
    return _live(source, Channel.CONSENSUS, build, View(window=span(window)), refresh, scheduler)


def live_network(
    source: StreamLike | LiveFrame, *, window: Window = None, initial: Iterable[str] = (),
    refresh: float = 1.0, scheduler: Scheduler | None = None,
) -> LiveFigure:
    """Active nodes over time with joins, leaves and partitions."""
    build = functools.partial(network_plot_live, initial=tuple(initial))
    return _live(source, Channel.NETWORK, build, View(window=span(window)), refresh, scheduler)
