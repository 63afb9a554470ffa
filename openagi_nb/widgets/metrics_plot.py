"""The metrics figure: one metric over time, a line per node, its threshold, the samples over it,
and the breach episodes shaded (``monitoring_events``; :func:`metrics_plot`)."""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import pandas as pd

from ..analysis.metrics import breaches
from .downsample import minmax, visible
from .plotdata import ALARM, Plot, View, color, line_points
from .timeaxis import as_ns, ms

__all__ = ["metric_rows", "metrics_plot", "pick_metric"]

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


def pick_metric(rows: pd.DataFrame) -> str | None:
    """The metric that came closest to (or went furthest over) its threshold in ``rows``: what
    a plot with no metric chosen should show first. None when there are no samples."""
    if not len(rows):
        return None
    ratio = rows["value"].to_numpy(np.float64) / rows["threshold"].to_numpy(
        np.float64, na_value=np.nan)
    by_metric = pd.Series(np.nan_to_num(ratio, nan=-np.inf), index=rows["metric"].astype(str))
    best = by_metric.groupby(level=0, sort=True).max()
    return str(best.idxmax())


def metrics_plot(
    df: pd.DataFrame, view: View, *, by: str = "node_id", for_: str | pd.Timedelta = "0s",
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
    extent = _extent(t, view)
    lines, thresholds = _lines(rows, t, by, view)
    threshold, over = _threshold_trace(thresholds, extent), _over_trace(rows, t, view)
    spans = _breach_spans(rows, metric, for_, extent)
    breach = _breach_trace(spans, [*lines, threshold])
    return Plot([breach, *lines, threshold, over], _layout(metric, by), [],
                {**meta, "metric": metric, "breaches": spans})


def _distinct(column: pd.Series) -> list[str]:
    return sorted(str(v) for v in column.dropna().unique())


def _extent(t: np.ndarray, view: View) -> tuple[int, int] | None:
    """The time span the plot shows, in ns: the zoom, else the data's."""
    if view.x_range is not None:
        return view.x_range
    return (int(t.min()), int(t.max())) if len(t) else None


def _lines(
    rows: pd.DataFrame, t: np.ndarray, by: str, view: View
) -> tuple[list[dict[str, Any]], np.ndarray]:
    """One line trace per group, and each group's last known threshold."""
    codes, names = pd.factorize(rows[by].astype(str), sort=True)
    order = _group_order(codes, t)
    codes, t = codes[order], t[order]
    value = rows["value"].to_numpy(np.float64)[order]
    threshold = rows["threshold"].to_numpy(np.float64, na_value=np.nan)[order]
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


def _group_order(codes: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Rows by group, then time (a stable sort of the codes when rows are already by time)."""
    if bool(np.all(t[1:] >= t[:-1])):
        return np.argsort(codes, kind="stable")
    return np.lexsort((t, codes))


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


def _over_trace(rows: pd.DataFrame, t: np.ndarray, view: View) -> dict[str, Any]:
    """Markers on the samples above their own threshold (time-sorted, cut and downsampled)."""
    value = rows["value"].to_numpy(np.float64)
    over = value > rows["threshold"].to_numpy(np.float64, na_value=np.nan)
    t, value = t[over], value[over]
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
    rows: pd.DataFrame, metric: str | None, for_: str | pd.Timedelta,
    extent: tuple[int, int] | None,
) -> list[tuple[int, int]]:
    """The breach episodes of the shown series (``analysis.breaches``), overlapping ones
    merged, cut to what is shown, each at least a sliver wide (ns)."""
    if metric is None or extent is None or not len(rows):
        return []
    found = breaches(rows, for_=for_, metric=metric)
    if not len(found):
        return []
    start, end = as_ns(found["start"]), as_ns(found["end"])
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
