"""capture/_capture.py: loading JSONL, gzip and Parquet into the same frames; writing; rejects."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import orjson
import pandas as pd
import pyarrow.dataset as ds
import pytest
from pandas.testing import assert_frame_equal

from openagi_nb import CaptureError, InvalidMessage, load_capture, model
from openagi_nb.capture import CaptureWriter, convert, iter_lines

T0 = 1_767_600_000_000_000_000


def stamp(seconds: float) -> str:
    return model.format_timestamp(T0 + int(seconds * 1e9))


MESSAGES = [
    model.data_message("network_events", "node_joined",
                          {"node_id": "node_01", "address": "node01.onion",
                           "timestamp": stamp(0)}, stamp(0), 1),
    model.data_message("monitoring_events", "metric_update",
                          {"node_id": "node_01", "metric": "cpu_usage", "value": 91.5,
                           "threshold": 80.0, "status": "critical", "unit": "%"}, stamp(2), 2),
    model.data_message("security_events", "intrusion_detected",
                          {"attack_type": "ddos", "source_ip": "203.0.113.9", "blocked": False,
                           "severity": "critical"}, stamp(1), 3),
    model.data_message("network_events", "network_partition",
                          {"partition_id": "p1", "nodes": ["node_01", "node_02"],
                           "detected_by": "node_03"}, stamp(3), 4),
    model.data_message("consensus_events", "decision_executed",
                          {"proposal_id": "proposal_001",
                           "decision": {"action": "update_parameter",
                                        "parameter": "learning_rate", "value": 0.01},
                           "executed_at": stamp(4)}, stamp(4), 5),
    model.data_message("monitoring_events", "metric_update",
                          {"node_id": "node_02", "metric": "cpu_usage", "value": 40.0,
                           "threshold": 80.0, "status": "ok"}, stamp(1.5), 6),
]


def write(path: Path, lines: list[str | bytes]) -> Path:
    with CaptureWriter(path, flush_every=None) as writer:
        writer.write_all(lines)
    return path


def encoded(messages=MESSAGES) -> list[bytes]:
    return [model.encode(m) for m in messages]


@pytest.fixture(params=["c.jsonl", "c.jsonl.gz"])
def capture_path(request, tmp_path):
    return write(tmp_path / request.param, encoded())


def test_frames_hold_every_event_in_the_declared_schema(capture_path):
    cap = load_capture(capture_path)
    assert len(cap) == len(MESSAGES)
    assert set(cap.channels) == {"network_events", "monitoring_events", "security_events",
                                 "consensus_events"}
    for channel in model.Channel:
        assert dict(cap.frame(channel).dtypes) == model.dtypes(channel)
    assert cap.rejects.empty


def test_frames_are_sorted_by_time(capture_path):
    monitoring = load_capture(capture_path).frame("monitoring_events")
    assert monitoring["node_id"].tolist() == ["node_02", "node_01"]
    assert monitoring["timestamp"].is_monotonic_increasing


def test_unknown_fields_are_kept_in_extra(capture_path):
    monitoring = load_capture(capture_path).frame("monitoring_events")
    assert orjson.loads(monitoring["extra"].dropna().iloc[0]) == {"data.unit": "%"}


def test_a_corrupt_line_is_rejected_with_its_number_and_everything_else_loads(tmp_path):
    lines = encoded()
    lines.insert(2, b'{"type": "monitoring_event", "event": "metric_update"')
    lines.insert(4, b'{"type": "security_event", "event": "intrusion_detected", '
                    b'"data": {"severity": "apocalyptic"}, "timestamp": "2026-01-05T09:00:00Z"}')
    cap = load_capture(write(tmp_path / "c.jsonl.gz", lines))
    assert len(cap) == len(MESSAGES)
    assert cap.rejects["line"].tolist() == [3, 5]
    assert "invalid JSON" in cap.rejects["reason"].iloc[0]
    assert "field 'data.severity'" in cap.rejects["reason"].iloc[1]
    assert cap.rejects["raw"].iloc[1].startswith('{"type": "security_event"')


def test_blank_lines_are_skipped_but_counted_in_line_numbers(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_bytes(b"\n" + encoded()[0] + b"\n\n{oops}\n")
    cap = load_capture(path)
    assert len(cap) == 1
    assert cap.rejects["line"].tolist() == [4]


def test_control_messages_in_a_capture_are_counted_not_rejected(tmp_path):
    path = write(tmp_path / "c.jsonl", [model.subscribed("network_events"), model.pong(),
                                        *encoded()])
    cap = load_capture(path)
    assert cap.control_messages == 2
    assert cap.rejects.empty


def test_jsonl_gzip_and_parquet_give_equal_frames(tmp_path):
    plain = load_capture(write(tmp_path / "c.jsonl", encoded()))
    gz = load_capture(write(tmp_path / "c.jsonl.gz", encoded()))
    parquet = load_capture(convert(tmp_path / "c.jsonl.gz", tmp_path / "pq"))
    for channel in model.Channel:
        assert_frame_equal(plain.frame(channel), gz.frame(channel))
        assert_frame_equal(plain.frame(channel), parquet.frame(channel))


def test_parquet_dataset_is_hive_partitioned_and_readable_without_our_code(tmp_path):
    out = convert(write(tmp_path / "c.jsonl", [*encoded(), b"{bad"]), tmp_path / "pq")
    dataset = ds.dataset(out / "channel=monitoring_events", format="parquet")
    table = dataset.to_table()
    assert table.num_rows == 2
    assert {"node_id", "value", "threshold", "extra"} <= set(table.column_names)
    hive = ds.dataset(out, format="parquet", partitioning="hive")
    assert sorted({f.split("/")[-3] for f in hive.files}) == [
        f"channel={c.value}" for c in sorted(model.Channel, key=lambda c: c.value)]
    assert {f.split("/")[-2] for f in hive.files} == {"hour=2026-01-05T08"}  # by hour too
    assert set(hive.to_table().column("hour").to_pylist()) == {"2026-01-05T08"}
    assert load_capture(out).rejects["line"].tolist() == [7]


def test_parquet_keeps_lists_and_extra(tmp_path):
    cap = load_capture(convert(write(tmp_path / "c.jsonl", encoded()), tmp_path / "pq"))
    network = cap.frame("network_events")
    assert network["nodes"].dropna().iloc[0] == ["node_01", "node_02"]
    assert cap.frame("monitoring_events")["extra"].notna().sum() == 1


def test_frame_is_a_copy_the_caller_may_modify(capture_path):
    cap = load_capture(capture_path)
    frame = cap.frame("monitoring_events")
    frame["value"] = 0.0
    assert cap.frame("monitoring_events")["value"].tolist() == [40.0, 91.5]


def test_unknown_channel_is_a_clear_error(capture_path):
    with pytest.raises(ValueError, match="unknown channel 'nope_events'"):
        load_capture(capture_path).frame("nope_events")


def test_missing_file_is_a_capture_error(tmp_path):
    with pytest.raises(CaptureError, match="no such file"):
        load_capture(tmp_path / "missing.jsonl")


def test_a_file_that_is_not_gzip_is_a_capture_error(tmp_path):
    path = tmp_path / "c.jsonl.gz"
    path.write_bytes(b"not gzip at all")
    with pytest.raises(CaptureError, match=r"c\.jsonl\.gz"):
        load_capture(path)


def test_a_directory_that_is_not_a_dataset_is_a_capture_error(tmp_path):
    with pytest.raises(CaptureError, match="not a capture"):
        load_capture(tmp_path)


def test_writer_keeps_raw_text_exactly(tmp_path):
    raw = '{"type":"ping",   "x" : 1}'
    path = write(tmp_path / "c.jsonl.gz", [raw])
    assert gzip.decompress(path.read_bytes()) == raw.encode() + b"\n"


def test_writer_puts_a_multiline_message_on_one_line(tmp_path):
    path = write(tmp_path / "c.jsonl", ['{\n "type": "ping"\n}'])
    assert path.read_bytes() == b'{"type":"ping"}\n'


def test_writer_is_byte_for_byte_deterministic(tmp_path):
    a = write(tmp_path / "a.jsonl.gz", encoded()).read_bytes()
    b = write(tmp_path / "b.jsonl.gz", encoded()).read_bytes()
    assert a == b


def test_writer_flushes_when_due_so_a_reader_sees_the_data(tmp_path):
    path = tmp_path / "c.jsonl.gz"
    writer = CaptureWriter(path)
    writer.write(encoded()[0])
    writer._last_flush -= writer.flush_every  # as if a second had passed
    writer.flush_if_due()
    partial = zlib.decompressobj(zlib.MAX_WBITS | 16).decompress(path.read_bytes())
    assert partial == encoded()[0] + b"\n"
    writer.close()
    writer.close()


def test_iter_lines_numbers_lines_from_one(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_bytes(b'{"a":1}\n\n{"b":2}\n')
    assert list(iter_lines(path)) == [(1, b'{"a":1}'), (3, b'{"b":2}')]


def test_empty_capture_has_empty_typed_frames(tmp_path):
    cap = load_capture(write(tmp_path / "c.jsonl", []))
    assert cap.channels == ()
    assert isinstance(cap.frame("security_events"), pd.DataFrame)
    assert dict(cap.frame("security_events").dtypes) == model.dtypes("security_events")


def test_writer_refuses_text_that_spans_lines_and_is_not_json(tmp_path):
    with CaptureWriter(tmp_path / "c.jsonl") as writer, pytest.raises(InvalidMessage,
                                                                       match="spans lines"):
        writer.write("not\njson")
