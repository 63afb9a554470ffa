"""Threshold breach episodes of ``metric_update`` samples, with ``for`` and hysteresis.

:func:`breaches` is re-exported by :mod:`openagi_nb.analysis.metrics`; it lives in its own module
because the episode logic is the subtlest code of the analysis library and is easier to read alone.

The logic runs on NumPy arrays sorted by (node, metric, time), one pass of vectorised steps; the
per-group state machine of an alerting rule (off -> pending -> firing -> off) becomes a forward
fill of "set" and "reset" marks that never crosses a group boundary.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

import numpy as np
import pandas as pd

from ..durations import Duration, duration
from ._prepare import events, floats, group_codes, nanoseconds, order_key, series_order, stamps

__all__ = ["breaches", "episode_times", "metric_samples"]

BREACH_COLUMNS: Final = (
    "node_id", "metric", "start", "end", "duration", "peak", "threshold", "ongoing",
)
Clear = float | Mapping[str, float] | None


def breaches(
    df: pd.DataFrame,
    *,
    for_: Duration = "0s",
    clear: Clear = None,
    metric: str | Iterable[str] | None = None,
) -> pd.DataFrame:
    """Alert episodes: when a metric went above its threshold and stayed there.

    Use it to turn a monitoring frame into the alerts a Prometheus rule with ``for`` and a Grafana
    recovery threshold would have fired, per node and metric:

    - An episode starts at the first sample with ``value > threshold``.
    - It counts only if the condition then holds, sample after sample, for at least ``for_``:
      the last sample of that unbroken run is at least ``for_`` after the first. A shorter spike
      is no episode (a run still pending when the data ends is not reported either).
    - Once counted it lasts until a sample with ``value <= clear``; samples between ``clear``
      and the threshold keep it going. That sample is not part of the episode: ``end`` is the
      last sample still in it, ``duration = end - start``.
    - ``ongoing`` is true when the data ends inside the episode (no sample cleared it).

    Only ``metric_update`` rows with a node, a metric, a value and a threshold are read; rows
    with any of them missing are skipped as if the sample had not been taken. The threshold is
    each sample's own. Input order does not matter: samples are ordered by time, then ``seq``.

    Args:
        df: a ``monitoring_events`` frame.
        for_: how long the condition must hold before an episode counts (``"2min"``).
        clear: the recovery level: a number for every metric, or a mapping metric -> number
            (metrics not in it recover at their threshold). ``None``: the threshold.
        metric: only this metric (or these metrics).

    Returns:
        One row per episode, ordered by ``start``: ``node_id``, ``metric``, ``start``, ``end``,
        ``duration`` (Timedelta), ``peak`` (highest value in the episode), ``threshold`` (at
        the start), ``ongoing`` (bool).

    Raises:
        ValueError: ``for_`` is not a duration >= 0, ``clear`` is not a number, or ``clear`` is
            above the threshold of a sample it applies to (it would end episodes before they
            start).
    """
    hold = duration(for_, "for_")
    rows = metric_samples(df, metric, "breaches", need_threshold=True)
    codes, keys = group_codes(rows, ["node_id", "metric"])
    t = nanoseconds(rows["timestamp"])
    value = floats(rows["value"])
    threshold = floats(rows["threshold"])
    levels = _clear_levels(rows, threshold, clear)
    order = series_order(codes, t, order_key(rows))
    codes, t, value, threshold, levels = (
        a[order] for a in (codes, t, value, threshold, levels)
    )
    first, last = _edges(codes)
    inside = _inside(first, last, t, value, threshold, levels, hold.value)
    return _episodes(inside, first, last, codes, keys, t, value, threshold)


def episode_times(
    series: np.ndarray, t: np.ndarray, value: np.ndarray, threshold: np.ndarray,
    tiebreak: np.ndarray | None, *, for_: Duration = "0s",
) -> tuple[np.ndarray, np.ndarray]:
    """The ``start`` and ``end`` (ns) of the episodes :func:`breaches` finds, from arrays:
    for a live plot, which has the samples as arrays already and needs no more than that.

    Args:
        series: which series (a node and metric) each sample is of, as integer codes.
        t: sample times (ns); ``value``, ``threshold``: the samples (no NaN).
        tiebreak: orders samples of the same time (``seq``, NA as the largest value); None:
            the arrays are sorted by series, then time, then that order already.
        for_: as for :func:`breaches` (``clear`` is the threshold).
    """
    hold = duration(for_, "for_")
    if tiebreak is not None:
        order = series_order(series, t, tiebreak)
        series, t, value, threshold = (a[order] for a in (series, t, value, threshold))
    first, last = _edges(series)
    inside = _inside(first, last, t, value, threshold, threshold, hold.value)
    starts, ends = _runs(inside, first, last)
    return t[starts], t[ends]


def metric_samples(
    df: pd.DataFrame, metric: str | Iterable[str] | None, who: str, *, need_threshold: bool
) -> pd.DataFrame:
    """The ``metric_update`` rows with a node, a metric and a value (and a threshold if asked)."""
    needed = ["node_id", "metric", "value", "threshold"]
    rows = events(df, ["metric_update"], needed, who)
    mask = rows["node_id"].notna() & rows["metric"].notna() & rows["value"].notna()
    if need_threshold:
        mask &= rows["threshold"].notna()
    if metric is not None:
        wanted = [metric] if isinstance(metric, str) else list(metric)
        mask &= rows["metric"].isin(wanted)
    return rows.loc[mask.to_numpy(bool)]


def _clear_levels(rows: pd.DataFrame, threshold: np.ndarray, clear: Clear) -> np.ndarray:
    if clear is None:
        return threshold.copy()
    if isinstance(clear, Mapping):
        mapped = rows["metric"].map(dict(clear)).astype("float64")
        levels = np.where(mapped.isna().to_numpy(bool), threshold, floats(mapped))
    else:
        if isinstance(clear, bool) or not isinstance(clear, int | float) or np.isnan(clear):
            raise ValueError(
                f"clear: expected a number or a mapping metric -> number, got {clear!r}"
            )
        levels = np.full(len(rows), float(clear))
    above = levels > threshold
    if above.any():
        i = int(np.flatnonzero(above)[0])
        raise ValueError(
            f"clear {levels[i]:g} is above the threshold {threshold[i]:g} of metric "
            f"{rows['metric'].iloc[i]!r}: a recovery level must be <= the threshold"
        )
    return levels


def _edges(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Masks of the first and the last row of each group in group-sorted ``codes``."""
    first = np.ones(len(codes), dtype=bool)
    first[1:] = codes[1:] != codes[:-1]
    last = np.ones(len(codes), dtype=bool)
    last[:-1] = first[1:]
    return first, last


def _runs(mask: np.ndarray, first: np.ndarray, last: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the first and the last row of each unbroken run of ``mask`` within a group."""
    before = np.concatenate(([False], mask[:-1]))
    after = np.concatenate((mask[1:], [False]))
    starts = np.flatnonzero(mask & (first | ~before))
    ends = np.flatnonzero(mask & (last | ~after))
    return starts, ends


def _inside(
    first: np.ndarray, last: np.ndarray, t: np.ndarray, value: np.ndarray,
    threshold: np.ndarray, levels: np.ndarray, hold_ns: int,
) -> np.ndarray:
    """Which rows lie inside a counted episode.

    Runs of ``value > threshold`` that last ``hold_ns`` "set" the state on every row of the run
    (the episode starts at the run's first sample, not when it fired), rows at or below the
    recovery level "reset" it, other rows keep the state of the row before. The first row of a
    group that neither sets nor resets resets, so the forward fill never carries a state from
    one group into the next.
    """
    above = value > threshold
    starts, ends = _runs(above, first, last)
    counted = (t[ends] - t[starts]) >= hold_ns
    run_head = np.zeros(len(t), dtype=bool)
    run_head[starts] = True
    run_of_row = np.maximum(np.cumsum(run_head) - 1, 0)
    sets = above & counted[run_of_row] if len(starts) else np.zeros(len(t), dtype=bool)
    mark = np.where(sets, 1, np.where(value <= levels, -1, 0)).astype(np.int8)
    mark[first & (mark == 0)] = -1
    source = np.where(mark != 0, np.arange(len(mark)), 0)
    np.maximum.accumulate(source, out=source)
    inside: np.ndarray = mark[source] == 1
    return inside


def _episodes(
    inside: np.ndarray, first: np.ndarray, last: np.ndarray, codes: np.ndarray,
    keys: pd.DataFrame, t: np.ndarray, value: np.ndarray, threshold: np.ndarray,
) -> pd.DataFrame:
    starts, ends = _runs(inside, first, last)
    peaks = (
        np.maximum.reduceat(np.where(inside, value, -np.inf), starts) if len(starts)
        else np.empty(0)
    )
    group = codes[starts]
    out = pd.DataFrame({
        "node_id": keys["node_id"].take(group).astype("string").reset_index(drop=True),
        "metric": keys["metric"].take(group).astype("string").reset_index(drop=True),
        "start": stamps(t[starts]),
        "end": stamps(t[ends]),
        "duration": pd.to_timedelta(t[ends] - t[starts], unit="ns"),
        "peak": peaks,
        "threshold": threshold[starts],
        "ongoing": last[ends],
    })
    return out.sort_values(["start", "node_id", "metric"], kind="stable", ignore_index=True)
