"""Tests for openagi_nb.analysis.network on hand-built network event frames."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from openagi_nb import model
from openagi_nb.analysis import network

from .events import Event, at
from .events import frame as events_frame

NET = "network_events"


def frame(events: list[Event]) -> pd.DataFrame:
    return events_frame(NET, events)


def joined(sec: float, node: str) -> tuple[float, str, dict[str, Any]]:
    return sec, "node_joined", {"node_id": node, "address": f"{node}.onion"}


def left(sec: float, node: str, reason: str = "graceful") -> tuple[float, str, dict[str, Any]]:
    return sec, "node_left", {"node_id": node, "address": f"{node}.onion", "reason": reason}


def partition(sec: float, pid: str | None, nodes: list[str], by: str
              ) -> tuple[float, str, dict[str, Any]]:
    data: dict[str, Any] = {"nodes": nodes, "detected_by": by}
    if pid is not None:
        data["partition_id"] = pid
    return sec, "network_partition", data


# --- membership ---------------------------------------------------------------------------


def test_membership_step_series():
    out = network.membership(frame([joined(0, "a"), joined(10, "b"), left(20, "a", "timeout")]))
    assert list(out.columns) == ["timestamp", "node_id", "change", "reason", "active_nodes"]
    assert out[["node_id", "change", "active_nodes"]].values.tolist() == [
        ["a", "joined", 1], ["b", "joined", 2], ["a", "left", 1]]
    assert out["reason"].iloc[2] == "timeout"


def test_membership_node_leaving_first_was_active_before():
    out = network.membership(frame([left(5, "x"), joined(10, "y")]))
    assert out["active_nodes"].tolist() == [0, 1]


def test_membership_repeated_join_or_leave_changes_nothing():
    out = network.membership(frame([joined(0, "a"), joined(1, "a"), left(2, "a"), left(3, "a")]))
    assert out["active_nodes"].tolist() == [1, 1, 0, 0]


def test_membership_initial_nodes_without_events_count_throughout():
    events = [joined(0, "late"), left(10, "old")]
    out = network.membership(frame(events), initial=["old", "quiet1", "quiet2", "late"])
    # "late" joined here so it was not there before; "old" is counted once
    assert out["active_nodes"].tolist() == [4, 3]


def test_membership_unsorted_input_and_other_events_ignored():
    events = [left(20, "a"), partition(15, "p", ["a"], "b"), joined(0, "a"), joined(10, "b")]
    out = network.membership(frame(events))
    assert list(out["timestamp"]) == [at(0), at(10), at(20)]
    assert out["active_nodes"].tolist() == [1, 2, 1]


def test_membership_empty_has_columns():
    out = network.membership(model.empty_frame(NET))
    assert out.empty
    assert list(out.columns) == ["timestamp", "node_id", "change", "reason", "active_nodes"]


# --- churn --------------------------------------------------------------------------------


def test_churn_per_bin_with_active_count_at_bin_end():
    events = [left(30, "x"), joined(60, "a"), joined(70, "b"), left(200, "a")]
    out = network.churn(frame(events), "1min")
    assert list(out.columns) == ["joined", "left", "net", "active_nodes"]
    assert list(out.index) == [at(0), at(60), at(120), at(180)]
    assert out.values.tolist() == [[0, 1, -1, 0], [2, 0, 2, 2], [0, 0, 0, 2], [0, 1, -1, 1]]


def test_churn_initial_nodes():
    out = network.churn(frame([joined(0, "a")]), "1min", initial=["q"])
    assert out[["net", "active_nodes"]].values.tolist() == [[1, 2]]


def test_churn_empty():
    assert network.churn(model.empty_frame(NET)).empty


# --- partitions ---------------------------------------------------------------------------


def test_partitions_one_row_per_partition_over_reports():
    df = frame([partition(10, "p1", ["b", "a"], "c"), partition(12, "p1", ["c", "b"], "d"),
                partition(5, None, ["z"], "y"), partition(7, None, ["w"], "y")])
    out = network.partitions(df)
    assert list(out.columns) == ["partition_id", "start", "end", "nodes", "size", "detected_by",
                                 "reports"]
    assert len(out) == 3
    first, p1 = out.iloc[0], out.iloc[2]
    assert pd.isna(first["partition_id"])
    assert list(first["nodes"]) == ["z"]
    assert (p1["partition_id"], p1["start"], p1["end"], p1["size"], p1["detected_by"],
            p1["reports"]) == ("p1", at(10), at(12), 3, "c, d", 2)
    assert list(p1["nodes"]) == ["a", "b", "c"]


def test_partitions_empty():
    out = network.partitions(model.empty_frame(NET))
    assert out.empty
    assert out["nodes"].dtype == model.dtypes(NET)["nodes"]


def test_churn_bad_frequency_raises():
    with pytest.raises(ValueError, match="freq"):
        network.churn(model.empty_frame(NET), "sometimes")
