"""Downsampling a time series to what a plot can show: min-max per bin, in NumPy.

A live plot that sends every sample of a 1M-row window resends megabytes per refresh and makes
plotly.js draw more points than the plot has pixels. :func:`minmax` keeps, for each of about
``n_out / 2`` bins of consecutive samples, the lowest and the highest, plus the first and last
sample: the drawn line keeps its envelope, and a single sample over a threshold is never dropped
(LTTB and MinMaxLTTB pick "representative" points and can drop such a spike; for monitoring
against thresholds the extremes are what matter). It is one reshape and two ``argmin``/``argmax``
passes, about 1.5 ms for 1M points: no extra dependency earns its place over it
(``benchmarks/bench_plot.py`` measures both).

:func:`visible` cuts a time-sorted series to a zoomed range first, so a zoom shows the full detail
of the range it covers (the approach of plotly-resampler).
"""

from __future__ import annotations

from typing import Final

import numpy as np

__all__ = ["MAX_POINTS", "TOTAL_POINTS", "minmax", "visible"]

MAX_POINTS: Final = 2000
"""Points per trace at most (a plot is about 1,000 px wide: a min and a max per pixel)."""
TOTAL_POINTS: Final = 20_000
"""Points of all the lines of one plot at most: 25 nodes get 800 each (320 KB a refresh)."""


def minmax(y: np.ndarray, n_out: int = MAX_POINTS) -> np.ndarray:
    """Indices (sorted) of at most ``n_out`` samples of ``y`` that keep its envelope.

    Use it on each trace before sending it to the browser; index the x and y arrays with the
    result. A series of ``n_out`` samples or fewer is kept whole.

    Args:
        y: the values, in time order (NaN marks a gap; a bin holding one keeps it).
        n_out: the most indices to return (at least 4: first, last, one min and one max).

    Raises:
        ValueError: ``n_out`` below 4.
    """
    if n_out < 4:
        raise ValueError(f"n_out must be at least 4, got {n_out}")
    n = len(y)
    if n <= n_out:
        return np.arange(n)
    bins = (n_out - 2) // 2
    size = -(-n // bins)  # ceil: the last bin is padded with the last value
    table = np.pad(y, (0, bins * size - n), mode="edge").reshape(bins, size)
    base = np.arange(bins) * size
    low = np.minimum(table.argmin(axis=1) + base, n - 1)
    high = np.minimum(table.argmax(axis=1) + base, n - 1)
    picked: np.ndarray = np.unique(np.concatenate(([0, n - 1], low, high)))
    return picked


def visible(x: np.ndarray, lo: int | None, hi: int | None) -> slice:
    """The slice of time-sorted ``x`` that a plot showing ``[lo, hi]`` needs.

    One sample beyond each end is included so that the line reaches the plot's edges instead of
    stopping at the last sample inside. ``None`` leaves that end open.
    """
    start = 0 if lo is None else max(int(np.searchsorted(x, lo, "left")) - 1, 0)
    stop = len(x) if hi is None else min(int(np.searchsorted(x, hi, "right")) + 1, len(x))
    return slice(start, stop)
