"""The metrics figure of a LiveFrame from the rows its window shows: :func:`metrics_plot_live`.

``metrics_plot(frame.snapshot(), view)`` converts the whole window to pandas on every refresh
(about 70 ms for a million rows), then keeps the last minutes of it. Here the frame is asked for
the view's window only (:meth:`LiveFrame.arrays`: a binary search, then a copy of those rows of
the seven columns the figure reads), and the samples are selected on the stored codes: a string
is decoded only if it names a line or a metric. The figure is the same: both paths build
:class:`.metrics_plot.Samples` and :func:`.metrics_plot.draw` them.

A zoom reads the same window as the view without it: the lines run to the plot's edges through
the samples beyond them, and breach episodes, thresholds and the lists of metrics and nodes come
from the whole window, so the rows of the zoomed range alone would draw another figure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..durations import Duration
from ..model import Kind, columns
from .metrics_plot import LAST, Samples, draw, metrics_plot, nearest
from .plotdata import Plot, View
from .timeaxis import NAT

if TYPE_CHECKING:
    from ..stream import Arrays, LiveFrame

__all__ = ["metrics_plot_live"]

COLUMNS = ("event", "node_id", "metric", "value", "threshold")
"""What the figure reads, besides ``seq``, ``timestamp`` and the column that splits the lines."""


def metrics_plot_live(frame: LiveFrame, view: View, *, by: str = "node_id",
                      for_: Duration = "0s") -> Plot:
    """``metrics_plot(frame.snapshot(), view, by=by, for_=for_)``, reading only the rows of
    the view's window (lines split by a column of other than strings or categories: all)."""
    kinds = {c.name: c.kind for c in columns(frame.channel)}
    if not set(COLUMNS) <= kinds.keys() or kinds.get(by) not in (Kind.STRING, Kind.CATEGORY):
        return metrics_plot(frame.snapshot(), view, by=by, for_=for_)  # or its ValueError
    found, keep = _window(frame, view, by)
    metric_codes, metrics = found.factor("metric")
    by_codes, groups = found.factor(by)
    shown = slice(None) if keep.all() else keep
    meta = {"metrics": _distinct(metric_codes[shown], metrics),
            "groups": _distinct(by_codes[shown], groups)}
    metric = view.metric or nearest(metric_codes[shown], metrics, found["value"][shown],
                                    found["threshold"][shown])
    keep &= metric_codes == found.code("metric", metric)  # -1 if absent: NA, dropped already
    if view.nodes is not None:
        keep &= np.isin(by_codes, [i for i, g in enumerate(groups) if g in view.nodes])
    rows = slice(None) if keep.all() else np.flatnonzero(keep)
    samples = _samples(found, rows, by_codes, groups, by)
    return draw(samples, view, metric, meta, by=by, for_=for_)


def _window(frame: LiveFrame, view: View, by: str) -> tuple[Arrays, np.ndarray]:
    """The rows read and which are samples of the window: ``metric_update`` rows with a time,
    metric, value and ``by``, no older than ``view.window`` before the newest of them."""
    names = [*COLUMNS, by]
    found = frame.arrays(names, last=view.window)
    keep, newest = _samples_in(found, by)
    if view.window is None:
        return found, keep
    if found.bounds is not None and (newest is None or newest < found.bounds[1]):
        # newer events than the newest sample: the window reaches back further than was read
        found = frame.arrays(names, start=None if newest is None else newest - view.window)
        keep, newest = _samples_in(found, by)
    if newest is not None:
        keep &= found["timestamp"] >= newest - view.window
    return found, keep


def _samples_in(found: Arrays, by: str) -> tuple[np.ndarray, int | None]:
    """Which rows are samples (``metric_rows``), and the newest sample's time (the rows are in
    time order: the last sample's)."""
    t = found["timestamp"]
    keep = (found["event"] == found.code("event", "metric_update")) & (t != NAT)
    for name in ("metric", "value", by):
        keep &= found.notna(name)
    if not keep.any():
        return keep, None
    return keep, int(t[len(keep) - 1 - int(np.argmax(keep[::-1]))])


def _distinct(codes: np.ndarray, labels: list[Any]) -> list[str]:
    return sorted(str(labels[c]) for c in np.flatnonzero(np.bincount(codes, minlength=1)))


def _samples(found: Arrays, rows: slice | np.ndarray, by_codes: np.ndarray, groups: list[Any],
             by: str) -> Samples:
    """The selected ``rows`` as the figure's samples, lines numbered by their sorted names."""
    used = np.flatnonzero(np.bincount(by_codes[rows], minlength=1))
    ranked = sorted(used.tolist(), key=lambda c: str(groups[c]))
    rank = np.zeros(max(len(groups), 1), np.int32)
    rank[ranked] = np.arange(len(ranked))
    group = rank[by_codes[rows]]
    series = group if by == "node_id" else found.factor("node_id")[0][rows]
    seq = found["seq"][rows]
    missing = seq == NAT
    tiebreak = np.where(missing, LAST, seq) if missing.any() else seq
    return Samples(found["timestamp"][rows], found["value"][rows], found["threshold"][rows],
                   group, [str(groups[c]) for c in ranked], series, tiebreak)
