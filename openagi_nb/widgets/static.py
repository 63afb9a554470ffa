"""Static figures of captures (plain ``go.Figure``) for the notebooks and reports.

Each takes a channel's frame (``cap.frame(...)`` or a stream's snapshot) and draws what an
analysis function computes; the time axis is UTC. Long series are downsampled to ``max_points``
per trace (min-max, so no peak is lost) to keep notebooks small; pass ``max_points=None`` for
every sample.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ..analysis.metrics import breaches
from ..analysis.security import top_sources
from .consensus_plot import consensus_plot
from .downsample import MAX_POINTS
from .metrics_plot import metrics_plot
from .network_plot import network_plot
from .plotdata import ALARM, Plot, View, color
from .security_plot import security_plot
from .timeaxis import as_ns, span

__all__ = [
    "plot_breaches", "plot_membership", "plot_metric", "plot_proposals",
    "plot_security_timeline", "plot_top_sources",
]


def plot_metric(
    df: pd.DataFrame, metric: str | None = None, *, by: str = "node_id",
    nodes: Iterable[str] | None = None, window: str | pd.Timedelta | None = None,
    for_: str = "0s", max_points: int | None = MAX_POINTS,
) -> go.Figure:
    """One metric over time: a line per ``by`` value, the threshold dashed, samples over it
    marked and breach episodes (``analysis.breaches`` with ``for_``) shaded.

    Args:
        df: a ``monitoring_events`` frame.
        metric: the metric (None: the one that came nearest its threshold).
        nodes: only these nodes.
        window: only the last ``window`` before the newest sample (None: all).
    """
    view = View(window=span(window), max_points=max_points, metric=metric,
                nodes=None if nodes is None else tuple(nodes))
    return metrics_plot(df, view, by=by, for_=for_).figure()


def plot_breaches(
    df: pd.DataFrame, *, for_: str = "2min", metric: str | Iterable[str] | None = None,
) -> go.Figure:
    """Breach episodes as a timeline: one bar per episode from start to end, a row per node and
    metric, coloured by metric; ongoing episodes hatched. Hover shows peak and threshold."""
    found = breaches(df, for_=for_, metric=metric)
    metrics = sorted(found["metric"].astype(str).unique())
    stamps = as_ns(df["timestamp"].dropna())
    least_ms = max((int(stamps.max()) - int(stamps.min())) / 1e6 / 300, 1000.0) if len(
        stamps) else 1000.0
    traces = [_breach_bars(found.loc[found["metric"] == m], m, color(i), least_ms)
              for i, m in enumerate(metrics)]
    rows = sorted({f"{n} {m}" for n, m in zip(found["node_id"], found["metric"], strict=True)})
    layout = {
        "title": {"text": f"breach episodes (for {for_})", "x": 0.01}, "barmode": "overlay",
        "xaxis": {"type": "date", "title": {"text": "time (UTC)"}},
        "yaxis": {"type": "category", "categoryorder": "array", "categoryarray": rows,
                  "automargin": True},
        "height": max(260, 60 + 28 * len(rows)), "margin": {"l": 60, "r": 10, "t": 40, "b": 40},
    }
    return Plot(traces, layout).figure()


def _breach_bars(episodes: pd.DataFrame, metric: str, colour: str, least_ms: float
                 ) -> dict[str, Any]:
    """One metric's episodes; each at least ``least_ms`` wide so a one-sample one shows."""
    start = as_ns(episodes["start"])
    length_ms = np.maximum((as_ns(episodes["end"]) - start) / 1e6, least_ms)
    ongoing = episodes["ongoing"].to_numpy(bool)
    return {
        "type": "bar", "orientation": "h", "name": metric, "base": start / 1e6,
        "x": length_ms, "y": [f"{n} {metric}" for n in episodes["node_id"].astype(str)],
        "marker": {"color": colour, "pattern": {"shape": ["/" if o else "" for o in ongoing]}},
        "customdata": np.column_stack((episodes["peak"].to_numpy(np.float64),
                                       episodes["threshold"].to_numpy(np.float64))),
        "hovertemplate": "%{base|%H:%M:%S} for %{x:,.0f} ms, peak %{customdata[0]:.4g}"
                         " (threshold %{customdata[1]:g})<extra>" + metric + "</extra>",
    }


def plot_security_timeline(
    df: pd.DataFrame, freq: str | None = None, *, min_severity: str = "high",
    window: str | pd.Timedelta | None = None,
) -> go.Figure:
    """Attacks per ``freq`` (default: a round width giving at most 60 bars) by attack type and
    by severity, unblocked intrusions at or above ``min_severity`` marked."""
    view = View(window=span(window))
    return security_plot(df, view, min_severity=min_severity, freq=freq).figure()


def plot_top_sources(df: pd.DataFrame, n: int = 10) -> go.Figure:
    """The ``n`` source IPs behind the most security events, split into blocked attacks,
    unblocked intrusions and the rest; the busiest on top."""
    table = top_sources(df, n).iloc[::-1]
    ips = table["source_ip"].astype(str).tolist()
    blocked = table["blocked"].to_numpy(np.float64)
    unblocked = table["unblocked"].to_numpy(np.float64)
    other = table["events"].to_numpy(np.float64) - blocked - unblocked
    parts = (("blocked", blocked, "#6baed6"), ("unblocked", unblocked, ALARM),
             ("other", other, "#bdbdbd"))
    traces = [
        {"type": "bar", "orientation": "h", "name": name, "x": values, "y": ips,
         "marker": {"color": colour}, "hovertemplate": "%{y}  %{x}<extra>" + name + "</extra>"}
        for name, values, colour in parts
    ]
    layout = {
        "title": {"text": f"top {len(ips)} sources", "x": 0.01}, "barmode": "stack",
        "xaxis": {"title": {"text": "events"}}, "yaxis": {"automargin": True},
        "height": max(260, 80 + 24 * len(ips)), "margin": {"l": 60, "r": 10, "t": 40, "b": 40},
    }
    return Plot(traces, layout).figure()


def plot_proposals(df: pd.DataFrame, *, stuck_after: str = "60s", last: int = 50) -> go.Figure:
    """The ``last`` proposals of a ``consensus_events`` frame on a timeline: a marker per PBFT
    step reached, stuck ones crossed, and the latency of executed ones below."""
    return consensus_plot(df, View(), stuck_after=stuck_after, max_proposals=last).figure()


def plot_membership(df: pd.DataFrame, *, initial: Iterable[str] = ()) -> go.Figure:
    """Active nodes over time from a ``network_events`` frame, joins and leaves marked,
    partitions shaded; ``initial`` as for ``analysis.membership``."""
    return network_plot(df, View(), initial=tuple(initial)).figure()
