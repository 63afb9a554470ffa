"""The security figure: attacks per interval by attack type (top) and by severity (bottom), with
the unblocked intrusions marked on top of their interval's bar (``security_events``): of a frame,
:func:`security_plot`; of a LiveFrame, reading only the rows shown, :func:`security_plot_live`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..analysis.security import timeline, unblocked
from ..model import SEVERITIES
from .plotdata import ALARM, SEVERITY_COLORS, Plot, View, color, shown_rows, time_cut
from .timeaxis import as_ns, bin_width, ms

if TYPE_CHECKING:
    from ..stream import LiveFrame

__all__ = ["security_plot", "security_plot_live"]


def security_plot(df: pd.DataFrame, view: View, *, min_severity: str = "high",
                  bins: int = 60, freq: str | None = None) -> Plot:
    """Attacks (``intrusion_detected``, ``attack_blocked``) per interval: ``freq``, or else a
    round width that cuts the shown span into at most ``bins`` bars (so a zoom gets finer bars).

    Returns:
        Traces: a bar per attack type (sorted, stacked, top row), a bar per severity (low to
        critical, stacked, bottom row), then ``unblocked`` markers: intrusions at or above
        ``min_severity`` that were not blocked, at the top of their interval's stack.
    """
    return _plot(*time_cut(df, view), min_severity=min_severity, bins=bins, freq=freq)


def security_plot_live(frame: LiveFrame, view: View, *, min_severity: str = "high",
                       bins: int = 60, freq: str | None = None) -> Plot:
    """``security_plot(frame.snapshot(), view, ...)``, converting only the rows shown."""
    return _plot(*shown_rows(frame, view), min_severity=min_severity, bins=bins, freq=freq)


def _plot(rows: pd.DataFrame, extent: tuple[int, int] | None, *, min_severity: str, bins: int,
          freq: str | None) -> Plot:
    width = freq or bin_width(extent[1] - extent[0] if extent else 0, bins)
    table = timeline(rows, width)
    step = pd.Timedelta(width).value
    centre = ms(as_ns(table.index) + step // 2) if len(table) else np.empty(0)
    traces = _type_bars(table, centre, step) + _severity_bars(table, centre, step)
    traces.append(_unblocked_markers(rows, table, min_severity, step))
    return Plot(traces, _layout(width))


def _bar(name: str, x: np.ndarray, y: np.ndarray, step: int, colour: str, axis: str
         ) -> dict[str, Any]:
    return {
        "type": "bar", "name": name, "x": x, "y": y, "width": step / 1e6 * 0.9,
        "marker": {"color": colour}, "xaxis": axis.replace("y", "x"), "yaxis": axis,
        "legendgroup": axis, "hovertemplate": "%{x|%H:%M:%S}  %{y}<extra>" + name + "</extra>",
    }


def _type_bars(table: pd.DataFrame, centre: np.ndarray, step: int) -> list[dict[str, Any]]:
    if not len(table.columns):
        return []
    by_type = table.T.groupby(level="attack_type", sort=True).sum().T
    return [
        _bar(str(name), centre, by_type[name].to_numpy(np.float64), step, color(i), "y")
        for i, name in enumerate(by_type.columns)
    ]


def _severity_bars(table: pd.DataFrame, centre: np.ndarray, step: int) -> list[dict[str, Any]]:
    out = []
    for level in SEVERITIES:
        counts = np.zeros(len(table))
        for column in table.columns:
            if column[1] == level:
                counts += table[column].to_numpy(np.float64)
        out.append(_bar(level, centre, counts, step, SEVERITY_COLORS[level], "y2"))
    return out


def _unblocked_markers(rows: pd.DataFrame, table: pd.DataFrame, min_severity: str, step: int
                       ) -> dict[str, Any]:
    found = unblocked(rows, min_severity) if len(rows) else rows.iloc[:0]
    t = as_ns(found["timestamp"]) if len(found) else np.empty(0, np.int64)
    height = np.zeros(len(t))
    if len(t) and len(table):
        totals = table.sum(axis=1).to_numpy(np.float64)
        slot = np.clip(np.searchsorted(as_ns(table.index), t, "right") - 1, 0, len(totals) - 1)
        height = totals[slot]
    text = [
        f"{ip} {kind} ({level})" for ip, kind, level in
        zip(found["source_ip"].astype(str), found["attack_type"].astype(str),
            found["severity"].astype(str), strict=True)
    ] if len(found) else []
    return {
        "type": "scatter", "mode": "markers", "name": f"unblocked (>= {min_severity})",
        "x": ms(t), "y": height, "text": text, "xaxis": "x", "yaxis": "y",
        "marker": {"color": ALARM, "size": 11, "symbol": "x"},
        "hovertemplate": "%{x|%H:%M:%S}  %{text}<extra>unblocked</extra>",
    }


def _layout(width: str) -> dict[str, Any]:
    return {
        "title": {"text": f"attacks per {width}", "x": 0.01},
        "barmode": "stack",
        "xaxis": {"type": "date", "anchor": "y", "showticklabels": False},
        "yaxis": {"domain": [0.4, 1.0], "title": {"text": "by type"}},
        "xaxis2": {"type": "date", "anchor": "y2", "matches": "x",
                   "title": {"text": "time (UTC)"}},
        "yaxis2": {"domain": [0.0, 0.3], "title": {"text": "by severity"}},
        "margin": {"l": 60, "r": 10, "t": 40, "b": 40},
        "height": 480,
        "hovermode": "closest",
        "uirevision": "security",
    }
