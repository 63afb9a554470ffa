"""The network figure: active nodes over time (a step line), joins and leaves marked, detected
partitions shaded (``network_events``): of a frame, :func:`network_plot`; of a LiveFrame,
:func:`network_plot_live`, which reads it whole: the count at any time follows from every join
and leave before it (network events are few)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd

from ..analysis.network import membership, partitions
from .plotdata import ALARM, Plot, View, line_points, time_cut
from .timeaxis import as_ns, ms

if TYPE_CHECKING:
    from ..stream import LiveFrame

__all__ = ["network_plot", "network_plot_live"]

PARTITION_FILL: Final = "rgba(99, 99, 99, 0.18)"


def network_plot(df: pd.DataFrame, view: View, *, initial: Iterable[str] = ()) -> Plot:
    """Membership of the view's span. The count is computed over the whole frame (it depends on
    every join and leave before), then cut to the span.

    Args:
        df: a ``network_events`` frame.
        view: window, zoom and point budget.
        initial: nodes known active before the frame's first event (``analysis.membership``).

    Returns:
        Traces: ``active nodes`` (step line), ``joined`` and ``left`` markers. Shapes: the
        partitions.
    """
    steps = membership(df, initial=initial)
    extent = time_cut(df, view)[1]
    t = as_ns(steps["timestamp"])
    active = steps["active_nodes"].to_numpy(np.float64)
    inside = np.ones(len(t), bool) if extent is None else (t >= extent[0]) & (t <= extent[1])
    shown = steps.loc[inside]
    x, y = line_points(*_held(t, active, extent), view.but(x_range=None), view.budget(1))
    traces = [
        {"type": "scatter", "mode": "lines", "name": "active nodes", "x": x, "y": y,
         "line": {"shape": "hv", "color": "#1f77b4", "width": 2},
         "hovertemplate": "%{x|%H:%M:%S}  %{y} nodes<extra></extra>"},
        _changes(shown, t[inside], active[inside], "joined", "triangle-up", "#2ca02c"),
        _changes(shown, t[inside], active[inside], "left", "triangle-down", ALARM),
    ]
    return Plot(traces, _layout(), _partition_shapes(df, extent))


def network_plot_live(frame: LiveFrame, view: View, *, initial: Iterable[str] = ()) -> Plot:
    """``network_plot(frame.snapshot(), view, initial=initial)``."""
    return network_plot(frame.snapshot(), view, initial=initial)


def _held(t: np.ndarray, active: np.ndarray, extent: tuple[int, int] | None
          ) -> tuple[np.ndarray, np.ndarray]:
    """The step series over ``extent``: the count held at its start (the last change before
    it), the changes inside, and the count still held at its end, so the line spans the plot."""
    if extent is None or not len(t):
        return t, active
    lo, hi = extent
    inside = (t >= lo) & (t <= hi)
    before = np.flatnonzero(t < lo)
    head = [active[before[-1]]] if len(before) else []
    values = np.concatenate((head, active[inside]))
    if not len(values):
        return np.empty(0, np.int64), np.empty(0)
    stamps = np.concatenate(([lo] if head else [], t[inside], [hi])).astype(np.int64)
    return stamps, np.concatenate((values, values[-1:]))


def _changes(shown: pd.DataFrame, t: np.ndarray, active: np.ndarray, change: str, symbol: str,
             colour: str) -> dict[str, Any]:
    hit = (shown["change"] == change).to_numpy(bool, na_value=False)
    reasons = shown["reason"].astype("string").fillna("").to_numpy(object)[hit]
    text = [f"{n} {r}".strip() for n, r in zip(shown["node_id"].astype(str)[hit], reasons,
                                                 strict=True)]
    return {
        "type": "scatter", "mode": "markers", "name": change, "x": ms(t[hit]), "y": active[hit],
        "text": text, "marker": {"symbol": symbol, "size": 11, "color": colour},
        "hovertemplate": "%{x|%H:%M:%S}  %{text}<extra>" + change + "</extra>",
    }


def _partition_shapes(df: pd.DataFrame, extent: tuple[int, int] | None) -> list[dict[str, Any]]:
    if extent is None:
        return []
    found = partitions(df)
    start, end = as_ns(found["start"]), as_ns(found["end"])
    least = max((extent[1] - extent[0]) // 200, 1)
    return [
        {"type": "rect", "xref": "x", "yref": "paper", "x0": a / 1e6, "x1": max(b, a + least) / 1e6,
         "y0": 0, "y1": 1, "fillcolor": PARTITION_FILL, "line": {"width": 0}, "layer": "below"}
        for a, b in zip(start.tolist(), end.tolist(), strict=True)
        if b >= extent[0] and a <= extent[1]
    ]


def _layout() -> dict[str, Any]:
    return {
        "title": {"text": "active nodes (shaded: partitions)", "x": 0.01},
        "xaxis": {"type": "date", "title": {"text": "time (UTC)"}},
        "yaxis": {"title": {"text": "nodes"}, "rangemode": "tozero"},
        "margin": {"l": 60, "r": 10, "t": 40, "b": 40},
        "height": 380,
        "hovermode": "closest",
        "uirevision": "network",
    }
