"""The metrics figure: one metric over time, a line per node, its threshold, the samples over it,
and the breach episodes shaded (``monitoring_events``; :func:`metrics_plot`).

:func:`metrics_plot` selects the samples of a frame with pandas; a live figure selects them from a
LiveFrame's arrays (:mod:`.metrics_live`). Both hand the same :class:`Samples` to :func:`draw`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, NamedTuple

import numpy as np
import pandas as pd

from ..analysis.breaches import episode_times
from ..durations import Duration
from .downsample import minmax, visible
from .plotdata import ALARM, Plot, View, color, line_points
from .timeaxis import as_ns, ms

__all__ = ["LAST", "Samples", "draw", "metric_rows", "metrics_plot", "nearest", "pick_metric"]

LAST: Final = int(np.iinfo(np.int64).max)
"""The ``seq`` of samples without one: they come after the others of their time."""
MAX_EPISODES: Final = 1000
"""Breach episodes drawn at most (the newest)."""
BREACH_FILL: Final = "rgba(214, 39, 40, 0.13)"
_MIN_WIDTH: Final = 1 / 400
"""An episode of a single sample is drawn this share of the visible span wide."""


def metric_rows(df: pd.DataFrame, by: str = "node_id") -> pd.DataFrame:
    """The ``metric_update`` samples with a time, metric, value and ``by``, narrowed to the
    columns the figure reads.

    Raises:
        ValueError: ``df`` is not a ``monitoring_events`` frame or has no column ``by``.
    """
    cols = dict.fromkeys(["seq", "timestamp", "event", "node_id", "metric", "value",
                          "threshold", by])
    missing = [c for c in cols if c not in df.columns and c != "seq"]
    if missing:
        raise ValueError(f"not a monitoring_events frame: no column {missing[0]!r}")
    narrow = df[[c for c in cols if c in df.columns]]
    mask = (narrow["event"] == "metric_update").to_numpy(bool, na_value=False).copy()
    for name in ("timestamp", "metric", "value", by):
        mask &= narrow[name].notna().to_numpy(bool)
    return narrow if mask.all() else narrow.loc[mask]


@dataclass(frozen=True)
class Samples:
    """The samples of the metric shown, aligned arrays in time order: what the figure draws.

    Attributes:
        t: times (int64 ns); ``value``, ``threshold``: float64 (threshold NaN when unknown).
        group: the line of each sample, an index into ``names`` (the lines, sorted).
        series: the node of each sample as any integer code, -1 for none (breach episodes are
            per node, whatever splits the lines).
        tiebreak: ``seq``, NA as :data:`LAST`: the order of samples of the same time.
    """

    t: np.ndarray
    value: np.ndarray
    threshold: np.ndarray
    group: np.ndarray
    names: list[str]
    series: np.ndarray
    tiebreak: np.ndarray


def pick_metric(rows: pd.DataFrame) -> str | None:
    """The metric that came closest to (or went furthest over) its threshold in ``rows``: what
    a plot with no metric chosen should show first. None when there are no samples."""
    if not len(rows):
        return None
    codes, names = pd.factorize(rows["metric"].astype(str))
    threshold = rows["threshold"].to_numpy(np.float64, na_value=np.nan)
    return nearest(codes, list(names), rows["value"].to_numpy(np.float64), threshold)


def nearest(codes: np.ndarray, names: list[str], value: np.ndarray, threshold: np.ndarray
            ) -> str | None:
    """:func:`pick_metric` of samples given as arrays: ``codes`` index ``names``; the first of
    the metrics (sorted) with the highest ``value / threshold`` (NaN counts as -inf)."""
    if not len(codes):
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.nan_to_num(value / threshold, nan=-np.inf)
    best = np.full(len(names), -np.inf)
    np.maximum.at(best, codes, ratio)
    present = np.flatnonzero(np.bincount(codes, minlength=len(names)))
    ranked = sorted(present.tolist(), key=lambda c: names[c])
    return names[ranked[int(np.argmax(best[ranked]))]]


def metrics_plot(
    df: pd.DataFrame, view: View, *, by: str = "node_id", for_: Duration = "0s",
) -> Plot:
    """One metric of a ``monitoring_events`` frame over the view's window.

    Args:
        df: the frame (a snapshot or a capture's).
        view: window, zoom, point budget, nodes and metric (``view.metric`` None: the one
            :func:`pick_metric` picks).
        by: the column that splits the lines (``"node_id"``).
        for_: how long a breach must hold to be shaded (``analysis.breaches``' ``for_``).

    Returns:
        Traces: ``breach`` (the episodes shaded, overlapping ones merged, beneath the rest),
        one line per ``by`` value (sorted), ``threshold`` (dashed; one segment per distinct
        threshold), ``over threshold`` (markers of the samples above their own threshold).
        ``meta["breaches"]`` lists the shaded spans (ns).
    """
    rows = metric_rows(df, by)
    t = as_ns(rows["timestamp"])
    if len(t) and view.window is not None:
        keep = t >= int(t.max()) - view.window
        rows, t = rows.loc[keep], t[keep]
    meta = {"metrics": _distinct(rows["metric"]), "groups": _distinct(rows[by])}
    metric = view.metric or pick_metric(rows)
    keep = (rows["metric"] == metric).to_numpy(bool, na_value=False).copy()
    if view.nodes is not None:
        keep &= rows[by].isin(view.nodes).to_numpy(bool)
    rows, t = rows.loc[keep], t[keep]
    return draw(_samples(rows, t, by), view, metric, meta, by=by, for_=for_)


def _distinct(column: pd.Series) -> list[str]:
    return sorted(str(v) for v in column.dropna().unique())


def _samples(rows: pd.DataFrame, t: np.ndarray, by: str) -> Samples:
    group, names = pd.factorize(rows[by].astype(str), sort=True)
    series = group if by == "node_id" else pd.factorize(rows["node_id"])[0]
    tiebreak = (rows["seq"].to_numpy(dtype=np.int64, na_value=LAST)
                if "seq" in rows.columns else np.zeros(len(rows), np.int64))  # as breaches()
    return Samples(t, rows["value"].to_numpy(np.float64),
                   rows["threshold"].to_numpy(np.float64, na_value=np.nan), group,
                   [str(n) for n in names], series, tiebreak)


def draw(samples: Samples, view: View, metric: str | None, meta: dict[str, Any], *,
         by: str, for_: Duration) -> Plot:
    """The figure of the ``samples`` of ``metric`` (see :func:`metrics_plot`); ``meta`` says
    which metrics and groups the view's window holds."""
    extent = _extent(samples.t, view)
    by_line = _by_line(samples)
    lines, thresholds = _lines(by_line, samples.names, view)
    threshold, over = _threshold_trace(thresholds, extent), _over_trace(samples, view)
    spans = _breach_spans(samples, by_line, metric, for_, extent)
    breach = _breach_trace(spans, [*lines, threshold])
    return Plot([breach, *lines, threshold, over], _layout(metric, by), [],
                {**meta, "metric": metric, "breaches": spans})


def _extent(t: np.ndarray, view: View) -> tuple[int, int] | None:
    """The time span the plot shows, in ns: the zoom, else the data's."""
    if view.x_range is not None:
        return view.x_range
    return (int(t.min()), int(t.max())) if len(t) else None


class _ByLine(NamedTuple):
    """The samples by line, then time (``order`` of :class:`Samples`)."""

    order: np.ndarray
    group: np.ndarray
    t: np.ndarray
    value: np.ndarray
    threshold: np.ndarray


def _by_line(samples: Samples) -> _ByLine:
    """The samples by line, then time (a stable radix sort of the line codes when they are in
    time order already), gathered once for the lines and the breach episodes."""
    codes, t = samples.group, samples.t
    if bool(np.all(t[1:] >= t[:-1])):
        small = codes.astype(np.int16) if len(samples.names) < 2**15 else codes
        order = np.argsort(small, kind="stable")
    else:
        order = np.lexsort((t, codes))
    return _ByLine(order, *(np.take(a, order) for a in  # take: faster than a[order] here
                            (codes, t, samples.value, samples.threshold)))


def _lines(samples: _ByLine, names: list[str], view: View
           ) -> tuple[list[dict[str, Any]], np.ndarray]:
    """One line trace per group, and each group's last known threshold."""
    codes, t, value, threshold = samples.group, samples.t, samples.value, samples.threshold
    bounds = np.searchsorted(codes, np.arange(len(names) + 1))
    traces, last = [], np.full(len(names), np.nan)
    budget = view.budget(len(names))
    for i, name in enumerate(names):
        part = slice(bounds[i], bounds[i + 1])
        x, y = line_points(t[part], value[part], view, budget)
        known = threshold[part][~np.isnan(threshold[part])]
        last[i] = known[-1] if len(known) else np.nan
        traces.append({
            "type": "scatter", "mode": "lines", "name": str(name), "x": x, "y": y,
            "line": {"color": color(i), "width": 1.5},
            "hovertemplate": "%{x|%H:%M:%S}  %{y:.4g}<extra>" + str(name) + "</extra>",
        })
    return traces, last


def _threshold_trace(thresholds: np.ndarray, extent: tuple[int, int] | None) -> dict[str, Any]:
    levels = np.unique(thresholds[~np.isnan(thresholds)])
    x: list[float] = []
    y: list[float] = []
    if extent is not None:
        lo, hi = ms(np.array(extent, dtype=np.int64))
        for level in levels:
            x += [lo, hi, np.nan]
            y += [float(level), float(level), np.nan]
    label = "threshold" if len(levels) != 1 else f"threshold {levels[0]:g}"
    return {
        "type": "scatter", "mode": "lines", "name": label,
        "x": np.array(x[:-1]), "y": np.array(y[:-1]),
        "line": {"color": ALARM, "dash": "dash", "width": 1.5}, "hoverinfo": "skip",
    }


def _over_trace(samples: Samples, view: View) -> dict[str, Any]:
    """Markers on the samples above their own threshold (time-sorted, cut and downsampled)."""
    over = samples.value > samples.threshold
    t, value = samples.t[over], samples.value[over]
    if not np.all(t[1:] >= t[:-1]):
        order = np.argsort(t, kind="stable")
        t, value = t[order], value[order]
    if view.x_range is not None:
        cut = visible(t, *view.x_range)
        t, value = t[cut], value[cut]
    if view.max_points is not None:
        keep = minmax(value, view.max_points)
        t, value = t[keep], value[keep]
    return {
        "type": "scatter", "mode": "markers", "name": "over threshold", "x": ms(t), "y": value,
        "marker": {"color": ALARM, "size": 6, "symbol": "circle-open"},
        "hovertemplate": "%{x|%H:%M:%S}  %{y:.4g}<extra>over threshold</extra>",
    }


def _breach_spans(
    samples: Samples, by_line: _ByLine, metric: str | None, for_: Duration,
    extent: tuple[int, int] | None,
) -> list[tuple[int, int]]:
    """The breach episodes of the shown series (``analysis.breaches``), overlapping ones
    merged, cut to what is shown, each at least a sliver wide (ns)."""
    if metric is None or extent is None or not len(samples.t):
        return []
    s, b = samples, by_line
    tiebreak: np.ndarray | None
    if s.series is s.group and _ties_in_seq(s, b):  # lines are nodes: sorted as episodes need
        series, t, value, threshold, tiebreak = b.group, b.t, b.value, b.threshold, None
    else:
        series, t, value, threshold, tiebreak = s.series, s.t, s.value, s.threshold, s.tiebreak
    known = (series >= 0) & ~np.isnan(threshold)
    if not known.all():
        series, t, value, threshold = series[known], t[known], value[known], threshold[known]
        tiebreak = None if tiebreak is None else tiebreak[known]
    start, end = episode_times(series, t, value, threshold, tiebreak, for_=for_)
    if not len(start):
        return []
    least = max(int((extent[1] - extent[0]) * _MIN_WIDTH), 1)
    spans = _merged(start, np.maximum(end, start + least))
    return [(a, b) for a, b in spans if b >= extent[0] and a <= extent[1]][-MAX_EPISODES:]


def _breach_trace(spans: list[tuple[int, int]], traces: list[dict[str, Any]]
                  ) -> dict[str, Any]:
    """The episodes as one filled trace drawn beneath the lines, from the lowest to the highest
    value shown: one binary array, where a layout shape per episode would cost plotly a
    validation each on every refresh (100 ms for 200 shapes)."""
    values = [np.asarray(t["y"], np.float64) for t in traces if len(t["y"])]
    known = np.concatenate(values) if values else np.empty(0)
    known = known[~np.isnan(known)]
    lo, hi = (float(known.min()), float(known.max())) if len(known) else (0.0, 1.0)
    x = np.array([[a, a, b, b, np.nan] for a, b in spans], np.float64).ravel() / 1e6
    y = np.tile([lo, hi, hi, lo, np.nan], len(spans)).astype(np.float64)
    return {
        "type": "scatter", "mode": "lines", "name": "breach", "x": x, "y": y,
        "fill": "toself", "fillcolor": BREACH_FILL, "line": {"width": 0},
        "hoverinfo": "skip",
    }


def _ties_in_seq(samples: Samples, by_line: _ByLine) -> bool:
    """Whether the samples of one line at one time (if any) follow their ``seq``."""
    b = by_line
    tied = (b.group[1:] == b.group[:-1]) & (b.t[1:] == b.t[:-1])
    if not tied.any():
        return True
    tiebreak = np.take(samples.tiebreak, b.order)
    return bool(np.all(tiebreak[1:][tied] >= tiebreak[:-1][tied]))


def _merged(start: np.ndarray, end: np.ndarray) -> list[tuple[int, int]]:
    """Overlapping intervals (of different nodes) merged into one, by start: a new interval
    begins where a start lies past every end before it."""
    if not len(start):
        return []
    order = np.argsort(start, kind="stable")
    start, end = start[order], end[order]
    reach = np.maximum.accumulate(end)
    head = np.ones(len(start), bool)
    head[1:] = start[1:] > reach[:-1]
    firsts = np.flatnonzero(head)
    ends = np.maximum.reduceat(end, firsts)
    return list(zip(start[firsts].tolist(), ends.tolist(), strict=True))


def _layout(metric: str | None, by: str) -> dict[str, Any]:
    title = f"{metric} by {by}" if metric else "waiting for metric_update events"
    return {
        "title": {"text": title, "x": 0.01},
        "xaxis": {"type": "date", "title": {"text": "time (UTC)"}},
        "yaxis": {"title": {"text": metric or ""}},
        "margin": {"l": 60, "r": 10, "t": 40, "b": 40},
        "height": 420,
        "hovermode": "closest",
        "uirevision": metric or "",
    }
