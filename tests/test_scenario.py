"""scenario/: determinism, validity, and that every incident is really in the data.

The incident checks read the capture back with ``load_capture`` and look at the frames, the way
an analyst would, so they test the file that ships, not the generator's own bookkeeping.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from openagi_nb import ScenarioError, ServerConfigError, load_capture, model, scenario
from openagi_nb.capture import Capture
from openagi_nb.model import CATALOGUE, SEVERITIES
from openagi_nb.scenario import Incident, Scenario

DATA = Path(__file__).resolve().parent.parent / "data"
SAMPLE = DATA / "sample_capture.jsonl.gz"
FOR = pd.Timedelta(minutes=2)
SHORT = 1200.0
EVERY = max(p.shortest for p in scenario.PLANNED)
"""The shortest scenario with every incident (of the timetable: under 20 min)."""


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> tuple[Scenario, Path]:
    path = tmp_path_factory.mktemp("scenario") / "default.jsonl.gz"
    return scenario.write(path), path


@pytest.fixture(scope="module")
def sc(written) -> Scenario:
    return written[0]


@pytest.fixture(scope="module")
def cap(written) -> Capture:
    return load_capture(written[1])


def kinds(sc: Scenario, kind: str) -> list[Incident]:
    found = [i for i in sc.incidents if i.kind == kind]
    assert found, f"no {kind} incident"
    return found


def metrics(cap: Capture, node: str, metric: str) -> pd.DataFrame:
    df = cap.frame("monitoring_events")
    return df[(df.event == "metric_update") & (df.node_id == node) & (df.metric == metric)]


def above_runs(df: pd.DataFrame) -> list[tuple[pd.Timestamp, pd.Timestamp, int]]:
    """Runs of consecutive samples above threshold: (first, last, samples)."""
    above = (df.value > df.threshold).to_numpy()
    stamps = df.timestamp.to_list()
    runs, start = [], None
    for k, flag in enumerate([*above, False]):
        if flag and start is None:
            start = k
        elif not flag and start is not None:
            runs.append((stamps[start], stamps[k - 1], k - start))
            start = None
    return runs


# --- determinism and the committed capture -----------------------------------------------------


def test_same_seed_writes_identical_bytes(tmp_path):
    a = scenario.write(tmp_path / "a.jsonl.gz", seed=3, duration=SHORT)
    b = scenario.write(tmp_path / "b.jsonl.gz", seed=3, duration=SHORT)
    assert (tmp_path / "a.jsonl.gz").read_bytes() == (tmp_path / "b.jsonl.gz").read_bytes()
    assert a.incidents == b.incidents


def test_another_seed_writes_other_bytes(tmp_path):
    a = scenario.write(tmp_path / "a.jsonl.gz", seed=3, duration=SHORT)
    b = scenario.write(tmp_path / "b.jsonl.gz", seed=4, duration=SHORT)
    assert (tmp_path / "a.jsonl.gz").read_bytes() != (tmp_path / "b.jsonl.gz").read_bytes()
    assert [i.start for i in a.incidents] != [i.start for i in b.incidents]


def test_committed_sample_is_what_write_produces_by_default(written):
    assert SAMPLE.read_bytes() == written[1].read_bytes()


def test_data_readme_shows_the_generated_tables(sc):
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    assert f"{SAMPLE.stat().st_size:,} bytes" in readme
    assert f"{len(sc.messages):,} messages" in readme
    assert scenario.incidents_markdown(sc) in readme
    assert scenario.counts_markdown(sc) in readme
    assert scenario.metrics_markdown() in readme


def test_sample_is_under_five_megabytes():
    assert SAMPLE.stat().st_size < 5_000_000


def test_progress_reports_messages_written(tmp_path):
    seen: list[int] = []
    sc = scenario.write(tmp_path / "p.jsonl", duration=SHORT, progress=seen.append)
    assert seen == sorted(seen)
    assert seen[-1] == len(sc.messages)
    assert len(seen) >= len(sc.messages) // scenario._generate.PROGRESS_EVERY


@pytest.mark.parametrize(("nodes", "duration"), [
    (scenario.MIN_NODES - 1, 3600.0), (25, scenario.MIN_DURATION - 1),
])
def test_too_small_a_scenario_is_a_scenario_error(nodes, duration):
    with pytest.raises(ScenarioError, match="must be at least") as info:
        scenario.generate(nodes=nodes, duration=duration)
    assert isinstance(info.value, ValueError)
    assert not isinstance(info.value, ServerConfigError)  # the generator is not the server


@pytest.mark.parametrize(("seed", "nodes", "duration"), [
    (1, scenario.MIN_NODES, SHORT), (2, 40, 2400.0), (10, 50, EVERY),
    (11, scenario.MIN_NODES, EVERY),
])
def test_other_sizes_hold_every_incident(seed, nodes, duration, tmp_path):
    sc = scenario.write(tmp_path / "s.jsonl.gz", seed=seed, nodes=nodes, duration=duration)
    assert {i.kind for i in sc.incidents} == {
        "metric_breach", "metric_spike", "ddos_burst", "unblocked_intrusion",
        "certificate_expired", "leader_failure", "stuck_proposal", "network_partition",
        "node_left", "quorum_violation",
    }
    cap = load_capture(tmp_path / "s.jsonl.gz")
    assert cap.frame("monitoring_events").node_id.nunique() == nodes
    span = cap.frame("monitoring_events").timestamp
    assert span.max() - span.min() < pd.Timedelta(seconds=duration)
    assert_metric_runs_are_the_incidents(sc, cap)
    (stuck,) = kinds(sc, "stuck_proposal")
    con = cap.frame("consensus_events")
    unexecuted = set(con.proposal_id.dropna()) - set(
        con[con.event == "decision_executed"].proposal_id
    )
    assert unexecuted == {stuck.subject}


# --- the messages ---------------------------------------------------------------------------


def test_every_event_of_the_catalogue_appears(sc):
    counts = sc.counts()
    for channel, events in CATALOGUE.items():
        for event in events:
            assert counts[channel.value][event] > 0, (channel, event)


def test_every_message_parses(sc):
    for message in sc.messages:
        assert model.parse(model.encode(message)) == message


def test_seq_increases_by_one(sc):
    assert [m["seq"] for m in sc.messages] == list(range(1, len(sc.messages) + 1))


def test_timestamps_never_go_back(sc):
    stamps = [model.parse_timestamp(m["timestamp"]) for m in sc.messages]
    assert all(a <= b for a, b in itertools.pairwise(stamps))


def test_capture_loads_with_no_rejects(cap, sc):
    assert len(cap.rejects) == 0
    assert len(cap) == len(sc.messages)


def test_default_scenario_is_25_nodes_for_about_an_hour(cap):
    df = cap.frame("monitoring_events")
    assert df.node_id.nunique() == 25
    span = df.timestamp.max() - df.timestamp.min()
    assert pd.Timedelta(minutes=59) < span <= pd.Timedelta(hours=1)


def test_status_follows_value_and_threshold(cap):
    df = cap.frame("monitoring_events").query("event == 'metric_update'")
    above = df.value > df.threshold
    assert ((df.status == "ok") == ~above).all()
    assert above.sum() > 0


# --- the incidents, found in the loaded frames ---------------------------------------------------


def test_breach_stays_above_threshold_for_its_span(sc, cap):
    (breach,) = kinds(sc, "metric_breach")
    df = metrics(cap, breach.subject, "memory_usage")
    ((first, last, samples),) = [r for r in above_runs(df) if r[1] - r[0] >= FOR]
    assert (first, last) == (breach.start, breach.end)
    assert last - first >= pd.Timedelta(minutes=10)
    assert samples >= 60
    alerts = cap.frame("monitoring_events").query("event == 'alert_raised'")
    mine = alerts[alerts.node_id == breach.subject]
    assert (mine.timestamp - breach.start).min() < pd.Timedelta(seconds=1)


def test_spikes_are_short_and_only_the_breach_lasts_two_minutes(sc, cap):
    assert len(kinds(sc, "metric_spike")) >= 3
    assert_metric_runs_are_the_incidents(sc, cap)


def assert_metric_runs_are_the_incidents(sc: Scenario, cap: Capture) -> None:
    """Every run of samples above threshold is an incident: the one run of 2 minutes or more is
    the breach, every other run is a spike shorter than a minute."""
    df = cap.frame("monitoring_events").query("event == 'metric_update'")
    found = [
        (key, run)
        for key, group in df.groupby(["node_id", "metric"], observed=True)
        for run in above_runs(group)
    ]
    (breach,) = kinds(sc, "metric_breach")
    assert [key for key, run in found if run[1] - run[0] >= FOR] == [
        (breach.subject, "memory_usage")
    ]
    short = sorted((run[0], key[0], run[1]) for key, run in found if run[1] - run[0] < FOR)
    assert short == sorted((s.start, s.subject, s.end) for s in kinds(sc, "metric_spike"))
    assert all(end - start < pd.Timedelta(minutes=1) for start, _, end in short)


def test_ddos_burst_is_hundreds_of_events_from_few_addresses(sc, cap):
    (burst,) = kinds(sc, "ddos_burst")
    df = cap.frame("security_events")
    ddos = df[df.attack_type == "ddos"]
    assert ddos.timestamp.min() == burst.start
    assert ddos.timestamp.max() == burst.end
    assert burst.end - burst.start < pd.Timedelta(minutes=3)
    assert len(ddos) >= 100
    assert 3 <= ddos.source_ip.nunique() <= 5
    assert set(ddos.source_ip) == set(burst.subject.split(","))


def test_unblocked_high_intrusions_are_exactly_the_incidents(sc, cap):
    df = cap.frame("security_events")
    bad = df[(df.event == "intrusion_detected") & (df.blocked == False)  # noqa: E712
             & (df.severity >= "high")]
    expected = kinds(sc, "unblocked_intrusion")
    assert 3 <= len(expected) <= 4
    assert sorted(zip(bad.timestamp, bad.source_ip, strict=True)) == [
        (i.start, i.subject) for i in expected
    ]
    assert df.severity.cat.ordered
    assert list(df.severity.cat.categories) == list(SEVERITIES)


def test_certificate_expired_before_it_is_reported(sc, cap):
    (incident,) = kinds(sc, "certificate_expired")
    df = cap.frame("security_events").query("event == 'certificate_expired'")
    assert list(zip(df.timestamp, df.node_id, strict=True)) == [
        (incident.start, incident.subject)
    ]
    assert (df.expired_at < df.timestamp).all()


def test_leader_failure_changes_the_view_of_proposals_in_flight(sc, cap):
    (failure,) = kinds(sc, "leader_failure")
    con = cap.frame("consensus_events")
    (change,) = con[con.event == "view_change"].itertuples()
    assert change.timestamp == failure.end
    assert change.reason == "leader_timeout"
    assert change.new_view == change.old_view + 1
    assert change.new_leader != failure.subject
    phases = con[con.event == "consensus_phase"]
    assert (phases[phases.timestamp < failure.start].view == change.old_view).all()
    assert (phases[phases.timestamp > failure.end].view == change.new_view).all()
    assert not ((phases.timestamp >= failure.start) & (phases.timestamp < failure.end)).any()
    views = phases.groupby("proposal_id").view.nunique()
    assert (views == 2).sum() >= 1
    silent = metrics(cap, failure.subject, "cpu_usage")
    assert not silent.timestamp.between(failure.start, failure.end).any()


def test_stuck_proposal_never_executes(sc, cap):
    (stuck,) = kinds(sc, "stuck_proposal")
    con = cap.frame("consensus_events")
    mine = con[con.proposal_id == stuck.subject]
    assert mine.timestamp.min() == stuck.start
    assert set(mine.event) == {"proposal_submitted", "consensus_phase"}
    assert set(mine.phase.dropna()) <= {"pre_prepare", "prepare"}
    net = cap.frame("network_events")
    assert stuck.subject not in set(net.proposal_id.dropna())


def test_every_other_proposal_is_executed_and_reached(sc, cap):
    (stuck,) = kinds(sc, "stuck_proposal")
    con = cap.frame("consensus_events")
    submitted = set(con[con.event == "proposal_submitted"].proposal_id)
    executed = set(con[con.event == "decision_executed"].proposal_id)
    net = cap.frame("network_events")
    reached = set(net[net.event == "consensus_reached"].proposal_id)
    assert submitted - executed == {stuck.subject}
    assert executed == reached


def test_quorum_violations_are_exactly_the_incidents(sc, cap):
    con = cap.frame("consensus_events")
    short = con[(con.event == "consensus_phase") & (con.votes < con.quorum)]
    assert sorted(zip(short.timestamp, short.proposal_id, strict=True)) == [
        (i.start, i.subject) for i in kinds(sc, "quorum_violation")
    ]


def test_partition_silences_its_nodes_and_costs_quorum(sc, cap):
    (incident,) = kinds(sc, "network_partition")
    net = cap.frame("network_events")
    (event,) = net[net.event == "network_partition"].itertuples()
    assert (event.timestamp, event.partition_id) == (incident.start, incident.subject)
    cut = list(event.nodes)
    assert event.detected_by not in cut
    df = cap.frame("monitoring_events").query("event == 'metric_update'")
    inside = df.timestamp.between(incident.start, incident.end, inclusive="left")
    assert not df[inside].node_id.isin(cut).any()
    after = df.timestamp.between(incident.end, incident.end + timedelta(seconds=30))
    assert set(cut) <= set(df[after].node_id)
    con = cap.frame("consensus_events")
    during = con[con.timestamp.between(incident.start, incident.end)
                 & con.phase.isin(["prepare", "commit"])]
    assert len(during) > 0
    assert (during.votes < during.quorum).all()


def test_nodes_leave_for_every_reason_and_go_quiet(sc, cap):
    leaves = kinds(sc, "node_left")
    net = cap.frame("network_events")
    left = net[net.event == "node_left"]
    assert sorted(zip(left.timestamp, left.node_id, strict=True)) == [
        (i.start, i.subject) for i in leaves
    ]
    assert set(left.reason) == {"graceful", "timeout", "banned"}
    joined = net[net.event == "node_joined"]
    for leave in leaves:
        quiet = metrics(cap, leave.subject, "cpu_usage")
        until = leave.end if leave.end is not None else leave.start + timedelta(days=1)
        assert not quiet.timestamp.between(leave.start, until, inclusive="left").any()
        if leave.end is not None:
            assert ((joined.node_id == leave.subject) & (joined.timestamp == leave.end)).any()


def test_incidents_markdown_lists_every_incident_once(sc):
    table = scenario.incidents_markdown(sc).splitlines()
    assert len(table) == 2 + len(sc.incidents)
    assert all(f"| {i.kind} |" in row for i, row in zip(sc.incidents, table[2:], strict=True))
