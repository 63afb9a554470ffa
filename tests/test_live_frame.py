"""stream/_live_frame.py: LiveFrame keeps a bounded window in the declared schema, equal to a
capture's."""

from __future__ import annotations

import contextlib
import random
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from openagi_nb import load_capture, model
from openagi_nb.capture import CaptureWriter
from openagi_nb.stream import LiveFrame

T0 = 1_767_600_000_000_000_000
NODES = [f"node_{i:02d}" for i in range(25)]


def stamp(ns: int) -> str:
    return model.format_timestamp(ns)


def _decision(rng: random.Random) -> dict[str, Any]:
    return {"action": "update_parameter", "parameter": rng.choice(["lr", "batch"]),
            "value": rng.random()}


def _data(channel: str, event: str, rng: random.Random, ns: int) -> dict[str, Any]:
    node = rng.choice(NODES)
    ip = f"203.0.113.{rng.randrange(256)}"
    severity = rng.choice(model.SEVERITIES)
    return {
        "node_joined": {"node_id": node, "address": f"{node}.onion", "timestamp": stamp(ns)},
        "node_left": {"node_id": node, "address": f"{node}.onion", "reason": "timeout"},
        "network_partition": {"partition_id": "p1", "nodes": [node, "node_00"],
                              "detected_by": node},
        "consensus_reached": {"proposal_id": "proposal_1", "round": rng.randrange(9),
                              "decision": _decision(rng)},
        "proposal_submitted": {"proposal_id": "proposal_2", "proposer": node,
                               "data": _decision(rng), "consensus_round": 3},
        "consensus_phase": {"proposal_id": "proposal_2", "phase": "commit", "view": 1,
                            "votes": rng.randrange(25), "quorum": 17},
        "decision_executed": {"proposal_id": "proposal_2", "decision": _decision(rng),
                              "executed_at": stamp(ns)},
        "view_change": {"old_view": 1, "new_view": 2, "new_leader": node, "reason": "timeout"},
        "intrusion_detected": {"attack_type": "ddos", "source_ip": ip,
                               "blocked": rng.random() < 0.5, "severity": severity},
        "attack_blocked": {"attack_type": "ddos", "source_ip": ip, "rule": "r1",
                           "severity": severity},
        "certificate_expired": {"node_id": node, "expired_at": stamp(ns), "severity": "high"},
        "suspicious_activity": {"source_ip": ip, "description": f"scan {rng.random()}",
                                "severity": severity, "score": rng.random()},
        "metric_update": {"node_id": node, "metric": rng.choice(["cpu_usage", "memory_usage"]),
                          "value": rng.random() * 100, "threshold": 80.0,
                          "status": rng.choice(model.STATUSES)},
        "alert_raised": {"alert_id": f"alert_{rng.random()}", "node_id": node, "metric": "cpu",
                         "value": 95.0, "threshold": 90.0, "severity": severity,
                         "message": f"cpu at {rng.random():.3f}"},
        "performance_degradation": {"node_id": node, "component": "disk", "metric": "io",
                                    "value": 3.0, "baseline": 1.0},
        "resource_exhausted": {"node_id": node, "resource": "memory", "value": 99.0,
                               "limit": 100.0},
    }[event]


def sample_messages(n: int, seed: int = 1, channels: tuple[str, ...] | None = None,
                    step_ns: int = 1_000_000) -> list[dict[str, Any]]:
    """``n`` data messages of every event of ``channels``, some with a field missing, an
    unknown field or no ``seq``, in time order."""
    rng = random.Random(seed)
    chosen = channels or tuple(c.value for c in model.CHANNELS)
    out = []
    for i in range(n):
        channel = rng.choice(chosen)
        event = rng.choice(list(model.CATALOGUE[model.Channel(channel)]))
        ns = T0 + i * step_ns
        data = _data(channel, event, rng, ns)
        if rng.random() < 0.1:
            data.pop(rng.choice(list(data)))
        if rng.random() < 0.05:
            data["region"] = rng.choice(["eu", "us"])
        msg: dict[str, Any] = dict(model.data_message(channel, event, data, stamp(ns), i))
        if rng.random() < 0.05:
            del msg["seq"]
        out.append(msg)
    return out


def rows_of(messages: list[dict[str, Any]], channel: str) -> list[tuple[Any, ...]]:
    flat = (model.flatten(m) for m in messages)
    return [row for ch, row in flat if ch == channel]


def capture_of(tmp_path: Path, messages: list[dict[str, Any]]):
    path = tmp_path / "c.jsonl"
    with CaptureWriter(path) as writer:
        writer.write_all(model.encode(m) for m in messages)
    return load_capture(path)


def filled(channel: str, rows: list[tuple[Any, ...]], window: Any = 1_000_000) -> LiveFrame:
    frame = LiveFrame(channel, window)
    for row in rows:
        frame.append(row)
    return frame


def metric_row(seq: int, ns: int | None = None, node: str | None = None) -> tuple[Any, ...]:
    msg = model.data_message(
        "monitoring_events", "metric_update",
        {"node_id": node or NODES[seq % 25], "metric": "cpu_usage", "value": float(seq),
         "threshold": 80.0, "status": "ok"},
        stamp(T0 + seq * 1_000_000_000 if ns is None else ns), seq)
    return model.flatten(dict(msg))[1]


@pytest.mark.parametrize("channel", [c.value for c in model.CHANNELS])
def test_snapshot_equals_the_capture_frame_of_the_same_messages(tmp_path, channel):
    messages = sample_messages(3000)
    frame = filled(channel, rows_of(messages, channel))
    assert_frame_equal(frame.snapshot(), capture_of(tmp_path, messages).frame(channel))


def test_empty_snapshot_is_the_empty_declared_frame():
    assert_frame_equal(LiveFrame("security_events").snapshot(),
                       model.empty_frame("security_events"))


def test_extend_equals_appending_one_by_one():
    rows = rows_of(sample_messages(500), "consensus_events")
    frame = LiveFrame("consensus_events")
    frame.extend(rows)
    assert_frame_equal(frame.snapshot(), filled("consensus_events", rows).snapshot())


def test_row_window_keeps_the_newest_rows():
    frame = filled("monitoring_events", [metric_row(i) for i in range(12)], window=5)
    assert frame.snapshot()["seq"].tolist() == [7, 8, 9, 10, 11]
    assert len(frame) == 5


def test_row_window_wraps_many_times_and_takes_batches_larger_than_itself():
    frame = LiveFrame("monitoring_events", window=100)
    for start in range(0, 5000, 37):
        frame.extend(metric_row(i) for i in range(start, start + 37))
    frame.extend(metric_row(i) for i in range(5000, 5250))
    df = frame.snapshot()
    assert df["seq"].tolist() == list(range(5150, 5250))
    assert df["value"].tolist() == [float(i) for i in range(5150, 5250)]
    assert df["node_id"].tolist() == [NODES[i % 25] for i in range(5150, 5250)]


def test_a_row_window_larger_than_the_first_block_never_holds_more_rows():
    frame = LiveFrame("monitoring_events", window=5000)
    for i in range(12_000):
        frame.append(metric_row(i))
        if i in (4999, 5100, 9000):
            assert len(frame) == min(i + 1, 5000)
    assert frame.snapshot()["seq"].tolist() == list(range(7000, 12_000))


def test_time_window_keeps_events_no_older_than_the_span_before_the_newest():
    frame = filled("monitoring_events", [metric_row(i) for i in range(3600)], window="15min")
    df = frame.snapshot()
    assert df["seq"].tolist() == list(range(3599 - 900, 3600))


def test_time_window_accepts_a_timedelta():
    frame = filled("monitoring_events", [metric_row(i) for i in range(100)],
                   window=timedelta(seconds=10))
    assert frame.snapshot()["seq"].tolist() == list(range(89, 100))


def test_late_rows_are_sorted_and_an_expired_late_row_is_not_shown():
    rows = [metric_row(i) for i in range(100)]
    rows.insert(70, metric_row(1000, ns=T0 + 45 * 1_000_000_000))
    rows.append(metric_row(1001, ns=T0 + 5 * 1_000_000_000))  # older than the window
    df = filled("monitoring_events", rows, window="60s").snapshot()
    assert df["timestamp"].is_monotonic_increasing
    assert 1001 not in df["seq"].tolist()
    assert df["timestamp"].min() >= df["timestamp"].max() - pd.Timedelta("60s")
    assert df["seq"].tolist().count(1000) == 1


def test_version_counts_appended_rows():
    frame = LiveFrame("monitoring_events", window=10)
    assert frame.version == 0
    for i in range(25):
        frame.append(metric_row(i))
    assert frame.version == 25


def test_since_returns_only_rows_appended_after_the_version():
    frame = filled("monitoring_events", [metric_row(i) for i in range(10)])
    version, df = frame.since(0)
    assert (version, len(df)) == (10, 10)
    frame.extend(metric_row(i) for i in range(10, 13))
    version, df = frame.since(version)
    assert version == 13
    assert df["seq"].tolist() == [10, 11, 12]
    assert len(frame.since(version)[1]) == 0


def test_since_an_evicted_version_returns_the_whole_window():
    frame = filled("monitoring_events", [metric_row(i) for i in range(50)], window=20)
    version, df = frame.since(5)
    assert version == 50
    assert df["seq"].tolist() == list(range(30, 50))


def test_since_has_the_declared_dtypes():
    frame = filled("monitoring_events", [metric_row(i) for i in range(10)])
    assert frame.since(8)[1].dtypes.to_dict() == model.dtypes("monitoring_events")


def test_snapshot_is_a_copy_the_caller_may_change():
    frame = filled("monitoring_events", [metric_row(i) for i in range(10)])
    df = frame.snapshot()
    df.loc[0, "value"] = -1.0
    assert frame.snapshot().loc[0, "value"] == 0.0


def test_append_refuses_a_row_of_the_wrong_width():
    with pytest.raises(ValueError, match="expected 16 values, got 3"):
        LiveFrame("monitoring_events").append((1, T0, "metric_update"))


def test_a_row_with_a_value_its_column_cannot_hold_is_dropped_and_counted():
    bad = list(metric_row(1))
    bad[0] = 2**63
    wrong_type = list(metric_row(2))
    wrong_type[3] = 17
    frame = LiveFrame("monitoring_events")
    for row in (metric_row(0), tuple(bad), tuple(wrong_type), metric_row(3)):
        frame.append(row)
    assert frame.snapshot()["seq"].tolist() == [0, 3]
    assert (frame.dropped, frame.version) == (2, 2)


@pytest.mark.parametrize("window", [0, -5, "soon", "-1min", "0s", True])
def test_invalid_window_is_refused(window):
    with pytest.raises(ValueError, match="window"):
        LiveFrame("monitoring_events", window)


def test_unknown_channel_is_refused():
    with pytest.raises(ValueError, match="nope_events"):
        LiveFrame("nope_events")


def test_unique_strings_do_not_grow_the_dictionary_past_the_window():
    frame = LiveFrame("monitoring_events", window=1000)
    for i in range(30_000):
        frame.append(metric_row(i, node=f"unique_{i}"))
    df = frame.snapshot()
    assert df["node_id"].tolist() == [f"unique_{i}" for i in range(29_000, 30_000)]
    node_store = frame._stores[3]
    assert node_store.strings is not None
    assert len(node_store.strings.values) <= 2 * 1000 + 4096


@contextlib.contextmanager
def appending(frame: LiveFrame, count: int) -> Iterator[threading.Event]:
    """Append ``count`` metric rows to ``frame`` from another thread; the event is set once all
    are appended, and the thread is joined on exit."""
    rows = [metric_row(i) for i in range(count)]
    done = threading.Event()

    def produce() -> None:
        for row in rows:
            frame.append(row)
        done.set()

    writer = threading.Thread(target=produce)
    writer.start()
    try:
        yield done
    finally:
        writer.join()


def test_snapshots_taken_while_rows_arrive_never_see_a_torn_row():
    frame = LiveFrame("monitoring_events", window=20_000)
    with appending(frame, 100_000) as done:
        snapshots = 0
        while not done.is_set() or snapshots < 3:
            df = frame.snapshot()
            seq = df["seq"].to_numpy(dtype=np.int64)
            assert np.array_equal(df["value"].to_numpy(), seq.astype(float))
            stamps = df["timestamp"].array.asi8
            assert np.array_equal(stamps, T0 + seq * 1_000_000_000)
            assert df["node_id"].tolist() == [NODES[i % 25] for i in seq]
            assert np.array_equal(np.diff(seq), np.ones(max(len(seq) - 1, 0), dtype=np.int64))
            snapshots += 1
    assert frame.snapshot()["seq"].iloc[-1] == 99_999


def test_repr_shows_channel_rows_and_window():
    frame = filled("monitoring_events", [metric_row(i) for i in range(3)], window="15min")
    assert repr(frame) == "<LiveFrame monitoring_events: 3 rows, window='15min'>"
