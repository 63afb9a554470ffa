"""scenario.export and the windowed generator: the same data whatever the output and the window,
the classic scenarios unchanged, datasets laid out by hour, the CLI at larger sizes.

Bounded memory and speed are a benchmark's matter (see the report), not asserted here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from openagi_nb import ScenarioError, load_capture, scenario
from openagi_nb.cli import main, parse_duration
from openagi_nb.exceptions import CaptureError
from openagi_nb.model import CATALOGUE, CHANNELS

from .test_scenario import SAMPLE, assert_metric_runs_are_the_incidents, kinds

SIZE = {"seed": 5, "duration": 3 * 3600.0, "nodes": 20}
KINDS = {
    "metric_breach", "metric_spike", "ddos_burst", "unblocked_intrusion", "certificate_expired",
    "leader_failure", "stuck_proposal", "network_partition", "node_left", "quorum_violation",
}


def frames_equal(a: Path, b: Path) -> None:
    left, right = load_capture(a), load_capture(b)
    assert len(left.rejects) == len(right.rejects) == 0
    for channel in CHANNELS:
        pd.testing.assert_frame_equal(left.frame(channel), right.frame(channel))


def tables(**kwargs) -> tuple[dict, scenario.Generation]:
    gen = scenario.Generation(start=scenario.DEFAULT_START, engine="stream", **kwargs)
    windows = list(gen.windows())
    return {c: pa.concat_tables([w.tables[c] for w in windows]) for c in CHANNELS}, gen


@pytest.fixture(scope="module")
def stream(tmp_path_factory) -> tuple[scenario.Generation, Path, Path]:
    root = tmp_path_factory.mktemp("stream")
    gen = scenario.export(root / "s.jsonl.gz", engine="stream", **SIZE)
    again = scenario.export(str(root / "s.parquet"), engine="stream", **SIZE)
    assert again.incidents == gen.incidents
    assert again.counts == gen.counts
    return gen, root / "s.jsonl.gz", root / "s.parquet"


# --- the same data whatever the output -------------------------------------------------------


def test_stream_jsonl_and_parquet_hold_the_same_data(stream):
    gen, jsonl, parquet = stream
    frames_equal(jsonl, parquet)
    assert len(load_capture(parquet)) == gen.events


def test_classic_jsonl_and_parquet_hold_the_same_data(tmp_path):
    a = scenario.export(tmp_path / "c.jsonl", seed=3, duration=1200.0, nodes=20)
    b = scenario.export(tmp_path / "c/", seed=3, duration=1200.0, nodes=20)
    assert a.engine == b.engine == "classic"
    assert a.incidents == b.incidents
    frames_equal(tmp_path / "c.jsonl", tmp_path / "c")


def test_classic_export_is_write_byte_for_byte(tmp_path):
    gen = scenario.export(tmp_path / "sample.jsonl.gz")  # the defaults: the bundled sample
    assert gen.engine == "classic"
    assert (tmp_path / "sample.jsonl.gz").read_bytes() == SAMPLE.read_bytes()
    assert gen.incidents == scenario.generate().incidents


def test_same_seed_same_bytes_another_seed_other_data(tmp_path):
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        scenario.export(tmp_path / f"{name}.jsonl", engine="stream", seed=seed,
                        duration=1200.0, nodes=16)
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert (tmp_path / "a.jsonl").read_bytes() != (tmp_path / "c.jsonl").read_bytes()


# --- the windows change nothing --------------------------------------------------------------


@pytest.mark.parametrize("window", [3 * 3600.0, 1500.0, 4000.0])
def test_windows_do_not_change_the_data(window):
    hourly, a = tables(window=3600.0, **SIZE)
    other, b = tables(window=window, **SIZE)  # 3 h: one pass over the whole scenario
    for channel in CHANNELS:
        assert hourly[channel].equals(other[channel]), channel
    assert a.incidents == b.incidents


def test_a_start_off_the_hour_gives_whole_hour_windows_but_the_same_data():
    start = datetime(2026, 3, 1, 17, 41, 12, tzinfo=UTC)
    gen = scenario.Generation(start=start, engine="stream", seed=2, duration=7200.0, nodes=16)
    windows = list(gen.windows())
    assert [w.start.minute for w in windows] == [41, 0, 0]
    assert all(w.end.minute == 0 for w in windows)
    for w in windows:
        for table in w.tables.values():
            stamps = table.column("timestamp").to_pandas()
            assert stamps.empty or (stamps.min() >= w.start and stamps.max() < w.end)
    single = scenario.Generation(start=start, engine="stream", seed=2, duration=7200.0,
                                 nodes=16, window=86400.0)
    (whole,) = list(single.windows())
    for channel in CHANNELS:
        assert pa.concat_tables([w.tables[channel] for w in windows]).equals(
            whole.tables[channel])


# --- what the stream engine generates --------------------------------------------------------


def test_stream_holds_every_incident_and_event(stream):
    gen, jsonl, _ = stream
    assert {i.kind for i in gen.incidents} == KINDS
    for channel, events in CATALOGUE.items():
        for event in events:
            assert gen.counts[channel.value][event] > 0, (channel, event)
    cap = load_capture(jsonl)
    assert cap.frame("monitoring_events").node_id.nunique() == SIZE["nodes"]
    assert_metric_runs_are_the_incidents(gen, cap)  # type: ignore[arg-type]
    (stuck,) = kinds(gen, "stuck_proposal")  # type: ignore[arg-type]
    con = cap.frame("consensus_events")
    assert set(con.proposal_id.dropna()) - set(
        con[con.event == "decision_executed"].proposal_id) == {stuck.subject}


def test_seq_runs_1_to_n_in_time_order(stream):
    gen, jsonl, _ = stream
    cap = load_capture(jsonl)
    every = pd.concat([cap.frame(c)[["seq", "timestamp"]] for c in CHANNELS]).sort_values("seq")
    assert every.seq.tolist() == list(range(1, gen.events + 1))
    assert every.timestamp.is_monotonic_increasing


def test_each_node_reports_every_metric_about_every_10_s(stream):
    _, jsonl, _ = stream
    df = load_capture(jsonl).frame("monitoring_events").query("event == 'metric_update'")
    gaps = df[df.metric == "cpu_usage"].groupby("node_id", observed=True).timestamp.diff()
    assert gaps.median() == pytest.approx(pd.Timedelta(seconds=10), abs=pd.Timedelta("0.3s"))


def test_a_dataset_has_one_file_per_channel_and_hour(stream):
    _, _, parquet = stream
    for channel in CHANNELS:
        hours = sorted(parquet.glob(f"channel={channel.value}/hour=*"))
        assert [h.name for h in hours] == [f"hour=2026-01-05T{h:02d}" for h in (9, 10, 11)]
        assert all([f.name for f in h.iterdir()] == ["part-0-0.parquet"] for h in hours)


def test_a_thousand_nodes_stream(tmp_path):
    gen = scenario.export(tmp_path / "big.parquet", seed=1, duration=1200.0, nodes=1000)
    assert gen.engine == "stream"  # 333 node-hours: over the classic limit
    cap = load_capture(tmp_path / "big.parquet")
    nodes = cap.frame("monitoring_events").node_id
    assert nodes.nunique() == 1000
    assert nodes.min() == "node_0001"
    assert {i.kind for i in gen.incidents} == KINDS


# --- engines and errors ----------------------------------------------------------------------


def test_auto_engine_is_classic_up_to_the_limit():
    small = scenario.Generation(seed=1, duration=3600.0, nodes=100, start=scenario.DEFAULT_START)
    large = scenario.Generation(seed=1, duration=3600.0, nodes=101, start=scenario.DEFAULT_START)
    week = scenario.Generation(seed=1, duration=7 * 86400.0, nodes=5000,
                               start=scenario.DEFAULT_START)
    assert (small.engine, large.engine, week.engine) == ("classic", "stream", "stream")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"nodes": 15}, "nodes must be at least 16"),
    ({"duration": 59.0}, "duration must be at least 60 s"),
    ({"engine": "fast"}, "engine must be one of"),
    ({"window": 0.5}, "window must be at least"),
])
def test_bad_values_are_scenario_errors(kwargs, message, tmp_path):
    with pytest.raises(ScenarioError, match=message):
        scenario.export(tmp_path / "x.parquet", **{"seed": 1, **kwargs})
    assert not (tmp_path / "x.parquet").exists()


def test_a_dataset_is_not_written_over(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "keep.txt").write_text("mine")
    with pytest.raises(CaptureError, match="not an empty directory"):
        scenario.export(tmp_path / "d", duration=1200.0, nodes=16)
    assert [p.name for p in (tmp_path / "d").iterdir()] == ["keep.txt"]


def test_dataset_paths():
    assert scenario.is_dataset_path("out/")
    assert scenario.is_dataset_path("fleet.parquet")
    assert not scenario.is_dataset_path("fleet.jsonl.gz")


# --- the command line ------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "seconds"), [
    ("7d", 7 * 86400.0), ("36h", 36 * 3600.0), ("90min", 5400.0), ("1h30m", 5400.0),
    ("1200", 1200.0),
])
def test_durations_in_days_hours_minutes_or_seconds(text, seconds):
    assert parse_duration(text) == seconds


def test_cli_generates_a_multi_hour_dataset(tmp_path, capsys):
    out = tmp_path / "fleet.parquet"
    assert main(["generate", "-o", str(out), "--duration", "2h", "--nodes", "60",
                 "--seed", "4"]) == 0
    said = capsys.readouterr().out
    assert "stream engine" in said
    assert f"to dataset {out}" in said
    cap = load_capture(out)
    assert f"wrote {len(cap):,} events" in said
    assert cap.frame("monitoring_events").node_id.nunique() == 60
    assert len(list(out.glob("channel=monitoring_events/hour=*"))) == 2


def test_cli_writes_a_directory_ending_in_a_slash(tmp_path, capsys):
    assert main(["generate", "-o", f"{tmp_path / 'out'}/", "--duration", "20min",
                 "--nodes", "16", "--engine", "stream"]) == 0
    assert "to dataset" in capsys.readouterr().out
    assert len(load_capture(tmp_path / "out")) > 0


@pytest.mark.parametrize("args", [
    ["--duration", "7x"], ["--duration", "0"], ["--nodes", "0"], ["--nodes", "many"],
    ["--engine", "fast"],
])
def test_cli_bad_values_exit_2(args, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["generate", "-o", str(tmp_path / "x.parquet"), *args])
    assert info.value.code == 2
    assert "generate: error: argument" in capsys.readouterr().err


def test_cli_refuses_a_non_empty_directory(tmp_path, capsys):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_text("x")
    assert main(["generate", "-o", str(tmp_path / "d"), "--duration", "20min"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("openagi-nb generate: error: ")
    assert "not overwritten" in err
    assert err.count("\n") == 1
