"""Membership of the network from a ``network_events`` frame: who joined and left, how many nodes
were active, churn over time, and the partitions that were detected.

A frame covers a stretch of time, not the network's whole life: a node whose first event in it is
``node_left`` was active before the frame began, and :func:`membership` counts it so, rather than
letting the count go below zero.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import numpy as np
import pandas as pd

from ._dask import is_dask, select
from ._prepare import events, frequency, group_codes, nanoseconds, order_key

__all__ = ["churn", "membership", "partitions"]

CHANGE: Final = pd.CategoricalDtype(["joined", "left"])
_MEMBERSHIP_EVENTS: Final = {"node_joined": "joined", "node_left": "left"}


def membership(df: pd.DataFrame, *, initial: Iterable[str] = ()) -> pd.DataFrame:
    """Every join and leave, with the number of active nodes right after it (a step series).

    A node is active from a ``node_joined`` until a ``node_left``; a repeated join (or leave)
    changes nothing. The network only announces changes, so the count needs to know who was
    there before the frame began: a node whose first event here is a leave was active; one
    whose first event is a join was not; and ``initial`` names the nodes known to be active
    otherwise (say, every node seen in the monitoring frame) — those with no join or leave here
    add to the count throughout. Rows without a ``node_id`` are skipped.

    Args:
        df: a ``network_events`` frame.
        initial: nodes active before the frame's first event, as far as known.

    Returns:
        ``timestamp``, ``node_id``, ``change`` (category joined/left), ``reason`` (for leaves:
        graceful, timeout, banned), ``active_nodes``; by time (then ``seq``).
    """
    return _steps(df, initial)[0]


def _steps(df: pd.DataFrame, initial: Iterable[str]) -> tuple[pd.DataFrame, int]:
    """:func:`membership` and the number of nodes active before its first row.

    On Dask the joins and leaves are gathered: they are the rows of the result.
    """
    rows = select(df, _changes) if is_dask(df) else _changes(df)
    rows = rows.iloc[np.lexsort((order_key(rows), nanoseconds(rows["timestamp"])))]
    codes, keys = group_codes(rows, ["node_id"])
    joined = (rows["event"] == "node_joined").to_numpy(bool)
    state = joined.astype(np.int64)
    before = _previous_state(codes, state)
    silent = set(initial) - set(keys["node_id"].dropna())
    at_start = int(np.sum(before[_first_of_node(codes)])) + len(silent)
    table = pd.DataFrame({
        "timestamp": rows["timestamp"].array,
        "node_id": rows["node_id"].astype("string").array,
        "change": pd.Categorical(np.where(joined, "joined", "left"), dtype=CHANGE),
        "reason": rows["reason"].array,
        "active_nodes": at_start + np.cumsum(state - before),
    })
    return table, at_start


def _changes(df: pd.DataFrame) -> pd.DataFrame:
    rows = events(df, list(_MEMBERSHIP_EVENTS), ["node_id", "reason"], "membership")
    return rows.loc[rows["node_id"].notna().to_numpy(bool)]


def _first_of_node(codes: np.ndarray) -> np.ndarray:
    """Mask of each node's first row (rows in time order)."""
    first = np.zeros(len(codes), dtype=bool)
    _, index = np.unique(codes, return_index=True)
    first[index] = True
    return first


def _previous_state(codes: np.ndarray, state: np.ndarray) -> np.ndarray:
    """Each row's node's state before it: the state of the node's previous row, or for its first
    row the state it must have had (inactive if it starts by joining, active if by leaving)."""
    by_node = np.lexsort((np.arange(len(codes)), codes))
    node_codes, node_state = codes[by_node], state[by_node]
    shifted = np.empty_like(node_state)
    shifted[1:] = node_state[:-1]
    first = np.ones(len(codes), dtype=bool)
    first[1:] = node_codes[1:] != node_codes[:-1]
    shifted[first] = 1 - node_state[first]
    before = np.empty_like(state)
    before[by_node] = shifted
    return before


def churn(df: pd.DataFrame, freq: str = "10min", *, initial: Iterable[str] = ()) -> pd.DataFrame:
    """Joins and leaves per time bin, and how many nodes were active at each bin's end.

    Args:
        df: a ``network_events`` frame.
        freq: the bin width (``"10min"``, ``"1h"``).
        initial: as for :func:`membership`.

    Returns:
        Indexed by bin start (every bin from the first join/leave to the last): ``joined``,
        ``left`` (counts of events), ``net`` (change of ``active_nodes`` over the bin),
        ``active_nodes`` (at the bin's end).
    """
    frequency(freq)
    steps, at_start = _steps(df, initial)
    by_time = steps.set_index("timestamp")
    change = by_time["change"]
    active = by_time["active_nodes"].resample(freq).last().ffill().fillna(at_start)
    out = pd.DataFrame({
        "joined": (change == "joined").astype(np.int64).resample(freq).sum(),
        "left": (change == "left").astype(np.int64).resample(freq).sum(),
        "net": active.diff().fillna(active - at_start),
        "active_nodes": active,
    }).astype(np.int64)
    out.index.name = "time"
    return out


def partitions(df: pd.DataFrame) -> pd.DataFrame:
    """Network partitions detected, one row per partition however many nodes reported it.

    Reports with the same ``partition_id`` are one partition; reports without one stay apart.

    Returns:
        ``partition_id``, ``start`` and ``end`` (first and last report), ``nodes`` (sorted list
        of the nodes cut off, over all reports), ``size`` (their number), ``detected_by``
        (sorted, comma-separated reporters), ``reports``; by start.
    """
    def chosen(frame: pd.DataFrame) -> pd.DataFrame:
        return events(frame, ["network_partition"], ["partition_id", "nodes", "detected_by"],
                      "partitions")

    rows = select(df, chosen) if is_dask(df) else chosen(df)  # on Dask: the few reports
    rows = rows.iloc[np.lexsort((order_key(rows), nanoseconds(rows["timestamp"])))]
    ids, _ = pd.factorize(rows["partition_id"])
    alone = ids < 0
    ids[alone] = ids.max(initial=-1) + 1 + np.arange(int(alone.sum()))
    grouped = rows.groupby(ids, sort=False)
    table = grouped.agg(
        partition_id=("partition_id", "first"), start=("timestamp", "min"),
        end=("timestamp", "max"), reports=("timestamp", "size"),
    )
    # per partition, not per row: a capture holds a handful of partitions
    nodes = [
        sorted({n for lst in group.dropna() for n in lst})
        for _, group in grouped["nodes"]
    ]
    detectors = grouped["detected_by"].agg(lambda d: ", ".join(sorted(set(d.dropna()))))
    out = pd.DataFrame({
        "partition_id": table["partition_id"].astype("string").array,
        "start": table["start"].array,
        "end": table["end"].array,
        "nodes": pd.Series(nodes, dtype=rows["nodes"].dtype).array,
        "size": np.array([len(n) for n in nodes], dtype=np.int64),
        "detected_by": detectors.astype("string").array,
        "reports": table["reports"].to_numpy(np.int64),
    })
    return out.sort_values("start", kind="stable", ignore_index=True)
