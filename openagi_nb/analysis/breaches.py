"""Threshold breach episodes of ``metric_update`` samples, with ``for`` and hysteresis.

:func:`breaches` is re-exported by :mod:`openagi_nb.analysis.metrics`; it lives in its own module
because the episode logic is the subtlest code of the analysis library and is easier to read alone.

The logic runs on NumPy arrays sorted by (node, metric, time), one pass of vectorised steps; the
per-group state machine of an alerting rule (off -> pending -> firing -> off) becomes a forward
fill of "set" and "reset" marks that never crosses a group boundary.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any, Final

import numpy as np
import pandas as pd

from ..durations import Duration, duration
from ._dask import check_order, fold, is_dask
from ._dask import meta as _dask_meta
from ._prepare import (
    events,
    floats,
    group_codes,
    nanoseconds,
    order_key,
    series_order,
    stamps,
)

__all__ = ["breaches", "episode_times", "metric_samples"]

BREACH_COLUMNS: Final = (
    "node_id", "metric", "start", "end", "duration", "peak", "threshold", "ongoing",
)
Clear = float | Mapping[str, float] | None
Series = tuple[str, str]
"""A (node, metric) pair."""
Open = dict[Series, tuple[int, int, float, float]]
"""The episodes still open at a partition's end: start, end (ns), peak, threshold."""


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
    if is_dask(df):
        return _on_dask(df, hold.value, clear, metric)
    rows = metric_samples(df, metric, "breaches", need_threshold=True)
    return _episodes(*prepare(rows, clear, hold.value)[:8])


def prepare(
    rows: pd.DataFrame, clear: Clear, hold_ns: int, initial: Collection[Series] = ()
) -> tuple[Any, ...]:
    """The arrays of :func:`breaches`, sorted by series and time, with ``inside`` computed:
    ``inside, first, last, codes, keys, t, value, threshold, order``.

    ``initial``: the (node, metric) series already inside an episode before these rows (the
    carry of the Dask path); such a series' first row that neither sets nor resets continues it.
    """
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
    start = None
    if initial:
        open_ = [(str(n), str(m)) in initial for n, m in zip(*_key_columns(keys), strict=True)]
        start = np.where(open_, 1, -1).astype(np.int8)[codes]
    inside = _inside(first, last, t, value, threshold, levels, hold_ns, start)
    return inside, first, last, codes, keys, t, value, threshold, order


def _key_columns(keys: pd.DataFrame) -> tuple[list[Any], list[Any]]:
    return keys["node_id"].tolist(), keys["metric"].tolist()


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
    threshold: np.ndarray, levels: np.ndarray, hold_ns: int, start: np.ndarray | None = None,
) -> np.ndarray:
    """Which rows lie inside a counted episode.

    Runs of ``value > threshold`` that last ``hold_ns`` "set" the state on every row of the run
    (the episode starts at the run's first sample, not when it fired), rows at or below the
    recovery level "reset" it, other rows keep the state of the row before. The first row of a
    group that neither sets nor resets resets, so the forward fill never carries a state from
    one group into the next; ``start`` (per row: 1 or -1) replaces that reset with a series'
    state before its first row.
    """
    above = value > threshold
    starts, ends = _runs(above, first, last)
    counted = (t[ends] - t[starts]) >= hold_ns
    run_head = np.zeros(len(t), dtype=bool)
    run_head[starts] = True
    run_of_row = np.maximum(np.cumsum(run_head) - 1, 0)
    sets = above & counted[run_of_row] if len(starts) else np.zeros(len(t), dtype=bool)
    mark = np.where(sets, 1, np.where(value <= levels, -1, 0)).astype(np.int8)
    head = first & (mark == 0)
    mark[head] = -1 if start is None else start[head]
    source = np.where(mark != 0, np.arange(len(mark)), 0)
    np.maximum.accumulate(source, out=source)
    inside: np.ndarray = mark[source] == 1
    return inside


def _episodes(
    inside: np.ndarray, first: np.ndarray, last: np.ndarray, codes: np.ndarray,
    keys: pd.DataFrame, t: np.ndarray, value: np.ndarray, threshold: np.ndarray,
) -> pd.DataFrame:
    return _table(_raw(inside, first, last, codes, keys, t, value, threshold))


def _raw(
    inside: np.ndarray, first: np.ndarray, last: np.ndarray, codes: np.ndarray,
    keys: pd.DataFrame, t: np.ndarray, value: np.ndarray, threshold: np.ndarray,
) -> pd.DataFrame:
    """The episodes as plain columns (times in ns); ``head``: it starts at its series' first
    row, ``ongoing``: it ends at its series' last row."""
    starts, ends = _runs(inside, first, last)
    peaks = (
        np.maximum.reduceat(np.where(inside, value, -np.inf), starts) if len(starts)
        else np.empty(0)
    )
    group = codes[starts]
    return pd.DataFrame({
        "node_id": keys["node_id"].take(group).astype("string").reset_index(drop=True),
        "metric": keys["metric"].take(group).astype("string").reset_index(drop=True),
        "start": t[starts],
        "end": t[ends],
        "peak": peaks,
        "threshold": threshold[starts],
        "ongoing": last[ends],
        "head": first[starts],
    })


def _table(raw: pd.DataFrame) -> pd.DataFrame:
    start, end = raw["start"].to_numpy(np.int64), raw["end"].to_numpy(np.int64)
    out = pd.DataFrame({
        "node_id": raw["node_id"].astype("string").reset_index(drop=True),
        "metric": raw["metric"].astype("string").reset_index(drop=True),
        "start": stamps(start),
        "end": stamps(end),
        "duration": pd.to_timedelta(end - start, unit="ns"),
        "peak": raw["peak"].to_numpy(np.float64),
        "threshold": raw["threshold"].to_numpy(np.float64),
        "ongoing": raw["ongoing"].to_numpy(bool),
    })
    return out.sort_values(["start", "node_id", "metric"], kind="stable", ignore_index=True)


def _on_dask(
    ddf: Any, hold_ns: int, clear: Clear, metric: str | Iterable[str] | None
) -> pd.DataFrame:
    """:func:`breaches` of a Dask frame: a :func:`~._dask.fold` over the partitions in time
    order whose carry is, per series, the episode still open (start, end, peak, threshold) or
    the rows of an above-threshold run not yet long enough to count (at most ``for_`` of
    samples), so that an episode across partition boundaries comes out once, as pandas has it.
    """
    empty = metric_samples(_dask_meta(ddf), metric, "breaches", need_threshold=True)

    def step(
        part: pd.DataFrame, carry: tuple[pd.DataFrame, Open, int | None], final: bool
    ) -> tuple[pd.DataFrame, tuple[pd.DataFrame, Open, int | None]]:
        pending, open_, previous = carry
        rows = metric_samples(part, metric, "breaches", need_threshold=True)
        previous = check_order(previous, nanoseconds(rows["timestamp"]))
        rows = pd.concat([pending, rows]) if len(pending) else rows
        arrays = prepare(rows, clear, hold_ns, open_)
        inside, first, last, _, keys, _, value, threshold, order = arrays
        raw = _raw(*arrays[:8])
        emitted, still = _stitch(raw, open_, set(zip(*_key_columns(keys), strict=True)), final)
        above = value > threshold
        starts, ends = _runs(above, first, last)
        waiting = last[ends] & ~inside[ends]
        taken = [order[a:b + 1] for a, b in zip(starts[waiting], ends[waiting], strict=True)]
        pending = rows.iloc[np.concatenate(taken)] if taken else empty
        return emitted, (pending, still, previous)

    start: tuple[pd.DataFrame, Open, int | None] = (empty, {}, None)
    found = fold(ddf, step, start)
    return _table(pd.concat(found, ignore_index=True))


def _stitch(raw: pd.DataFrame, open_: Open, present: set[Series], final: bool
            ) -> tuple[pd.DataFrame, Open]:
    """This partition's episodes joined to those open before it: the finished ones, and those
    still open (all finished, as ``ongoing``, after the final partition)."""
    open_ = dict(open_)  # the carry is a task's input: never changed in place
    done: list[dict[Any, Any]] = []
    still: Open = {k: v for k, v in open_.items() if k not in present}
    for record in raw.to_dict("records"):
        key = (str(record["node_id"]), str(record["metric"]))
        if record["head"] and key in open_:
            start, _, peak, threshold = open_.pop(key)
            record.update(start=start, peak=max(peak, record["peak"]), threshold=threshold)
        if record["ongoing"] and not final:
            still[key] = (record["start"], record["end"], record["peak"], record["threshold"])
        else:
            done.append(record)
    ended = {k: v for k, v in open_.items() if k in present}
    for (node, metric), (start, end, peak, threshold) in (ended | (still if final else {})).items():
        done.append({"node_id": node, "metric": metric, "start": start, "end": end, "peak": peak,
                     "threshold": threshold, "ongoing": final and (node, metric) in still})
    columns = ["node_id", "metric", "start", "end", "peak", "threshold", "ongoing"]
    return pd.DataFrame(done, columns=columns), ({} if final else still)
