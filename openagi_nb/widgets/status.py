"""The dashboard's text: the status line of a stream and the table of a channel's newest rows,
as HTML fragments (pure functions of a stats snapshot and a frame)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any, Final

import pandas as pd

__all__ = ["newest_rows", "status_html"]

STATE_COLORS: Final = {
    "live": "#2ca02c", "connecting": "#ff7f0e", "reconnecting": "#ff7f0e", "new": "#7f7f7f",
    "stopped": "#7f7f7f", "failed": "#d62728",
}
ROWS: Final = 8


def _lag(stats: Any) -> str:
    lag = getattr(stats, "lag", None)
    return "n/a" if lag is None else f"{lag.total_seconds():.1f} s"


def _recording(stats: Any) -> str:
    recording = getattr(stats, "recording", None)
    return "off" if recording is None else html.escape(Path(recording).name)


def _batches(stats: Any) -> str:
    """What was negotiated, in a word or two: ``arrow lz4``, ``json``, ``off``, ``not offered``."""
    text = str(getattr(stats, "batching", "off"))
    return html.escape(text.split(",", 1)[0].replace(" by the server", "").split(":", 1)[0])


def status_html(stats: Any, *, paused: bool = False) -> str:
    """One line: state, events, events/s, lag, reconnects, gaps, rejects, batches, recording.

    ``stats`` is an ``EventStream.stats`` snapshot; a ``data-state`` attribute carries the
    state for scripts (the browser test reads it).
    """
    state = str(stats.state)
    colour = STATE_COLORS.get(state, "#7f7f7f")
    rejects = sum(stats.rejected.values())
    parts = [
        f"<b style='color:{colour}'>● {html.escape(state)}</b>",
        f"{stats.total:,} events", f"{stats.events_per_second:,.1f} events/s",
        f"lag {_lag(stats)}", f"reconnects {stats.reconnects}", f"gaps {stats.gaps}",
        f"rejects {rejects}", f"batches {_batches(stats)}", f"recording {_recording(stats)}",
    ]
    if paused:
        parts.append("<b>paused</b>")
    error = stats.last_error if state in ("failed", "reconnecting") else None
    if error:
        parts.append(f"<span style='color:#d62728'>{html.escape(str(error))}</span>")
    line = " · ".join(parts)
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
