"""Each incident of the bundled capture, of differently seeded scenarios and of short ones
(a minute, five minutes: only the incidents that fit), is found by the analysis function meant
to find it, and nothing else is.

The ground truth is the generator's own ``Scenario.incidents`` (what ``data/README.md`` lists),
never numbers typed in here: the bundled capture is checked to be ``generate(seed=7)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from openagi_nb import model, scenario
from openagi_nb.analysis import (
    breaches,
    bursts,
    certificates,
    churn,
    incidents,
    membership,
    partitions,
    proposals,
    quorum_violations,
    unblocked,
    view_changes,
)
from openagi_nb.capture import Capture, load_capture
from openagi_nb.model import Channel
from openagi_nb.stream import LiveFrame

BUNDLED = Path(__file__).resolve().parents[1] / "data" / "sample_capture.jsonl.gz"
BUNDLED_SEED = 7
KINDS = {
    "metric_breach", "metric_spike", "ddos_burst", "unblocked_intrusion", "certificate_expired",
    "leader_failure", "stuck_proposal", "quorum_violation", "network_partition", "node_left",
}


@dataclass(frozen=True)
class Case:
    source: Capture | dict[str, pd.DataFrame]
    truth: list[scenario.Incident]
    placed: tuple[scenario.Planned, ...] = scenario.PLANNED

    def frame(self, channel: str) -> pd.DataFrame:
        if isinstance(self.source, Capture):
            return self.source.frame(channel)
        return self.source[channel]

    def of(self, kind: str) -> list[scenario.Incident]:
        return [i for i in self.truth if i.kind == kind]


def frames_of(messages: list[model.DataMessage]) -> dict[str, pd.DataFrame]:
    """Per-channel frames, keyed by channel name, as a live stream would build them."""
    rows: dict[Channel, list[model.Row]] = {c: [] for c in Channel}
    for message in messages:
        channel, row = model.flatten(dict(message))
        rows[channel].append(row)
    return {c.value: model.to_frame(c, list(zip(*r, strict=True))) for c, r in rows.items()}


def bundled() -> Case:
    truth = scenario.generate(seed=BUNDLED_SEED)
    capture = load_capture(BUNDLED)
    assert len(capture) == len(truth.messages), "data/sample_capture.jsonl.gz is not seed 7"
    return Case(capture, truth.incidents)


def generated(seed: int) -> Case:
    made = scenario.generate(seed=seed, duration=1800.0, nodes=16)
    return Case(frames_of(made.messages), made.incidents)


def short(path: Path, duration: float, engine: scenario.Engine) -> Case:
    """A short scenario written to ``path`` and read back: only what fits in it."""
    made = scenario.export(path, seed=31, duration=duration, engine=engine)
    assert made.placed == scenario.placed(duration)
    return Case(load_capture(path), made.incidents, made.placed)


@pytest.fixture(scope="module", params=[
    "bundled", "seed-2024", "seed-99", "1min-classic", "5min-classic", "5min-stream"])
def case(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Case:
    name = request.param
    if "min-" in name:
        minutes, engine = name.split("min-")
        path = tmp_path_factory.mktemp("short") / f"{name}.jsonl.gz"
        return short(path, 60.0 * int(minutes), engine)  # type: ignore[arg-type]
    return bundled() if name == "bundled" else generated(int(name.split("-")[1]))


def ts(value: object) -> pd.Timestamp:
    return pd.Timestamp(value)


def test_ground_truth_has_every_kind_this_module_checks(case):
    assert {i.kind for i in case.truth} == {k for p in case.placed for k in p.kinds}
    if case.placed == scenario.PLANNED:
        assert {i.kind for i in case.truth} == KINDS


def test_breach_with_two_minute_for_is_exactly_the_planned_breach(case):
    found = breaches(case.frame("monitoring_events"), for_="2min")
    expected = [(i.subject, ts(i.start), ts(i.end)) for i in case.of("metric_breach")]
    assert list(zip(found["node_id"], found["start"], found["end"], strict=True)) == expected
    assert set(found["metric"]) <= {"memory_usage"}
    assert not found["ongoing"].any()


def test_spikes_are_episodes_without_for_but_not_with_two_minutes(case):
    without_for = breaches(case.frame("monitoring_events"))
    episodes = set(zip(without_for["node_id"], without_for["start"], without_for["end"],
                       strict=True))
    for spike in case.of("metric_spike"):
        assert (spike.subject, ts(spike.start), ts(spike.end)) in episodes
    with_for = breaches(case.frame("monitoring_events"), for_="2min")
    assert not set(with_for["node_id"]) & {s.subject for s in case.of("metric_spike")}


def test_ddos_is_the_one_burst(case):
    found = bursts(case.frame("security_events"))
    assert len(found) == len(case.of("ddos_burst")) <= 1
    if not len(found):
        return
    (ddos,) = case.of("ddos_burst")
    burst = found.iloc[0]
    assert (burst["start"], burst["end"], burst["attack_type"]) == (
        ts(ddos.start), ts(ddos.end), "ddos")
    ips = set(ddos.subject.split(","))
    assert burst["sources"] == len(ips)
    assert set(burst["source_ips"].split(", ")) == ips


def test_unblocked_high_intrusions_are_exactly_the_planned_ones(case):
    found = unblocked(case.frame("security_events"), "high")
    expected = [(ts(i.start), i.subject) for i in case.of("unblocked_intrusion")]
    assert list(zip(found["timestamp"], found["source_ip"], strict=True)) == expected


def test_expired_certificate(case):
    found = certificates(case.frame("security_events"))
    expected = [(i.subject, ts(i.start)) for i in case.of("certificate_expired")]
    assert list(zip(found["node_id"], found["first_reported"], strict=True)) == expected
    assert (found["expired_at"] <= found["first_reported"]).all()


def test_leader_failure_ends_in_the_view_change(case):
    found = view_changes(case.frame("consensus_events"))
    assert list(found["timestamp"]) == [ts(i.end) for i in case.of("leader_failure")]
    if not len(found):
        return
    (failure,) = case.of("leader_failure")
    change = found.iloc[0]
    assert change["new_view"] == change["old_view"] + 1
    assert change["new_leader"] != failure.subject
    assert f"new leader {change['new_leader']}" in failure.detail


def test_stuck_proposal_is_the_only_stuck_one(case):
    found = proposals(case.frame("consensus_events"))
    stuck = found.loc[found["status"] == "stuck"]
    expected = [(i.subject, ts(i.start)) for i in case.of("stuck_proposal")]
    assert list(zip(stuck["proposal_id"], stuck["submitted_at"], strict=True)) == expected
    assert (stuck["last_phase"] == "prepare").all()
    # what is neither executed nor stuck was submitted in the last minute of the data
    pending = found.loc[found["status"] == "pending", "submitted_at"]
    end = case.frame("consensus_events")["timestamp"].max()
    assert (pending >= end - pd.Timedelta("60s")).all()


def test_quorum_violations_are_the_planned_ones(case):
    found = quorum_violations(case.frame("consensus_events"))
    expected = sorted((ts(i.start), i.subject) for i in case.of("quorum_violation"))
    assert sorted(zip(found["timestamp"], found["proposal_id"], strict=True)) == expected


def test_partition(case):
    found = partitions(case.frame("network_events"))
    assert list(zip(found["partition_id"], found["start"], strict=True)) == [
        (cut.subject, ts(cut.start)) for cut in case.of("network_partition")]
    if not len(found):
        return
    (cut,) = case.of("network_partition")
    assert f"{found['size'].iloc[0]} of " in cut.detail
    assert ", ".join(found["nodes"].iloc[0]) in cut.detail


def test_nodes_leaving_and_coming_back(case):
    steps = membership(case.frame("network_events"))
    gone = steps.loc[steps["change"] == "left"]
    truth = case.of("node_left")
    assert sorted(zip(gone["node_id"], gone["timestamp"], strict=True)) == sorted(
        (i.subject, ts(i.start)) for i in truth)
    back = set(zip(steps.loc[steps["change"] == "joined", "node_id"],
                   steps.loc[steps["change"] == "joined", "timestamp"], strict=True))
    for leave in truth:
        if leave.end is not None:
            assert (leave.subject, ts(leave.end)) in back
    assert churn(case.frame("network_events"), "5min")["left"].sum() == len(truth)


def test_active_nodes_with_the_monitored_nodes_as_initial(case):
    nodes = case.frame("monitoring_events")["node_id"].dropna().unique()
    steps = membership(case.frame("network_events"), initial=nodes)
    assert steps["active_nodes"].max() == len(nodes)
    banned = [i for i in case.of("node_left") if "banned" in i.detail]
    assert steps["active_nodes"].iloc[-1] <= len(nodes) - len(banned)


def test_incidents_table_holds_each_finding_once(case):
    assert_incidents_finds_each_once(case.source, case.truth)


def assert_incidents_finds_each_once(source: Any, truth: list[scenario.Incident]) -> None:
    """``analysis.incidents`` finds each incident of ``truth`` that it looks for (spikes and
    quorum violations it leaves to ``breaches`` and ``quorum_violations``), once, and nothing
    else; a graceful leave is routine."""
    of = Case({}, truth).of
    table = incidents(source)
    expected = {
        ("breach", ts(i.start)) for i in of("metric_breach")
    } | {
        ("burst", ts(i.start)) for i in of("ddos_burst")
    } | {
        ("unblocked_intrusion", ts(i.start)) for i in of("unblocked_intrusion")
    } | {
        ("view_change", ts(i.end)) for i in of("leader_failure")
    } | {
        ("stuck_proposal", ts(i.start)) for i in of("stuck_proposal")
    } | {
        ("partition", ts(i.start)) for i in of("network_partition")
    } | {
        ("node_left", ts(i.start)) for i in of("node_left") if "graceful" not in i.detail
    }
    found = list(zip(table["kind"].astype(str), table["time"], strict=True))
    certificate = [t for k, t in found if k == "certificate_expired"]
    assert set(found) - {("certificate_expired", t) for t in certificate} == expected
    assert len(found) == len(expected) + len(of("certificate_expired"))
    assert table["time"].is_monotonic_increasing


class LiveFrames:
    """What the live EventStream reads from: one LiveFrame per channel, fed row by row."""

    def __init__(self, messages: list[model.DataMessage]) -> None:
        self.frames = {c: LiveFrame(c) for c in Channel}
        for message in messages:
            channel, row = model.flatten(dict(message))
            self.frames[channel].append(row)

    def frame(self, channel: str) -> pd.DataFrame:
        return self.frames[Channel(channel)].snapshot()


def test_incidents_are_the_same_on_live_frames_as_on_the_capture():
    live = LiveFrames(scenario.generate(seed=BUNDLED_SEED).messages)
    recorded = load_capture(BUNDLED)
    pd.testing.assert_frame_equal(incidents(live), incidents(recorded))
