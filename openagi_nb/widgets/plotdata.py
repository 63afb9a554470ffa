"""What a figure shows, as plain data: :class:`Plot` (traces, layout, shapes) and :class:`View`
(which part of the data to show).

The figure builders (``metrics_plot``, ``security_plot``...) turn a channel's frame and a
:class:`View` into a :class:`Plot` without touching plotly, so they are tested on their numbers.
A static figure is ``plot.figure()``; a live figure applies a new :class:`Plot` to its widget on
every refresh (:mod:`.live`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd

from .downsample import MAX_POINTS, TOTAL_POINTS, minmax, visible
from .timeaxis import NAT, as_ns, ms

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from ..stream import LiveFrame

__all__ = [
    "COLORS", "SEVERITY_COLORS", "Plot", "View", "color", "line_points", "shown_rows", "time_cut",
]

MIN_POINTS: Final = 100
"""Points a line keeps at least when many lines share a plot's ``total_points``."""

COLORS: Final = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
    "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d",
    "#31a354", "#756bb1", "#636363", "#6baed6", "#fd8d3c", "#74c476", "#9e9ac8", "#969696",
    "#9c9ede",
)
"""Series colours; red is kept for thresholds, breaches and alarms."""
ALARM: Final = "#d62728"
SEVERITY_COLORS: Final = {
    "low": "#9ecae1", "medium": "#fdae6b", "high": "#e6550d", "critical": "#a50f15",
    "unknown": "#bdbdbd",
}


def color(i: int) -> str:
    """The colour of the ``i``-th series (stable as long as the series keep their order)."""
    return COLORS[i % len(COLORS)]


@dataclass(frozen=True)
class View:
    """Which part of a channel's data a figure shows.

    Attributes:
        window: nanoseconds back from the newest event (None: everything the frame holds).
        x_range: a zoomed range ``(lo, hi)`` in nanoseconds, or None to follow the data.
        max_points: points per trace at most (None: no downsampling).
        total_points: points of all the lines of a plot at most, shared by its traces (with
            many nodes a trace gets fewer than ``max_points``, never fewer than 100).
        nodes: only these nodes (None: all).
        metric: the metric shown (metrics figures; None: chosen from the data).
    """

    window: int | None = None
    x_range: tuple[int, int] | None = None
    max_points: int | None = MAX_POINTS
    total_points: int | None = TOTAL_POINTS
    nodes: tuple[str, ...] | None = None
    metric: str | None = None

    def but(self, **changes: Any) -> View:
        """A copy with ``changes`` (``view.but(x_range=None)``)."""
        return replace(self, **changes)

    def budget(self, traces: int) -> int | None:
        """Points each of ``traces`` lines may have (None: all)."""
        if self.max_points is None:
            return None
        if self.total_points is None or traces < 1:
            return self.max_points
        return min(self.max_points, max(MIN_POINTS, self.total_points // traces))

    def start(self, newest: int) -> int | None:
        """The oldest time shown when the newest event is at ``newest`` (ns)."""
        return None if self.window is None else newest - self.window


@dataclass
class Plot:
    """A figure's content: plotly trace dicts, the layout, and the shapes drawn over it.

    ``meta`` says what the builder chose or found (``{"metric": "cpu_usage", "metrics": [...],
    "groups": [...]}`` for the metrics figure), for live views and their controls.
    """

    traces: list[dict[str, Any]]
    layout: dict[str, Any]
    shapes: list[dict[str, Any]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def structure(self) -> tuple[tuple[Any, ...], ...]:
        """What must match for a widget to update its traces in place rather than rebuild."""
        return tuple(
            (t.get("type"), t.get("name"), t.get("xaxis"), t.get("yaxis"), t.get("mode"))
            for t in self.traces
        )

    def points(self) -> int:
        """How many points the traces hold in all."""
        return sum(len(t.get("x", ())) for t in self.traces)

    def figure(self) -> go.Figure:
        """This plot as a plain plotly figure (for captures and reports)."""
        import plotly.graph_objects as go

        return go.Figure(data=self.traces, layout={**self.layout, "shapes": self.shapes})


def line_points(
    t: np.ndarray, y: np.ndarray, view: View, budget: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """One series' x (ms) and y as sent to the browser: cut to the zoom, then downsampled.

    Args:
        t: int64 nanoseconds, sorted.
        y: the values, aligned with ``t``.
        view: the zoom (``x_range``).
        budget: points at most (``view.budget(n)`` for one of n lines; None: all).
    """
    lo, hi = view.x_range if view.x_range is not None else (None, None)
    cut = visible(t, lo, hi)
    t, y = t[cut], y[cut]
    if budget is not None:
        keep = minmax(y, budget)
        t, y = t[keep], y[keep]
    return ms(t), np.ascontiguousarray(y, dtype=np.float64)


def time_cut(df: pd.DataFrame, view: View) -> tuple[pd.DataFrame, tuple[int, int] | None]:
    """The rows of ``df`` the view shows (its window back from the newest event, then its zoom)
    and the span they cover in ns (None for an empty frame)."""
    t = as_ns(df["timestamp"])
    known = t[t != NAT]
    if not len(known):
        return df.iloc[:0], None
    lo, hi = int(known.min()), int(known.max())
    start = view.start(hi)
    if start is not None:
        lo = max(lo, start)
    if view.x_range is not None:
        lo, hi = view.x_range
    keep = (t >= lo) & (t <= hi)
    return (df if keep.all() else df.loc[keep]), (lo, hi)


def shown_rows(frame: LiveFrame, view: View) -> tuple[pd.DataFrame, tuple[int, int] | None]:
    """``time_cut(frame.snapshot(), view)``, reading and converting only the rows it keeps
    (the frame locates them by time; the index counts from 0)."""
    if view.x_range is not None:
        found = frame.arrays(start=view.x_range[0], end=view.x_range[1])
        return found.frame(), None if found.bounds is None else view.x_range
    if view.window is None:
        found = frame.arrays(start=NAT + 1)  # the rows with a time
        return found.frame(), found.bounds
    found = frame.arrays(last=view.window)
    if found.bounds is None:
        return found.frame(), None
    oldest, newest = found.bounds
    return found.frame(), (max(oldest, newest - view.window), newest)
