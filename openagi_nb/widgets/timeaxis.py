"""Time on the x axis: what the figures send, what a zoom sends back, and bin widths.

Every figure of this package puts time on a ``type="date"`` axis as float milliseconds since
the epoch (UTC). plotly.js reads numbers on a date axis as exactly that, and a FigureWidget sends a
float64 array as one binary buffer (8 bytes a point) where datetimes would go as ISO strings
(about 30 bytes a point, plus JSON quoting). A zoom comes back from the browser as date strings
(``"2026-01-05 09:05:12.345"``, UTC), which :func:`parse_when` reads.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Final

import numpy as np
import pandas as pd

from ..durations import positive

__all__ = ["as_ns", "bin_width", "ms", "parse_when", "span"]

NAT: Final = int(np.iinfo(np.int64).min)
_NICE_WIDTHS: Final = ("1s", "2s", "5s", "10s", "15s", "30s", "1min", "2min", "5min", "10min",
                       "15min", "30min", "1h", "2h", "6h", "12h", "1D")


def as_ns(series: pd.Series | pd.Index) -> np.ndarray:
    """A timestamp column as int64 nanoseconds (UTC; naive taken as UTC; NaT as INT64_MIN)."""
    index = pd.DatetimeIndex(series)
    if index.tz is None:
        index = index.tz_localize("UTC")
    return np.asarray(index.as_unit("ns").asi8, dtype=np.int64)


def ms(ns: np.ndarray) -> np.ndarray:
    """int64 nanoseconds as float64 milliseconds, the x values of every figure (NaT -> NaN)."""
    out = np.asarray(ns, dtype=np.int64).astype(np.float64) / 1e6
    out[np.asarray(ns) == NAT] = np.nan
    return out


def parse_when(value: Any) -> int:
    """One end of an axis range as plotly.js reports it (a date string in UTC, or a number of
    milliseconds) as int64 nanoseconds.

    Raises:
        ValueError: ``value`` is neither.
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value * 1e6)
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise ValueError(f"not a time on a date axis: {value!r}") from None
    if pd.isna(stamp):
        raise ValueError(f"not a time on a date axis: {value!r}")
    stamp = stamp.tz_localize("UTC") if stamp.tz is None else stamp.tz_convert("UTC")
    return int(stamp.as_unit("ns").value)


def span(window: str | timedelta | pd.Timedelta | None, name: str = "window") -> int | None:
    """A window length as nanoseconds (``None``: no window, everything the frame holds).

    Raises:
        ValueError: not a positive duration.
    """
    return None if window is None else int(positive(window, name).value)


def bin_width(ns: int, bins: int = 60) -> str:
    """The smallest round width (``"10s"``, ``"5min"``...) that cuts ``ns`` into at most
    ``bins`` bins: bar charts keep a readable bar count whatever the window or zoom."""
    for width in _NICE_WIDTHS:
        if pd.Timedelta(width).value * bins >= ns:
            return width
    return _NICE_WIDTHS[-1]
