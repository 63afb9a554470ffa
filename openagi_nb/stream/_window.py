"""How much of a channel a :class:`~._live_frame.LiveFrame` keeps: rows or a time span."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd

from ..durations import positive

__all__ = ["Window", "parse_window"]

Window = int | str | timedelta | pd.Timedelta
"""A row count (``1_000_000``) or a time span relative to the newest event (``"15min"``)."""


def parse_window(window: Window) -> tuple[int | None, int | None]:
    """``(max_rows, span_ns)`` of a window, or ``ValueError`` naming it."""
    if isinstance(window, bool):
        raise ValueError(f"invalid window {window!r}")
    if isinstance(window, int):
        if window < 1:
            raise ValueError(f"window must be at least 1 row, got {window}")
        return window, None
    return None, int(positive(window, "window (rows or a time span)").value)
