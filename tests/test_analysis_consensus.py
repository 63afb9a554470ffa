"""Tests for openagi_nb.analysis.consensus on hand-built PBFT event frames."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from openagi_nb import model
from openagi_nb.analysis import consensus

from .events import Event, at, stamp
from .events import frame as events_frame

CON = "consensus_events"
PHASES = ("pre_prepare", "prepare", "commit", "reply")


def frame(events: list[Event]) -> pd.DataFrame:
    return events_frame(CON, events)


def submitted(sec: float, pid: str, parameter: str = "dropout", value: float = 0.1,
              proposer: str = "n1") -> tuple[float, str, dict[str, Any]]:
    data = {"action": "update_parameter", "parameter": parameter, "value": value}
    return sec, "proposal_submitted", {"proposal_id": pid, "proposer": proposer, "data": data,
                                       "consensus_round": 1}


def phase(sec: float, pid: str, name: str, votes: int = 5, quorum: int = 5, view: int = 1
          ) -> tuple[float, str, dict[str, Any]]:
    return sec, "consensus_phase", {"proposal_id": pid, "phase": name, "view": view,
                                    "votes": votes, "quorum": quorum}


def executed(sec: float, pid: str, parameter: str = "dropout", value: float = 0.1,
             executed_at: float | None = None) -> tuple[float, str, dict[str, Any]]:
    data: dict[str, Any] = {
        "proposal_id": pid,
        "decision": {"action": "update_parameter", "parameter": parameter, "value": value},
    }
    if executed_at is not None:
        data["executed_at"] = stamp(executed_at)
    return sec, "decision_executed", data


def lifecycle(pid: str, start: float, parameter: str = "dropout", value: float = 0.1) -> list[Any]:
    return [submitted(start, pid, parameter, value),
            *(phase(start + 1 + k, pid, p) for k, p in enumerate(PHASES)),
            executed(start + 5.5, pid, parameter, value, executed_at=start + 5)]


# --- proposals ----------------------------------------------------------------------------


def test_proposals_full_lifecycle():
    out = consensus.proposals(frame(lifecycle("p1", 0)))
    assert list(out.columns) == [
        "proposal_id", "proposer", "action", "parameter", "value", "submitted_at",
        "pre_prepare_at", "prepare_at", "commit_at", "reply_at", "executed_at", "latency",
        "view", "max_votes", "quorum", "status", "last_phase",
    ]
    row = out.iloc[0]
    assert (row["proposal_id"], row["proposer"], row["parameter"], row["value"]) == (
        "p1", "n1", "dropout", 0.1)
    assert [row[f"{p}_at"] for p in PHASES] == [at(1), at(2), at(3), at(4)]
    assert (row["executed_at"], row["latency"]) == (at(5), pd.Timedelta(seconds=5))
    assert (row["status"], row["last_phase"], row["view"], row["quorum"]) == (
        "executed", "reply", 1, 5)


def test_proposals_out_of_order_events_give_the_same_row():
    events = lifecycle("p1", 0)
    pd.testing.assert_frame_equal(consensus.proposals(frame(events)),
                                  consensus.proposals(frame(events[::-1])))


def test_proposals_phase_repeated_after_view_change_keeps_first_time_and_highest_view():
    events = [submitted(0, "p"), phase(1, "p", "pre_prepare", 1, 1, view=3),
              phase(20, "p", "pre_prepare", 1, 1, view=4), phase(21, "p", "prepare", 7, 5, 4)]
    row = consensus.proposals(frame(events)).iloc[0]
    assert (row["pre_prepare_at"], row["view"], row["max_votes"]) == (at(1), 4, 7)
    assert row["last_phase"] == "prepare"


def test_proposals_missing_submission_takes_what_from_the_decision():
    events = [phase(1, "p", "commit"), executed(2, "p", "momentum", 0.9)]
    row = consensus.proposals(frame(events)).iloc[0]
    assert (row["parameter"], row["value"], row["status"]) == ("momentum", 0.9, "executed")
    assert pd.isna(row["submitted_at"])
    assert pd.isna(row["latency"])
    assert pd.isna(row["proposer"])


def test_proposals_executed_at_missing_falls_back_to_event_time():
    row = consensus.proposals(frame([submitted(0, "p"), executed(3, "p")])).iloc[0]
    assert row["executed_at"] == at(3)


def test_proposals_stuck_after_threshold_else_pending():
    events = [submitted(0, "old"), phase(1, "old", "pre_prepare"), submitted(100, "new"),
              submitted(130, "other")]
    out = consensus.proposals(frame(events), stuck_after="60s").set_index("proposal_id")
    assert out["status"].to_dict() == {"old": "stuck", "new": "pending", "other": "pending"}
    assert pd.isna(out.loc["new", "last_phase"])


def test_proposals_as_of_moves_the_judgement():
    df = frame([submitted(0, "p")])
    assert consensus.proposals(df, as_of=at(30))["status"].iloc[0] == "pending"
    assert consensus.proposals(df, as_of=at(61))["status"].iloc[0] == "stuck"


def test_proposals_ordered_by_first_event_and_empty():
    out = consensus.proposals(frame(lifecycle("b", 0) + lifecycle("a", 10)))
    assert list(out["proposal_id"]) == ["b", "a"]
    empty = consensus.proposals(model.empty_frame(CON))
    assert empty.empty
    assert list(empty.columns) == list(out.columns)
    assert empty["status"].dtype == out["status"].dtype


def test_proposals_bad_stuck_after():
    with pytest.raises(ValueError, match="stuck_after"):
        consensus.proposals(model.empty_frame(CON), stuck_after="a while")


# --- view changes, history, latencies, quorum -------------------------------------------


def test_view_changes_in_time_order():
    df = frame([
        (50, "view_change", {"old_view": 4, "new_view": 5, "new_leader": "n3",
                             "reason": "leader_timeout"}),
        (10, "view_change", {"old_view": 3, "new_view": 4, "new_leader": "n2", "reason": "x"}),
        submitted(0, "p"),
    ])
    out = consensus.view_changes(df)
    assert list(out.columns) == ["timestamp", "old_view", "new_view", "new_leader", "reason"]
    assert out[["old_view", "new_view", "new_leader"]].values.tolist() == [
        [3, 4, "n2"], [4, 5, "n3"]]


def test_parameter_history_with_previous_values():
    df = frame([executed(30, "p3", "dropout", 0.3), executed(10, "p1", "dropout", 0.1),
                executed(20, "p2", "momentum", 0.9), executed(31, "p3", "dropout", 0.3)])
    out = consensus.parameter_history(df)
    assert list(out.columns) == ["time", "proposal_id", "parameter", "action", "value",
                                 "previous"]
    assert list(out["proposal_id"]) == ["p1", "p2", "p3"]  # p3 reported twice counts once
    assert out["previous"].tolist()[2] == 0.1
    assert pd.isna(out["previous"].iloc[0])
    assert pd.isna(out["previous"].iloc[1])


def test_parameter_history_prefers_executed_at():
    out = consensus.parameter_history(frame([executed(30, "p", executed_at=10)]))
    assert out["time"].iloc[0] == at(10)


def test_phase_latencies_per_step_skips_missing_phases():
    events = [*lifecycle("a", 0), submitted(100, "b"), phase(103, "b", "pre_prepare")]
    out = consensus.phase_latencies(frame(events)).set_index("step")
    assert list(out.index) == ["submitted->pre_prepare", "pre_prepare->prepare",
                               "prepare->commit", "commit->reply", "reply->executed", "total"]
    assert out.loc["submitted->pre_prepare", "count"] == 2
    assert out.loc["submitted->pre_prepare", "max"] == pd.Timedelta(seconds=3)
    assert out.loc["submitted->pre_prepare", "p50"] == pd.Timedelta(seconds=2)
    assert out.loc["total", "count"] == 1
    assert out.loc["total", "mean"] == pd.Timedelta(seconds=5)


def test_phase_latencies_of_nothing_are_nat():
    out = consensus.phase_latencies(model.empty_frame(CON))
    assert (out["count"] == 0).all()
    assert out["mean"].isna().all()


def test_quorum_violations_only_short_phases_with_known_counts():
    df = frame([phase(3, "p", "prepare", 4, 5), phase(1, "p", "pre_prepare", 1, 1),
                phase(2, "q", "commit", 2, 5),
                (4, "consensus_phase", {"proposal_id": "r", "phase": "prepare", "votes": 1})])
    out = consensus.quorum_violations(df)
    assert list(out.columns) == ["timestamp", "proposal_id", "phase", "view", "votes", "quorum",
                                 "missing"]
    assert out[["proposal_id", "missing"]].values.tolist() == [["q", 3], ["p", 1]]
