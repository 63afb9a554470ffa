"""The dashboard's text: the status line of a stream and the table of a channel's newest rows,
as HTML fragments (pure functions of a stats snapshot and a frame)."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Final

import pandas as pd

if TYPE_CHECKING:
    from ..stream import StreamStats

__all__ = ["newest_rows", "status_html"]

STATE_COLORS: Final = {
    "live": "#2ca02c", "connecting": "#ff7f0e", "reconnecting": "#ff7f0e", "new": "#7f7f7f",
    "stopped": "#7f7f7f", "failed": "#d62728",
}
ROWS: Final = 8


def status_html(stats: StreamStats, *, paused: bool = False) -> str:
    """One line: the parts of ``str(stats)`` (:meth:`StreamStats.parts`: state, events,
    events/s, lag, reconnects, gaps, rejected, batches...), escaped, the state coloured, and
    ``recording off`` when not recording; the last error only while it matters (failed,
    reconnecting): once live again it is history.

    ``stats`` is an ``EventStream.stats`` snapshot; a ``data-state`` attribute carries the
    state for scripts (the browser test reads it).
    """
    state = str(stats.state)
    colour = STATE_COLORS.get(state, "#7f7f7f")
    parts = stats.parts()
    error = parts.pop("last_error", None)
    parts.setdefault("recording", "recording off")
    shown = [html.escape(text) for name, text in parts.items() if name != "state"]
    line = " · ".join([f"<b style='color:{colour}'>● {html.escape(state)}</b>", *shown])
    if paused:
        line += " · <b>paused</b>"
    if error and state in ("failed", "reconnecting"):
        line += f" · <span style='color:#d62728'>{html.escape(error)}</span>"
    return f"<span class='openagi-status-line' data-state='{html.escape(state)}'>{line}</span>"


def newest_rows(df: pd.DataFrame, n: int = ROWS) -> str:
    """The ``n`` newest rows of a channel's frame as an HTML table, newest first, with only
    the columns that hold something in them (values escaped)."""
    if not len(df):
        return "<i>no events yet</i>"
    tail = df.iloc[-n:][::-1]
    keep = [c for c in tail.columns if c != "extra" and tail[c].notna().any()]
    table = tail[keep].copy()
    if "timestamp" in table.columns:
        table["timestamp"] = table["timestamp"].dt.strftime("%H:%M:%S.%f").str[:-3]
    return str(table.to_html(index=False, na_rep="", border=0, escape=True,
                             classes="openagi-rows"))
