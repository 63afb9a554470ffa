"""Scenarios under 20 minutes: from a minute, with the incidents that fit and no others.

The rule is ``scenario._timetable``'s; these tests hold the generator to it (through the CLI
and the library, both engines, real files read back with ``load_capture``), hold
``data/README.md`` to the code, and look for each placed incident in the data the way an
analyst would (``analysis.incidents`` and the checks of ``test_analysis_scenario``).
"""

from __future__ import annotations

import itertools
from collections import Counter

import pandas as pd
import pytest

from openagi_nb import ScenarioError, load_capture, scenario
from openagi_nb.capture import Capture
from openagi_nb.cli import main
from openagi_nb.model import CHANNELS
from openagi_nb.scenario import Incident, Planned

from .test_analysis_scenario import assert_incidents_finds_each_once, frames_of
from .test_scenario import DATA, assert_metric_runs_are_the_incidents

SPREAD_FROM = 1200.0
"""Where the hour's plan takes over (``_timetable.SPREAD_FROM``)."""
THRESHOLDS = sorted({p.shortest for p in scenario.PLANNED if p.shortest > scenario.MIN_DURATION})


def assert_holds_what_is_placed(truth: list[Incident], placed: tuple[Planned, ...]) -> None:
    """One incident of each kind each placed incident yields (a partition: one quorum
    violation or more), and nothing else."""
    want = Counter(kind for p in placed for kind in p.kinds)
    got = Counter(i.kind for i in truth)
    assert got["quorum_violation"] >= want["quorum_violation"]
    if not want["quorum_violation"]:
        assert not got["quorum_violation"]
    del got["quorum_violation"], want["quorum_violation"]
    assert got == want


def span(cap: Capture) -> tuple[pd.Timestamp, pd.Timestamp]:
    stamps = pd.concat([cap.frame(c)["timestamp"] for c in CHANNELS])
    return stamps.min(), stamps.max()


def assert_covers(cap: Capture, duration: float) -> None:
    """The capture starts at the scenario's start (a sample's jitter is 0.15 s) and runs to
    within 20 s of its end (each node is sampled every 10 s), never past it."""
    first, last = span(cap)
    start = pd.Timestamp(scenario.DEFAULT_START)
    assert start - pd.Timedelta("0.15s") <= first < start + pd.Timedelta("10s")
    assert start + pd.Timedelta(seconds=duration - 20) <= last
    assert last < start + pd.Timedelta(seconds=duration)


# --- the rule -----------------------------------------------------------------------------


def test_data_readme_tables_when_each_incident_appears():
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    assert scenario.durations_markdown() in readme
    assert f"the {len(scenario.PLANNED)} planned incidents" in readme


def test_the_table_is_what_the_planner_places():
    for kind, shortest in scenario.shortest_durations().items():
        holding = [p for p in scenario.PLANNED if kind in p.kinds]
        assert shortest == min(p.shortest for p in holding)
        assert not any(kind in p.kinds for p in scenario.placed(shortest - 1))
        assert any(kind in p.kinds for p in scenario.placed(shortest))


def test_a_longer_scenario_never_holds_fewer_incidents():
    seconds = [scenario.MIN_DURATION + k for k in range(0, int(SPREAD_FROM) - 60, 5)]
    held = [set(scenario.placed(s)) for s in seconds]
    assert all(a <= b for a, b in itertools.pairwise(held))
    assert scenario.placed(scenario.MIN_DURATION)
    assert scenario.placed(max(THRESHOLDS)) == scenario.PLANNED
    assert max(THRESHOLDS) < SPREAD_FROM  # all of them before the hour's plan takes over


def test_slots_of_a_lane_do_not_overlap_and_end_in_time():
    from openagi_nb.scenario._timetable import LANES, starts

    for duration in (60.0, 100.0, 299.0, 300.0, 495.0, 1199.0):
        begin = starts(duration)
        assert set(begin) == {p.name for p in scenario.placed(duration)}
        for lane in LANES:
            mine = sorted(((begin[p.name], p) for p in scenario.PLANNED
                           if p.lane == lane and p.name in begin), key=lambda x: x[0])
            for (a, p), (b, _) in itertools.pairwise(mine):
                assert a + p.length <= b
            assert all(a + p.length + p.tail <= duration + 1e-9 for a, p in mine)


# --- refused under a minute ----------------------------------------------------------------


@pytest.mark.parametrize("engine", ["classic", "stream"])
def test_under_a_minute_is_a_scenario_error(engine, tmp_path):
    with pytest.raises(ScenarioError, match=r"^duration must be at least 60 s \(1 min\), "
                                            r"got 59\.9 s$"):
        scenario.export(tmp_path / "x.jsonl", duration=59.9, engine=engine)
    assert not (tmp_path / "x.jsonl").exists()


def test_cli_refuses_under_a_minute_in_one_line(tmp_path, capsys):
    assert main(["generate", "-o", str(tmp_path / "x.jsonl.gz"), "--duration", "59s"]) == 1
    captured = capsys.readouterr()
    assert captured.err == (
        "openagi-nb generate: error: duration must be at least 60 s (1 min), got 59 s\n")
    assert captured.out == ""
    assert not (tmp_path / "x.jsonl.gz").exists()


# --- a minute and five minutes, end to end -------------------------------------------------


@pytest.mark.parametrize("engine", ["classic", "stream"])
@pytest.mark.parametrize(("text", "seconds"), [("1m", 60.0), ("5m", 300.0)])
def test_cli_writes_a_short_capture_with_what_fits(text, seconds, engine, tmp_path, capsys):
    out = tmp_path / "short.jsonl.gz"
    assert main(["generate", "-o", str(out), "--duration", text, "--engine", engine]) == 0
    said = capsys.readouterr().out.splitlines()
    made = scenario.export(tmp_path / "lib.jsonl.gz", duration=seconds, engine=engine)
    assert out.read_bytes() == (tmp_path / "lib.jsonl.gz").read_bytes()
    placed = scenario.placed(seconds)
    assert made.placed == placed
    assert len(placed) < len(scenario.PLANNED)
    assert said[0].startswith(f"wrote {made.events:,} events, {len(made.incidents)} incidents "
                              f"(seed 7, {engine} engine)")
    assert said[1].startswith(f"placed {len(placed)} of {len(scenario.PLANNED)} planned "
                              "incidents; a longer --duration places more (the next from ")
    cap = load_capture(out)
    assert len(cap.rejects) == 0
    assert len(cap) == made.events
    assert cap.frame("monitoring_events").node_id.nunique() == 25
    assert_covers(cap, seconds)
    assert_holds_what_is_placed(made.incidents, placed)
    assert_incidents_finds_each_once(cap, made.incidents)


def test_a_minute_holds_a_spike_a_certificate_and_a_ban(tmp_path):
    sc = scenario.write(tmp_path / "m.jsonl", duration=60.0)
    assert [p.name for p in sc.placed] == ["spike 1", "certificate", "banned node"]
    assert sorted(i.kind for i in sc.incidents) == [
        "certificate_expired", "metric_spike", "node_left"]
    cap = load_capture(tmp_path / "m.jsonl")
    (spike,) = [i for i in sc.incidents if i.kind == "metric_spike"]
    df = cap.frame("monitoring_events").query("event == 'metric_update'")
    above = df[df.value > df.threshold]
    assert set(zip(above.timestamp, above.node_id, strict=True)) <= {
        (spike.start, spike.subject), (spike.end, spike.subject)}
    assert spike.start in set(above.timestamp)


def test_five_minutes_hold_every_kind_and_the_breach_is_real(tmp_path):
    sc = scenario.write(tmp_path / "f.jsonl", duration=300.0, nodes=scenario.MIN_NODES)
    left_out = {p.name for p in scenario.PLANNED} - {p.name for p in sc.placed}
    assert left_out == {"intrusion 3", "timed-out node", "graceful leave"}
    assert {i.kind for i in sc.incidents} == {k for p in scenario.PLANNED for k in p.kinds}
    cap = load_capture(tmp_path / "f.jsonl")
    assert_metric_runs_are_the_incidents(sc, cap)
    assert_incidents_finds_each_once(cap, sc.incidents)


# --- each threshold of the table ----------------------------------------------------------


@pytest.mark.parametrize("threshold", THRESHOLDS)
def test_just_below_a_threshold_leaves_its_incidents_out(threshold):
    new = {p for p in scenario.PLANNED if p.shortest == threshold}
    below = scenario.generate(duration=threshold - 1)
    at = scenario.generate(duration=threshold)
    assert not new & set(below.placed)
    assert new <= set(at.placed)
    assert set(at.placed) - set(below.placed) == new
    for sc in (below, at):
        assert sc.placed == scenario.placed(sc.duration)
        assert_holds_what_is_placed(sc.incidents, sc.placed)
        assert_incidents_finds_each_once(frames_of(sc.messages), sc.incidents)


def test_which_incidents_fit_depends_on_neither_seed_nor_nodes():
    one = scenario.generate(seed=1, duration=200.0, nodes=scenario.MIN_NODES)
    other = scenario.generate(seed=2, duration=200.0, nodes=40)
    assert one.placed == other.placed == scenario.placed(200.0)
    assert_holds_what_is_placed(one.incidents, one.placed)
    assert_holds_what_is_placed(other.incidents, other.placed)


def test_from_twenty_minutes_the_hour_plan_places_everything():
    assert scenario.placed(SPREAD_FROM) == scenario.PLANNED
    sc = scenario.generate(duration=SPREAD_FROM, nodes=scenario.MIN_NODES)
    assert sc.placed == scenario.PLANNED
    assert {i.kind for i in sc.incidents} == {k for p in scenario.PLANNED for k in p.kinds}


def test_a_short_stream_dataset_holds_the_same_incidents(tmp_path):
    made = scenario.export(tmp_path / "s.parquet", duration=150.0, engine="stream")
    assert made.placed == scenario.placed(150.0)
    assert_holds_what_is_placed(made.incidents, made.placed)
    cap = load_capture(tmp_path / "s.parquet")
    assert len(cap) == made.events
    assert_incidents_finds_each_once(cap, made.incidents)


def test_readme_says_five_lanes():
    from openagi_nb.scenario._timetable import LANES

    assert len(LANES) == 5
    assert "five lanes" in (DATA / "README.md").read_text(encoding="utf-8")

