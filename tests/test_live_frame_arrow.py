"""LiveFrame.extend_arrow: an Arrow batch of a channel (docs/protocol.md section 14.5) leaves the
frame exactly as ``extend`` of the same rows does, in every channel, window and Arrow encoding
(tests of rows are in test_live_frame.py)."""

from __future__ import annotations

import functools
import random
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal

from openagi_nb import model, scenario
from openagi_nb.model import Kind
from openagi_nb.stream import LiveFrame

from .test_live_frame import T0, metric_row

Row = tuple[Any, ...]
S = 1_000_000_000
CHANNELS = [c.value for c in model.CHANNELS]
ENCODINGS = ["dictionary", "plain"]
PLAIN: dict[Kind, pa.DataType] = {
    Kind.FLOAT: pa.float64(), Kind.INT: pa.int64(), Kind.BOOL: pa.bool_(),
    Kind.TIMESTAMP: pa.timestamp("ns", "UTC"), Kind.LIST: pa.list_(pa.string()),
    Kind.CATEGORY: pa.string(), Kind.STRING: pa.large_string(),
}


@functools.cache
def scenario_rows() -> dict[str, tuple[Row, ...]]:
    """Each channel's rows of a generated scenario, with in each channel a data field dropped
    every 11th message, an unknown key every 23rd and no ``seq`` every 37th: so every column
    but ``timestamp`` and ``event`` has NA somewhere and ``extra`` is set somewhere."""
    rng = random.Random(5)
    seen: dict[str, int] = {}
    rows: dict[str, list[Row]] = {c: [] for c in CHANNELS}
    for message in scenario.generate(seed=3, duration=1200.0, nodes=16).messages:
        msg: dict[str, Any] = dict(message)
        msg["data"] = data = dict(msg["data"])
        k = seen[msg["type"]] = seen.get(msg["type"], -1) + 1
        if k % 11 == 5 and data:
            del data[rng.choice(sorted(data))]
        if k % 23 == 7:
            data["region"] = rng.choice(["eu", "us"])
        if k % 37 == 3:
            del msg["seq"]
        channel, row = model.flatten(msg)
        rows[channel].append(row)
    return {c: tuple(r) for c, r in rows.items()}


def position(channel: str, name: str) -> int:
    return [c.name for c in model.columns(channel)].index(name)


def with_value(row: Row, channel: str, name: str, value: Any) -> Row:
    changed = list(row)
    changed[position(channel, name)] = value
    return tuple(changed)


def arrow_column(column: model.Column, values: list[Any], encoding: str) -> pa.Array:
    """A column as a server sends it: strings and categories ``dictionary<int32, utf8>``
    (``encoding="dictionary"``) or plain ``utf8`` (categories) and ``large_utf8`` (strings);
    ``extra`` always ``utf8``."""
    if column.name == "extra":
        return pa.array(values, pa.string())
    if encoding == "dictionary" and column.kind in (Kind.STRING, Kind.CATEGORY):
        return pa.array(values, pa.string()).dictionary_encode()
    return pa.array(values, PLAIN[column.kind])


def table_of(channel: str, rows: Sequence[Row], encoding: str = "dictionary",
             drop: tuple[str, ...] = ()) -> pa.Table:
    return pa.table({
        c.name: arrow_column(c, [r[i] for r in rows], encoding)
        for i, c in enumerate(model.columns(channel)) if c.name not in drop
    })


def pieces(rows: Sequence[Row], size: int) -> Iterator[list[Row]]:
    for start in range(0, len(rows), size):
        yield list(rows[start:start + size])


def fed(channel: str, batches: Iterator[list[Row]], window: Any = 1_000_000,
        encoding: str = "dictionary") -> tuple[LiveFrame, LiveFrame]:
    """Two frames given the same batches of rows, one by ``extend``, one by ``extend_arrow``."""
    by_rows, by_arrow = LiveFrame(channel, window), LiveFrame(channel, window)
    for batch in batches:
        by_rows.extend(batch)
        by_arrow.extend_arrow(table_of(channel, batch, encoding))
    return by_rows, by_arrow


def assert_same(expected: LiveFrame, found: LiveFrame) -> None:
    assert_frame_equal(found.snapshot(), expected.snapshot())
    assert (found.version, len(found), found.dropped) == (expected.version, len(expected), 0)


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("channel", CHANNELS)
def test_arrow_batches_are_stored_as_their_rows(channel, encoding):
    rows = scenario_rows()[channel]
    assert_same(*fed(channel, pieces(rows, 1000), encoding=encoding))


@pytest.mark.parametrize("channel", CHANNELS)
def test_the_rows_have_na_in_every_kind_and_extras(channel):
    """What the tests above cover: NA in every column that may lack a value, and ``extra``."""
    rows = scenario_rows()[channel]
    for i, column in enumerate(model.columns(channel)):
        values = [r[i] for r in rows]
        if column.name not in ("timestamp", "event"):
            assert None in values, column.name
        assert any(v is not None for v in values), column.name


def test_the_list_column_keeps_each_partitions_nodes():
    rows = [
        model.flatten(dict(model.data_message(
            "network_events", "network_partition",
            {"partition_id": f"p{i}", "detected_by": "node_1",
             **({} if nodes is None else {"nodes": nodes})},
            model.format_timestamp(T0 + i * S), i)))[1]
        for i, nodes in enumerate([["node_1", "node_2"], [], ["node_3"], None, ["a", "b"]])
    ]
    by_rows, by_arrow = fed("network_events", iter([rows]))
    assert_same(by_rows, by_arrow)
    nodes = by_arrow.snapshot()["nodes"].tolist()
    assert [list(n) for n in nodes[:3]] == [["node_1", "node_2"], [], ["node_3"]]
    assert nodes[3] is pd.NA


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_strings_not_seen_before_mix_with_seen_ones_across_batches(encoding):
    batches = [[metric_row(1000 * k + i, node=f"node_{(7 * k + i) % 30}" if i % 3 else
                           f"new_{k}_{i}") for i in range(200)] for k in range(6)]
    by_rows, by_arrow = fed("monitoring_events", iter(batches), encoding=encoding)
    assert_same(by_rows, by_arrow)


@pytest.mark.parametrize("window", [1, 7, 999, 5000])
def test_a_row_window_smaller_than_a_batch_keeps_the_newest_rows(window):
    rows = scenario_rows()["monitoring_events"]
    assert_same(*fed("monitoring_events", pieces(rows, 3000), window))


@pytest.mark.parametrize("channel", ["monitoring_events", "security_events"])
@pytest.mark.parametrize("window", ["30s", "5min"])
def test_a_time_window_evicts_as_it_does_rows(channel, window):
    rows = scenario_rows()[channel]
    by_rows, by_arrow = fed(channel, pieces(rows, 500), window)
    assert_same(by_rows, by_arrow)
    assert len(by_arrow) < len(rows)


def late(rows: Sequence[Row], every: int = 50, by: int = 200) -> list[Row]:
    """``rows`` with every ``every``-th moved ``by`` places later: out of time order."""
    moved = list(rows)
    for i in range(len(rows) - by - 1, 0, -every):
        moved.insert(i + by, moved.pop(i))
    return moved


@pytest.mark.parametrize("window", [1_000_000, 300, "60s"])
def test_late_rows_are_sorted_and_expired_as_with_rows(window):
    rows = late(scenario_rows()["monitoring_events"])
    by_rows, by_arrow = fed("monitoring_events", pieces(rows, 700), window)
    assert_same(by_rows, by_arrow)
    bounds = by_rows.arrays(["value"]).bounds
    assert bounds is not None
    start, end = bounds[0] + 20 * S, bounds[1] - 5 * S
    assert_frame_equal(by_arrow.arrays(start=start, end=end).frame(),
                       by_rows.arrays(start=start, end=end).frame())
    assert_frame_equal(by_arrow.tail(40), by_rows.tail(40))


def test_rows_appended_before_a_batch_stay_before_it():
    """Same time, no ``seq``: only the order they were appended in orders them."""
    rows = [with_value(metric_row(i, ns=T0, node=f"node_{i}"), "monitoring_events", "seq", None)
            for i in range(10)]
    frame, expected = LiveFrame("monitoring_events"), LiveFrame("monitoring_events")
    expected.extend(rows)
    for row in rows[:3]:
        frame.append(row)
    frame.extend_arrow(table_of("monitoring_events", rows[3:8]))
    for row in rows[8:]:
        frame.append(row)
    assert_same(expected, frame)
    assert frame.snapshot()["node_id"].tolist() == [f"node_{i}" for i in range(10)]
    assert frame.since(3)[1]["node_id"].tolist() == [f"node_{i}" for i in range(3, 10)]
    assert frame.since(8)[1]["node_id"].tolist() == ["node_8", "node_9"]


def test_many_distinct_strings_over_a_small_window_compact_the_dictionary():
    batches = [[metric_row(i, node=f"unique_{i}") for i in range(k, k + 1000)]
               for k in range(0, 30_000, 1000)]
    by_rows, by_arrow = LiveFrame("monitoring_events", 1000), LiveFrame("monitoring_events", 1000)
    for batch in batches:
        by_rows.extend(batch)
        by_arrow.extend_arrow(table_of("monitoring_events", batch))
        assert_frame_equal(by_arrow.snapshot(), by_rows.snapshot())
    strings = by_arrow._stores[position("monitoring_events", "node_id")].strings
    assert strings is not None
    assert len(strings.values) <= 2 * 1000 + 4096


@pytest.mark.parametrize(("channel", "names"), [
    ("monitoring_events", ("seq",)),
    ("monitoring_events", ("threshold", "status", "node_id", "extra")),
    ("network_events", ("nodes", "round", "data_timestamp")),
    ("security_events", ("blocked", "severity")),
])
def test_a_declared_column_the_batch_lacks_is_all_na(channel, names):
    rows = scenario_rows()[channel][:400]
    expected = LiveFrame(channel)
    stripped = rows
    for name in names:
        stripped = [with_value(r, channel, name, None) for r in stripped]
    expected.extend(stripped)
    frame = LiveFrame(channel)
    frame.extend_arrow(table_of(channel, rows, drop=names))
    assert_same(expected, frame)


def refused(frame: LiveFrame, batch: pa.Table, match: str) -> None:
    """``extend_arrow(batch)`` raises ValueError matching ``match`` and changes nothing."""
    before, version = frame.snapshot(), frame.version
    with pytest.raises(ValueError, match=match):
        frame.extend_arrow(batch)
    assert_frame_equal(frame.snapshot(), before)
    assert frame.version == version


def started(rows: int = 20) -> LiveFrame:
    """A frame with some rows stored and some still pending."""
    frame = LiveFrame("monitoring_events", 50)
    frame.extend(metric_row(i) for i in range(rows))
    frame.append(metric_row(rows))
    return frame


def test_an_unknown_or_repeated_column_is_refused_and_nothing_is_added():
    table = table_of("monitoring_events", [metric_row(i) for i in range(100, 110)])
    refused(started(), table.append_column("bogus", pa.array(range(10))), "bogus")
    seq = table.column("seq")
    refused(started(), pa.Table.from_arrays([seq, seq], names=["seq", "seq"]), "seq")


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize(("name", "value"), [("status", "bogus"), ("event", "node_joined")])
def test_a_category_value_outside_its_set_is_refused_and_nothing_is_added(encoding, name,
                                                                          value):
    rows = [metric_row(i) for i in range(100, 110)]
    rows[6] = with_value(rows[6], "monitoring_events", name, value)
    refused(started(), table_of("monitoring_events", rows, encoding), f"{name}.*{value}")


@pytest.mark.parametrize(("name", "array"), [
    ("timestamp", pa.array([T0], pa.timestamp("ms", "UTC"))),
    ("timestamp", pa.array([T0], pa.timestamp("ns"))),
    ("seq", pa.array([1.0])),
    ("value", pa.array(["1.0"])),
    ("node_id", pa.array([3])),
    ("status", pa.array([1], pa.int32()).dictionary_encode()),
])
def test_a_column_of_another_type_is_refused_and_nothing_is_added(name, array):
    table = table_of("monitoring_events", [metric_row(100)])
    table = table.set_column(position("monitoring_events", name), name, array)
    refused(started(), table, name)


def test_reads_after_arrow_batches_are_those_after_rows():
    rows = scenario_rows()["security_events"]
    by_rows, by_arrow = fed("security_events", pieces(rows, 256), "10min")
    version = by_rows.version - 300
    assert by_arrow.since(version)[0] == by_rows.since(version)[0]
    assert_frame_equal(by_arrow.since(version)[1], by_rows.since(version)[1])
    assert_frame_equal(by_arrow.tail(25), by_rows.tail(25))
    bounds = by_rows.arrays(["seq"]).bounds
    assert bounds is not None
    middle = {"start": bounds[0] + 100 * S, "end": bounds[1] - 100 * S}
    for read in ({"last": 60 * S}, {}, middle):
        found, expected = by_arrow.arrays(**read), by_rows.arrays(**read)
        assert len(found) > 0
        assert_frame_equal(found.frame(), expected.frame())
        assert (found.version, found.bounds) == (expected.version, expected.bounds)
    found = by_arrow.arrays(["score", "blocked"], last=120 * S)
    expected = by_rows.arrays(["score", "blocked"], last=120 * S)
    assert len(found) > 0
    for name in ("seq", "timestamp", "score", "blocked"):
        np.testing.assert_array_equal(found[name], expected[name])


def test_chunked_tables_record_batches_and_slices_are_their_rows():
    """Each chunk of a table's column has its own dictionary; a slice starts inside one."""
    rows = scenario_rows()["monitoring_events"][:3000]
    table = pa.concat_tables([table_of("monitoring_events", rows[:1000]),
                              table_of("monitoring_events", rows[1000:])]).slice(100, 2800)
    assert table.column("node_id").num_chunks == 2
    expected, whole, batches = (LiveFrame("monitoring_events") for _ in range(3))
    expected.extend(rows[100:2900])
    whole.extend_arrow(table)
    for batch in table.to_batches():
        batches.extend_arrow(batch)
    assert_same(expected, whole)
    assert_same(expected, batches)


def test_an_empty_batch_adds_nothing():
    frame = started()
    before, version = frame.snapshot(), frame.version
    frame.extend_arrow(table_of("monitoring_events", []))
    frame.extend_arrow(table_of("monitoring_events", [metric_row(0)]).slice(1))
    assert_frame_equal(frame.snapshot(), before)
    assert frame.version == version


def test_columns_of_the_null_type_are_all_na():
    rows = [metric_row(i) for i in range(5)]
    table = table_of("monitoring_events", rows)
    for name in ("threshold", "status", "node_id", "extra"):
        table = table.set_column(position("monitoring_events", name), name, pa.nulls(5))
        rows = [with_value(r, "monitoring_events", name, None) for r in rows]
    frame, expected = LiveFrame("monitoring_events"), LiveFrame("monitoring_events")
    frame.extend_arrow(table)
    expected.extend(rows)
    assert_same(expected, frame)


def test_a_dictionary_larger_than_its_batch_adds_only_the_values_its_rows_use():
    """A dictionary shared by several batches (an IPC stream's): its other values, even
    ones outside a closed set, are not this batch's."""
    rows = [metric_row(i) for i in range(4)]
    table = table_of("monitoring_events", rows)
    nodes = pa.array([f"other_{i}" for i in range(10)] + [r[3] for r in rows])
    statuses = pa.array(["bogus", "ok", "warning", "critical", "worse"])
    table = table.set_column(3, "node_id", pa.DictionaryArray.from_arrays(
        pa.array([10, 11, 12, 13], pa.int32()), nodes))
    status = position("monitoring_events", "status")
    table = table.set_column(status, "status", pa.DictionaryArray.from_arrays(
        pa.array([1, None, 2, 1], pa.int8()), statuses))
    rows[1] = with_value(rows[1], "monitoring_events", "status", None)
    rows[2] = with_value(rows[2], "monitoring_events", "status", "warning")
    frame, expected = LiveFrame("monitoring_events"), LiveFrame("monitoring_events")
    frame.extend_arrow(table)
    expected.extend(rows)
    assert_same(expected, frame)
    strings = frame._stores[3].strings
    assert strings is not None
    assert not [v for v in strings.values if v is not None and v.startswith("other_")]


@settings(max_examples=40, deadline=None)
@given(
    cuts=st.lists(st.tuples(st.integers(1, 150), st.sampled_from(["rows", "append", *ENCODINGS])),
                  min_size=1, max_size=12),
    window=st.sampled_from([1_000_000, 60, "20s"]),
    channel=st.sampled_from(["security_events", "monitoring_events"]),
)
def test_any_split_into_rows_and_arrow_batches_gives_the_same_snapshot(cuts, window, channel):
    rows = scenario_rows()[channel][:600]
    expected, frame = LiveFrame(channel, window), LiveFrame(channel, window)
    done = 0
    for size, how in cuts:
        piece = list(rows[done:done + size])
        done += len(piece)
        if how == "rows":
            frame.extend(piece)
        elif how == "append":
            for row in piece:
                frame.append(row)
        elif piece:
            frame.extend_arrow(table_of(channel, piece, how))
    expected.extend(rows[:done])
    assert_same(expected, frame)
