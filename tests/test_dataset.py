"""Parquet datasets by channel and hour (``capture/_dataset.py``) and their lazy view
(``open_dataset``): equal to ``load_capture``, filters pushed down, any filesystem."""

from __future__ import annotations

import shutil
from pathlib import Path

import fsspec
import pandas as pd
import pyarrow.parquet as pq
import pytest
from pandas.testing import assert_frame_equal

from openagi_nb import CaptureError, model
from openagi_nb.capture import Capture, convert, load_capture, open_dataset
from openagi_nb.capture._dataset import DatasetWriter
from openagi_nb.capture._parquet import write_parts
from openagi_nb.model import CHANNELS

from .conftest import T0_NS, write_capture

HOURS = 3


@pytest.fixture(scope="module")
def scenario_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three hours of 25 nodes: a capture whose channels span several hour directories."""
    path = tmp_path_factory.mktemp("scenario") / "three_hours.jsonl.gz"
    from openagi_nb.scenario import write

    write(path, seed=11, duration=HOURS * 3600.0, nodes=25)
    return path


@pytest.fixture(scope="module")
def dataset(scenario_capture: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return convert(scenario_capture, tmp_path_factory.mktemp("pq") / "fleet")


@pytest.fixture(scope="module")
def frames(scenario_capture: Path) -> Capture:
    return load_capture(scenario_capture)


def test_every_channel_is_split_by_hour(dataset):
    for channel in CHANNELS:
        hours = sorted(p.name for p in (dataset / f"channel={channel.value}").iterdir())
        assert hours, channel
        assert all(h.startswith("hour=2026-01-05T") for h in hours)
    assert len(list((dataset / "channel=monitoring_events").iterdir())) == HOURS


def test_the_lazy_view_gives_the_captures_frames(dataset, frames):
    view = open_dataset(dataset)
    assert view.channels == CHANNELS
    for channel in CHANNELS:
        assert_frame_equal(view.frame(channel), frames.frame(channel))
        assert_frame_equal(load_capture(dataset).frame(channel), frames.frame(channel))


def test_to_dask_has_the_declared_meta_and_the_same_rows(dataset, frames):
    view = open_dataset(dataset)
    for channel in CHANNELS:
        lazy = view.to_dask(channel)
        assert dict(lazy.dtypes) == model.dtypes(channel)
        got = lazy.compute().reset_index(drop=True)
        assert_frame_equal(got, frames.frame(channel))
    monitoring = view.to_dask("monitoring_events")
    assert monitoring.npartitions == HOURS  # one per file, in time order
    firsts = [monitoring.get_partition(i)["timestamp"].min().compute() for i in range(HOURS)]
    assert firsts == sorted(firsts)


def pandas_filter(df: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp,
                  nodes: list[str], column: str) -> pd.DataFrame:
    keep = (df["timestamp"] >= start) & (df["timestamp"] < end) & df[column].isin(nodes)
    return df[keep].reset_index(drop=True)


def test_time_nodes_and_columns_are_filtered_as_pandas_would(dataset, frames):
    view = open_dataset(dataset)
    df = frames.frame("monitoring_events")
    start, end = df["timestamp"].iloc[len(df) // 5], df["timestamp"].iloc[len(df) // 2]
    nodes = sorted(df["node_id"].dropna().unique())[:3]
    expected = pandas_filter(df, start, end, nodes, "node_id")
    assert len(expected) > 100
    got = view.frame("monitoring_events", start=start, end=end, nodes=nodes)
    assert_frame_equal(got, expected)
    narrow = view.frame("monitoring_events", start=start, end=end, nodes=nodes,
                        columns=["value", "node_id"])
    assert list(narrow.columns) == ["seq", "timestamp", "node_id", "value"]
    assert_frame_equal(narrow, expected[["seq", "timestamp", "node_id", "value"]])
    lazy = view.to_dask("monitoring_events", start=start, end=end, nodes=nodes)
    assert_frame_equal(lazy.compute().reset_index(drop=True), expected)
    consensus = frames.frame("consensus_events")
    proposers = sorted(consensus["proposer"].dropna().unique())[:1]
    assert_frame_equal(
        view.frame("consensus_events", nodes=proposers),
        consensus[consensus["proposer"].isin(proposers)].reset_index(drop=True))


def test_a_time_range_reads_only_its_hours(dataset, frames):
    view = open_dataset(dataset)
    every = view.files("monitoring_events")
    assert len(every) == HOURS
    first_hour = pd.Timestamp("2026-01-05T09:10Z"), pd.Timestamp("2026-01-05T09:50Z")
    assert view.files("monitoring_events", start=first_hour[0], end=first_hour[1]) == every[:1]
    assert view.files("monitoring_events", start="2026-01-05T10:30Z") == every[1:]
    assert view.files("monitoring_events", end="2026-01-05 09:59") == every[:1]  # naive: UTC


def test_a_nodes_rows_lie_in_few_row_groups(tmp_path, frames):
    """Files are sorted by node then time: the row groups' statistics let a reader of one node
    skip almost all of them."""
    out = tmp_path / "small_groups"
    writer = DatasetWriter(out, row_group=500)
    writer.write_frame(model.Channel.MONITORING, frames.frame("monitoring_events"))
    groups = touched = 0
    for path in out.rglob("*.parquet"):
        meta = pq.ParquetFile(path).metadata
        column = meta.schema.names.index("node_id")
        for g in range(meta.num_row_groups):
            stats = meta.row_group(g).column(column).statistics
            groups += 1
            touched += stats.min <= "node_10" <= stats.max
    assert groups > 50
    assert touched <= groups / 10  # 25 nodes: a node is about 1/25th of the rows


def test_day_directories_and_appended_parts(tmp_path, frames):
    out = tmp_path / "daily"
    writer = DatasetWriter(out, period="day")
    for channel in CHANNELS:
        writer.write_frame(channel, frames.frame(channel).iloc[:100])
    second = DatasetWriter(out, part=1, period="day")
    for channel in CHANNELS:
        second.write_frame(channel, frames.frame(channel).iloc[100:])
    assert {p.name for p in out.glob("channel=*/*")} == {"day=2026-01-05"}
    assert len(list(out.glob("channel=monitoring_events/day=*/part-*.parquet"))) == 2
    view = open_dataset(out)
    for channel in CHANNELS:
        assert_frame_equal(view.frame(channel), frames.frame(channel))
    assert len(view.files("monitoring_events", start="2026-01-05T11:00Z")) == 2


def test_a_dataset_of_the_old_layout_reads_alike(tmp_path):
    cap = load_capture(write_capture(tmp_path / "c.jsonl", 400))
    out = tmp_path / "old"
    write_parts(cap.frames, cap.rejects, out, 0)
    for path in list(out.glob("channel=*/hour=*/part-*.parquet")):  # back to channel=X/part-0
        path.rename(path.parent.parent / "part-0.parquet")
        path.parent.rmdir()
    view = open_dataset(out)
    for channel in CHANNELS:
        assert_frame_equal(view.frame(channel), cap.frame(channel))
        assert_frame_equal(load_capture(out).frame(channel), cap.frame(channel))
    start = pd.Timestamp(T0_NS + 100 * 10**9, unit="ns", tz="UTC")
    assert len(view.frame("monitoring_events", start=start)) < 100


def test_a_url_is_read_through_its_filesystem(dataset, frames):
    memory = fsspec.filesystem("memory")
    for path in dataset.rglob("*.parquet"):
        memory.pipe(f"/fleet/{path.relative_to(dataset)}", path.read_bytes())
    view = open_dataset("memory://fleet")
    assert view.channels == CHANNELS
    assert_frame_equal(view.frame("security_events"), frames.frame("security_events"))


def test_errors_say_what_is_wrong(dataset, tmp_path):
    with pytest.raises(CaptureError, match="not a Parquet dataset"):
        open_dataset(tmp_path)
    view = open_dataset(dataset)
    with pytest.raises(ValueError, match="has no column 'nope'"):
        view.frame("monitoring_events", columns=["nope"])
    with pytest.raises(ValueError, match="weather"):
        view.frame("weather")
    broken = tmp_path / "broken"
    shutil.copytree(dataset, broken)
    next(broken.glob("channel=monitoring_events/*/part-*.parquet")).write_bytes(b"not parquet")
    with pytest.raises(CaptureError, match="monitoring_events"):
        open_dataset(broken).frame("monitoring_events")


def test_convert_by_day_and_appending_keeps_the_datasets_period(tmp_path, scenario_capture):
    out = convert(scenario_capture, tmp_path / "daily", period="day")
    assert {p.name for p in out.glob("channel=*/*")} == {"day=2026-01-05"}
    convert(scenario_capture, out)  # a file replaces the dataset, in the period asked
    assert {p.name for p in out.glob("channel=monitoring_events/*")} == {
        f"hour=2026-01-05T{h:02d}" for h in range(9, 9 + HOURS)}
    with pytest.raises(ValueError, match="period must be"):
        convert(scenario_capture, out, period="week")  # type: ignore[arg-type]


def test_the_analysis_answers_the_same_on_the_dataset_as_on_the_capture(dataset, frames):
    """The dataset goes through Dask (one partition per hour file): incidents, and the
    functions they use, equal those of the loaded capture."""
    from openagi_nb import analysis

    view = open_dataset(dataset)
    assert_frame_equal(analysis.incidents(view).reset_index(drop=True),
                       analysis.incidents(frames).reset_index(drop=True))
    monitoring = view.to_dask("monitoring_events")
    assert monitoring.npartitions == HOURS
    expected = analysis.breaches(frames.frame("monitoring_events"), for_="2min")
    assert len(expected) > 0
    assert_frame_equal(analysis.breaches(monitoring, for_="2min").reset_index(drop=True),
                       expected.reset_index(drop=True))
