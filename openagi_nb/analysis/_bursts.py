"""Bursts of attack traffic (:func:`bursts`, re-exported by :mod:`.security`), on a pandas
frame or, stitched across partition boundaries, on a Dask one."""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import pandas as pd

from ..durations import Duration, positive
from ._dask import check_order, fold, is_dask, meta
from ._prepare import events, nanoseconds, order_key, stamps

__all__ = ["ATTACKS", "bursts", "time_sorted"]

ATTACKS: Final = ("intrusion_detected", "attack_blocked")
SHOWN_IPS: Final = 10
"""How many of a burst's source IPs ``bursts`` names (the most active ones)."""


def time_sorted(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` by time, then ``seq``."""
    order = np.lexsort((order_key(rows), nanoseconds(rows["timestamp"])))
    return rows.iloc[order]


def bursts(df: pd.DataFrame, window: Duration = "1min", min_events: int = 100) -> pd.DataFrame:
    """Bursts of attack traffic: stretches where some ``window`` held at least ``min_events``.

    Use it to find a DDoS or a scan among the background of attacks. The window slides over
    the attack events (not fixed bins, so a burst across a minute boundary is not split): every
    window of length ``window`` ending at an event and holding ``min_events`` or more is hot,
    and overlapping hot windows merge into one burst. A hot window also catches the background
    events just before the surge, so a burst is then reported from the first to the last event
    of its main attack type (the most frequent one): its start and end are the surge's own.

    Args:
        df: a ``security_events`` frame (``intrusion_detected`` and ``attack_blocked`` read).
        window: the sliding window's length.
        min_events: the fewest events in a window for it to be hot.

    Returns:
        ``start``, ``end``, ``events`` (attack events of any type from start to end),
        ``attack_type`` (the main one), ``sources`` (how many source IPs sent the main type),
        ``source_ips`` (the up to 10 most active of them, comma-separated); by start.
    """
    span = positive(window, "window").value
    if min_events < 1:
        raise ValueError(f"min_events: expected at least 1, got {min_events!r}")
    if is_dask(df):
        return _on_dask(df, span, min_events)
    rows = time_sorted(_attacks(df))
    t = nanoseconds(rows["timestamp"])
    first, last = _hot_ranges(t, span, min_events)
    return _table(rows, t, first, last)


def _attacks(df: pd.DataFrame) -> pd.DataFrame:
    return events(df, ATTACKS, ["attack_type", "source_ip"], "bursts")


def _table(rows: pd.DataFrame, t: np.ndarray, first: np.ndarray, last: np.ndarray
           ) -> pd.DataFrame:
    """The bursts over the index ranges ``first..last`` of the time-sorted ``rows``."""
    label = _labels(len(t), first, last)
    caught = label >= 0
    inside = rows.loc[caught].assign(burst=label[caught], position=np.flatnonzero(caught))
    main = _mode(inside, "attack_type", len(first))
    wanted = pd.Series(main).take(inside["burst"].to_numpy()).to_numpy(object)
    core = inside.loc[(inside["attack_type"].to_numpy(object) == wanted) | pd.isna(wanted)]
    by_burst = core.groupby("burst")
    begin = by_burst["position"].min().reindex(range(len(first))).to_numpy(np.int64)
    finish = by_burst["position"].max().reindex(range(len(first))).to_numpy(np.int64)
    return pd.DataFrame({
        "start": stamps(t[begin]),
        "end": stamps(t[finish]),
        "events": (finish - begin + 1).astype(np.int64),
        "attack_type": pd.array(main, dtype="string"),
        "sources": by_burst["source_ip"].nunique().reindex(range(len(first)), fill_value=0)
        .to_numpy(np.int64),
        "source_ips": pd.array(_top_ips(core, len(first)), dtype="string"),
    })


def _on_dask(ddf: Any, span: int, min_events: int) -> pd.DataFrame:
    """:func:`bursts` of a Dask frame: a :func:`~._dask.fold` over the partitions in time order
    whose carry is the last ``window`` of attack events, and the events of the last burst when
    a later window could still extend it; such a burst is reported once it is closed (or at the
    end), from all its events, so a burst across partition boundaries is one burst.

    Only hot windows ending at carried events of that open burst (or at new events) count: the
    windows ending at the other carried events were judged with the partition before.
    """
    empty = _attacks(meta(ddf)).assign(may_end=np.zeros(0, dtype=bool))

    def step(
        part: pd.DataFrame, carry: tuple[pd.DataFrame, int | None], final: bool
    ) -> tuple[pd.DataFrame, tuple[pd.DataFrame, int | None]]:
        tail, previous = carry
        new = _attacks(part)
        previous = check_order(previous, nanoseconds(new["timestamp"]))
        rows = time_sorted(pd.concat([tail, new.assign(may_end=True)]))
        t = nanoseconds(rows["timestamp"])
        first, last = _hot_ranges(t, span, min_events, rows["may_end"].to_numpy(bool))
        keep = len(t) if not len(t) else int(np.searchsorted(t, t[-1] - span, side="left"))
        done = len(first)
        if not final and done and t[last[-1]] >= t[-1] - span:  # a later window may reach it
            done -= 1
            keep = min(keep, int(first[-1]))
        table = _table(rows, t, first[:done], last[:done])
        tail = rows.iloc[keep:]
        opened = np.arange(keep, len(rows)) >= (first[-1] if done < len(first) else len(rows))
        return table, (tail.assign(may_end=opened), previous)

    start: tuple[pd.DataFrame, int | None] = (empty, None)
    found = pd.concat(fold(ddf, step, start), ignore_index=True)
    return found.sort_values("start", kind="stable", ignore_index=True)


def _hot_ranges(
    t: np.ndarray, span: int, min_events: int, may_end: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """First and last index of each run of overlapping hot windows over sorted times ``t``
    (only windows ending at a ``may_end`` row, if given)."""
    left = np.searchsorted(t, t - span, side="left")
    hot = np.arange(len(t)) - left + 1 >= min_events
    ends = np.flatnonzero(hot if may_end is None else hot & may_end)
    if not len(ends):
        return ends, ends
    new = np.concatenate(([True], left[ends[1:]] > ends[:-1]))
    return left[ends[new]], ends[np.concatenate((new[1:], [True]))]


def _labels(size: int, first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Burst number of each row given the disjoint, sorted index ranges ``first..last``; -1
    outside every burst."""
    edge = np.zeros(size + 1, dtype=np.int64)
    np.add.at(edge, first, 1)
    np.add.at(edge, last + 1, -1)
    head = np.zeros(size, dtype=np.int64)
    head[first] = 1
    return np.where(np.cumsum(edge)[:size] > 0, np.cumsum(head) - 1, -1)


def _mode(rows: pd.DataFrame, column: str, groups: int) -> np.ndarray:
    """The most frequent ``column`` value of each burst (ties: the first in sort order)."""
    counts = rows.groupby(["burst", column]).size().rename("n").reset_index()
    counts = counts.sort_values(["burst", "n", column], ascending=[True, False, True])
    top = counts.drop_duplicates("burst").set_index("burst")[column]
    return top.reindex(range(groups)).to_numpy(object)


def _top_ips(rows: pd.DataFrame, groups: int) -> np.ndarray:
    counts = rows.groupby(["burst", "source_ip"]).size().rename("n").reset_index()
    counts = counts.sort_values(["burst", "n", "source_ip"], ascending=[True, False, True])
    shown = counts.groupby("burst").head(SHOWN_IPS)
    joined = shown.groupby("burst")["source_ip"].agg(", ".join)
    return joined.reindex(range(groups)).to_numpy(object)


