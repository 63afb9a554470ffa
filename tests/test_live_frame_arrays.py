"""LiveFrame.arrays and LiveFrame.tail: a time range of the window as numpy columns, always the
rows ``snapshot()`` has in that range, in its order (tests of the rest of frames.py are in
test_live_frame.py)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal

from openagi_nb import model
from openagi_nb.stream import Arrays, LiveFrame

from .test_live_frame import NODES, T0, appending, filled, metric_row, rows_of, sample_messages

S = 1_000_000_000
NA = int(np.iinfo(np.int64).min)


def cut(df: pd.DataFrame, start: int | None, end: int | None) -> pd.DataFrame:
    """What ``arrays(start=, end=)`` must hold: the snapshot's rows in the range."""
    t = df["timestamp"].array.asi8
    keep = np.ones(len(df), bool) if start is None else t >= start
    if end is not None:
        keep &= t <= end
    return df.loc[keep].reset_index(drop=True)


def assert_range(frame: LiveFrame, start: int | None, end: int | None) -> Arrays:
    found = frame.arrays(start=start, end=end)
    assert_frame_equal(found.frame(), cut(frame.snapshot(), start, end))
    return found


def wrapped(window: int = 100, rows: int = 5050) -> LiveFrame:
    frame = LiveFrame("monitoring_events", window=window)
    for start in range(0, rows, 37):
        frame.extend(metric_row(i) for i in range(start, min(start + 37, rows)))
    return frame


def with_late_rows(window: Any = 1_000_000) -> LiveFrame:
    rows = [metric_row(i) for i in range(100)]
    rows.insert(70, metric_row(1000, ns=T0 + 45 * S))
    rows.insert(90, metric_row(1001, ns=T0 + 20 * S))
    rows.append(metric_row(1002, ns=T0 + 5 * S))
    return filled("monitoring_events", rows, window=window)


@pytest.mark.parametrize(("lo", "hi"), [(4950, 5049), (4990, 5010), (4940, 4955), (5040, 6000)])
def test_a_range_across_the_ring_end_is_the_snapshot_cut(lo, hi):
    frame = wrapped()
    found = assert_range(frame, T0 + lo * S, T0 + hi * S)
    assert found["seq"].tolist() == list(range(max(lo, 4950), min(hi, 5049) + 1))


def test_the_ring_of_these_tests_does_wrap():
    frame = wrapped()
    ring = frame._data[1]
    assert frame._head != 0
    assert int(ring[frame._head - 1]) > int(ring[frame._head])


def test_only_the_columns_asked_for_are_read_with_seq_and_timestamp():
    found = wrapped().arrays(["value"], start=T0 + 5040 * S)
    assert list(found.data) == ["seq", "timestamp", "value"]
    assert found["value"].tolist() == [float(i) for i in range(5040, 5050)]
    assert found["timestamp"].dtype == np.int64
    with pytest.raises(ValueError, match="every column"):
        found.frame()


def test_last_counts_back_from_the_newest_timestamp_of_the_window():
    frame = wrapped()
    found = frame.arrays(["value"], last=9 * S)
    assert found["seq"].tolist() == list(range(5040, 5050))
    assert found.bounds == (T0 + 4950 * S, T0 + 5049 * S)


def test_late_rows_are_found_and_sorted_as_the_snapshot_sorts_them():
    frame = with_late_rows()
    found = assert_range(frame, T0 + 19 * S, T0 + 46 * S)
    assert found["seq"].tolist()[:3] == [19, 20, 1001]
    assert found["seq"].tolist()[-4:] == [44, 45, 1000, 46]
    assert_range(frame, None, None)


def test_a_late_row_a_time_window_no_longer_covers_is_never_read():
    frame = with_late_rows(window="60s")
    assert 1002 not in frame.arrays()["seq"].tolist()
    assert 1002 not in frame.arrays(start=T0).frame()["seq"].tolist()
    assert_range(frame, None, None)
    assert_range(frame, T0 + 40 * S, None)


def test_once_the_late_rows_are_evicted_ranges_are_still_right():
    frame = with_late_rows(window=50)
    frame.extend(metric_row(i) for i in range(100, 200))
    assert_range(frame, T0 + 150 * S, T0 + 160 * S)
    assert frame._descent <= frame.version - len(frame)  # searched, not scanned


@pytest.mark.parametrize(("start", "end"), [
    (T0 + 10 * S, T0 + 5 * S), (T0 - 100 * S, T0 - S), (T0 + 10**6 * S, None),
    (T0 + 4950 * S + 1, T0 + 4951 * S - 1),
])
def test_an_empty_range_has_no_rows_and_the_declared_dtypes(start, end):
    found = assert_range(wrapped(), start, end)
    assert len(found) == 0
    assert found.frame().dtypes.to_dict() == model.dtypes("monitoring_events")


def test_an_empty_frame_reads_no_rows_and_has_no_bounds():
    frame = LiveFrame("security_events")
    found = frame.arrays(last=60 * S)
    assert (len(found), found.bounds) == (0, None)
    assert_frame_equal(frame.arrays().frame(), model.empty_frame("security_events"))
    assert len(frame.tail(8)) == 0


def test_rows_without_a_timestamp_come_only_with_an_open_start():
    rows = [metric_row(i) for i in range(10)]
    undated = list(metric_row(99))
    undated[1] = None
    frame = filled("monitoring_events", [*rows[:5], tuple(undated), *rows[5:]])
    assert 99 in frame.arrays(end=T0 + 3 * S)["seq"].tolist()
    assert 99 not in frame.arrays(start=T0)["seq"].tolist()
    assert frame.arrays().bounds == (T0, T0 + 9 * S)
    assert_range(frame, None, T0 + 3 * S)
    assert_range(frame, T0 + 3 * S, None)


def test_na_values_read_as_stored_and_factor_marks_them_minus_one():
    row = list(metric_row(1))
    row[0], row[3], row[5], row[6] = None, None, None, None  # seq, node_id, value, threshold
    frame = filled("monitoring_events", [metric_row(0), tuple(row)])
    found = frame.arrays(["node_id", "value", "status"])
    assert found["seq"].tolist() == [0, NA]
    assert np.isnan(found["value"][1])
    codes, labels = found.factor("node_id")
    assert codes.tolist() == [0, -1]
    assert labels == ["node_00"]
    assert found.code("node_id", "node_00") == 0
    assert found.code("node_id", "nope") == -1
    assert found.factor("status")[1] == list(model.STATUSES)
    with pytest.raises(ValueError, match="float values"):
        found.factor("value")


def test_unknown_columns_and_start_with_last_are_refused():
    frame = wrapped()
    with pytest.raises(ValueError, match="no column 'nope'"):
        frame.arrays(["nope"])
    with pytest.raises(ValueError, match="start or last"):
        frame.arrays(start=T0, last=S)


@pytest.mark.parametrize("channel", [c.value for c in model.CHANNELS])
def test_every_column_of_every_channel_decodes_as_the_snapshot(channel):
    frame = filled(channel, rows_of(sample_messages(3000), channel), window=700)
    t = frame.snapshot()["timestamp"].array.asi8
    assert_range(frame, int(t[100]), int(t[400]))


@pytest.mark.parametrize("n", [0, 1, 8, 5000])
@pytest.mark.parametrize("make", [wrapped, with_late_rows])
def test_tail_is_the_end_of_the_snapshot(make, n):
    frame = make()
    snapshot = frame.snapshot()
    expected = snapshot.iloc[len(snapshot) - min(n, len(snapshot)):].reset_index(drop=True)
    assert_frame_equal(frame.tail(n), expected)


@settings(max_examples=60, deadline=None)
@given(
    gaps=st.lists(st.integers(0, 3), min_size=1, max_size=120),
    late=st.lists(st.integers(0, 30), max_size=120),
    window=st.sampled_from([7, 30, 1000, "12s"]),
    ends=st.tuples(st.integers(-5, 50), st.integers(-5, 50)),
)
def test_any_range_of_any_window_is_the_snapshot_cut(gaps, late, window, ends):
    rows = []
    for i, ns in enumerate(np.cumsum(gaps) * S // 2):  # in order, some rows late by 10-15 s
        back = late[i] // 2 * S if i < len(late) and late[i] > 20 else 0
        rows.append(metric_row(i, ns=T0 + int(ns) - back))
    frame = LiveFrame("monitoring_events", window=window)
    for k in range(0, len(rows), 9):
        frame.extend(rows[k:k + 9])
    lo, hi = (T0 + e * S for e in ends)
    assert_range(frame, lo, hi)
    assert_range(frame, None, hi)
    assert_frame_equal(frame.tail(5), frame.snapshot().tail(5).reset_index(drop=True))


def test_ranges_read_while_rows_arrive_are_whole_and_complete():
    frame = LiveFrame("monitoring_events", window=20_000)
    with appending(frame, 100_000) as done:
        reads = 0
        while not done.is_set() or reads < 3:
            found = frame.arrays(["node_id", "value"], last=300 * S)
            seq = found["seq"]
            assert np.array_equal(found["value"], seq.astype(float))
            assert np.array_equal(found["timestamp"], T0 + seq * S)
            codes, labels = found.factor("node_id")
            assert [labels[c] for c in codes] == [NODES[i % 25] for i in seq]
            if found.bounds is not None:
                oldest, newest = ((b - T0) // S for b in found.bounds)
                assert seq.tolist() == list(range(max(newest - 300, oldest), newest + 1))
            reads += 1
    assert frame.arrays(last=0)["seq"].tolist() == [99_999]
