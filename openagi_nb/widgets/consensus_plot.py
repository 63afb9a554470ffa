"""The consensus figure: the newest proposals on a timeline, a marker per PBFT step reached, and
the latency of executed ones (``consensus_events``): of a frame, :func:`consensus_plot`; of a
LiveFrame, reading only the rows shown, :func:`consensus_plot_live`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd

from ..analysis.consensus import proposals
from .plotdata import ALARM, Plot, View, shown_rows, time_cut
from .timeaxis import NAT, as_ns, ms

if TYPE_CHECKING:
    from ..stream import LiveFrame

__all__ = ["STEPS", "consensus_plot", "consensus_plot_live"]

STEPS: Final = {
    "submitted_at": ("submitted", "#c6dbef"),
    "pre_prepare_at": ("pre_prepare", "#9ecae1"),
    "prepare_at": ("prepare", "#6baed6"),
    "commit_at": ("commit", "#3182bd"),
    "reply_at": ("reply", "#08519c"),
    "executed_at": ("executed", "#31a354"),
}
"""Timeline columns of ``analysis.proposals`` -> (label, colour), in lifecycle order."""


def consensus_plot(df: pd.DataFrame, view: View, *, stuck_after: str = "60s",
                   max_proposals: int = 40) -> Plot:
    """Proposals of the view's span, the newest ``max_proposals`` of them, one row each.

    Returns:
        Traces: ``lifeline`` (a line from a proposal's first to its last step), a marker trace
        per step of :data:`STEPS`, ``stuck`` (a cross at the last step of stuck proposals), and
        ``latency`` (executed - submitted, in seconds, bottom row).
    """
    return _plot(time_cut(df, view)[0], stuck_after, max_proposals)


def consensus_plot_live(frame: LiveFrame, view: View, *, stuck_after: str = "60s",
                        max_proposals: int = 40) -> Plot:
    """``consensus_plot(frame.snapshot(), view, ...)``, converting only the rows shown."""
    return _plot(shown_rows(frame, view)[0], stuck_after, max_proposals)


def _plot(rows: pd.DataFrame, stuck_after: str, max_proposals: int) -> Plot:
    table = proposals(rows, stuck_after=stuck_after).tail(max_proposals)
    ids = table["proposal_id"].astype(str).tolist()
    times = {col: as_ns(table[col]) for col in STEPS}
    traces = [_lifeline(ids, times)]
    traces += [_step(col, ids, t) for col, t in times.items()]
    traces += [_stuck(table, ids, times), _latency(table)]
    return Plot(traces, _layout(ids))


def _first_last(times: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Each proposal's first and last step seen (every proposal has at least one)."""
    stacked = np.vstack(list(times.values()))
    seen = stacked != NAT
    first = np.where(seen, stacked, np.iinfo(np.int64).max).min(axis=0)
    last = np.where(seen, stacked, NAT).max(axis=0)
    return first, last


def _lifeline(ids: list[str], times: dict[str, np.ndarray]) -> dict[str, Any]:
    first, last = _first_last(times)
    x = np.column_stack((ms(first), ms(last), np.full(len(ids), np.nan))).ravel()
    y = [v for i in ids for v in (i, i, None)]
    return {
        "type": "scatter", "mode": "lines", "name": "lifeline", "x": x, "y": y,
        "line": {"color": "#bdbdbd", "width": 6}, "hoverinfo": "skip", "showlegend": False,
    }


def _step(col: str, ids: list[str], t: np.ndarray) -> dict[str, Any]:
    label, colour = STEPS[col]
    seen = t != NAT
    return {
        "type": "scatter", "mode": "markers", "name": label, "x": ms(t[seen]),
        "y": [i for i, s in zip(ids, seen, strict=True) if s],
        "marker": {"color": colour, "size": 9, "line": {"width": 1, "color": "#252525"}},
        "hovertemplate": "%{y} " + label + " %{x|%H:%M:%S.%L}<extra></extra>",
    }


def _stuck(table: pd.DataFrame, ids: list[str], times: dict[str, np.ndarray]) -> dict[str, Any]:
    stuck = (table["status"] == "stuck").to_numpy(bool, na_value=False)
    last = _first_last(times)[1]
    return {
        "type": "scatter", "mode": "markers", "name": "stuck", "x": ms(last[stuck]),
        "y": [i for i, s in zip(ids, stuck, strict=True) if s],
        "marker": {"color": ALARM, "size": 14, "symbol": "x"},
        "hovertemplate": "%{y} stuck since %{x|%H:%M:%S}<extra></extra>",
    }


def _latency(table: pd.DataFrame) -> dict[str, Any]:
    done = table.loc[table["latency"].notna().to_numpy(bool)]
    seconds = done["latency"].dt.total_seconds().to_numpy(np.float64)
    return {
        "type": "scatter", "mode": "lines+markers", "name": "latency (s)",
        "x": ms(as_ns(done["executed_at"])), "y": seconds, "xaxis": "x2", "yaxis": "y2",
        "line": {"color": "#31a354"}, "marker": {"size": 5},
        "text": done["proposal_id"].astype(str).tolist(),
        "hovertemplate": "%{text}  %{y:.3f} s<extra>latency</extra>",
    }


def _layout(ids: list[str]) -> dict[str, Any]:
    return {
        "title": {"text": f"proposals (newest {len(ids)})", "x": 0.01},
        "xaxis": {"type": "date", "anchor": "y", "showticklabels": False},
        "yaxis": {"domain": [0.35, 1.0], "type": "category", "categoryorder": "array",
                  "categoryarray": ids, "automargin": True},
        "xaxis2": {"type": "date", "anchor": "y2", "matches": "x",
                   "title": {"text": "time (UTC)"}},
        "yaxis2": {"domain": [0.0, 0.25], "title": {"text": "latency (s)"}},
        "margin": {"l": 60, "r": 10, "t": 40, "b": 40},
        "height": 520,
        "hovermode": "closest",
        "uirevision": "consensus",
    }
