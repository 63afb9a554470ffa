"""Templates of a capture: validated once, re-encoded per publication only where it changes."""

from __future__ import annotations

import gzip

import orjson
import pytest

from openagi_nb.exceptions import CaptureError
from openagi_nb.model import flatten, parse, parse_timestamp
from openagi_nb.server._replay import CHANNEL_INDEX, SecondsFormatter, load_replay

from .conftest import STEP_NS, T0_NS, make_message, write_capture

HOUR = 3600


def payload(replay, index, seq=1, offset=0):
    return orjson.loads(replay.payload(index, seq, offset, SecondsFormatter()))


def test_payload_is_the_message_with_seq_last(tmp_path):
    replay = load_replay(write_capture(tmp_path / "c.jsonl", 8))
    for i in range(8):
        message = payload(replay, i, seq=100 + i)
        assert message == {**make_message(i, T0_NS + i * STEP_NS), "seq": 100 + i}
        assert list(message)[-1] == "seq"
        parse(orjson.dumps(message))  # valid in the published format


def test_offset_moves_every_timestamp_including_those_in_data(tmp_path):
    replay = load_replay(write_capture(tmp_path / "c.jsonl", 8))
    for i in range(3):  # node_joined, decision_executed, certificate_expired
        message = payload(replay, i, offset=HOUR)
        original = make_message(i, T0_NS + i * STEP_NS)
        shift = HOUR * 1_000_000_000
        moved = parse_timestamp(message["timestamp"]) - parse_timestamp(original["timestamp"])
        assert moved == shift
        inner = {k: v for k, v in message["data"].items() if k in
                 ("timestamp", "executed_at", "expired_at")}
        assert len(inner) == 1
        for key, value in inner.items():
            assert parse_timestamp(value) == parse_timestamp(original["data"][key]) + shift


def test_invalid_lines_are_skipped_and_counted(tmp_path):
    path = write_capture(tmp_path / "c.jsonl", 4, extra_lines=(
        "{not json", '{"type": "subscribed", "channel": "network_events"}',
        '{"type": "network_event", "event": "nope", "data": {}, '
        '"timestamp": "2023-01-01T00:00:00Z"}',
    ))
    replay = load_replay(path)
    assert len(replay) == 4
    assert replay.rejected == 3


def test_messages_are_replayed_in_time_order_and_a_recorded_seq_is_replaced(tmp_path):
    late, early = make_message(0, T0_NS + STEP_NS), make_message(1, T0_NS)
    path = tmp_path / "c.jsonl"
    path.write_bytes(orjson.dumps({**late, "seq": 9}) + b"\n" + orjson.dumps({**early, "seq": 3}))
    replay = load_replay(path)
    assert [payload(replay, i, seq=i + 1) for i in range(2)] == [
        {**early, "seq": 1}, {**late, "seq": 2}]
    assert replay.channels == bytes([CHANNEL_INDEX[flatten(early)[0]],
                                     CHANNEL_INDEX[flatten(late)[0]]])


def test_fractions_and_offsets_are_normalised_to_utc_with_z(tmp_path):
    message = make_message(0, T0_NS)
    message["timestamp"] = "2023-01-01T02:00:00.5+02:00"
    message["data"]["timestamp"] = "2023-01-01 00:00:01"
    path = tmp_path / "c.jsonl"
    path.write_bytes(orjson.dumps(message))
    out = payload(load_replay(path), 0)
    assert out["timestamp"] == "2023-01-01T00:00:00.500000Z"
    assert out["data"]["timestamp"] == "2023-01-01T00:00:01Z"


def test_unknown_fields_that_hold_timestamps_are_moved_too(tmp_path):
    message = make_message(3, T0_NS)
    message["data"]["observed_at"] = "2023-01-01T00:00:00Z"
    message["region"] = "eu-west"
    path = tmp_path / "c.jsonl"
    path.write_bytes(orjson.dumps(message))
    out = payload(load_replay(path), 0, offset=60)
    assert out["data"]["observed_at"] == "2023-01-01T00:01:00Z"
    assert out["region"] == "eu-west"


def test_message_holding_the_template_sentinel_is_still_exact(tmp_path):
    message = make_message(3, T0_NS)
    message["data"]["note"] = "\x00"
    path = tmp_path / "c.jsonl"
    path.write_bytes(orjson.dumps(message))
    out = payload(load_replay(path), 0, seq=5, offset=60)
    assert out["data"]["note"] == "\x00"
    assert out["timestamp"] == "2023-01-01T00:01:00Z"
    assert out["seq"] == 5


def test_period_is_the_span_plus_a_mean_interval_in_whole_seconds(tmp_path):
    replay = load_replay(write_capture(tmp_path / "c.jsonl", 301))  # 3 s span, 10 ms apart
    assert replay.period == 4  # 3.01 s rounded up
    assert load_replay(write_capture(tmp_path / "one.jsonl", 1)).period == 1


def test_gzip_capture_loads_the_same(tmp_path):
    plain = write_capture(tmp_path / "c.jsonl", 20)
    packed = tmp_path / "c.jsonl.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    a, b = load_replay(plain), load_replay(packed)
    assert [a.payload(i, 1, 0, SecondsFormatter()) for i in range(20)] == [
        b.payload(i, 1, 0, SecondsFormatter()) for i in range(20)]


def test_missing_capture_is_a_capture_error(tmp_path):
    with pytest.raises(CaptureError):
        load_replay(tmp_path / "missing.jsonl")


def test_seconds_formatter_formats_and_caches_within_its_bound():
    fmt = SecondsFormatter(cache_size=2)
    assert fmt(0) == b'"1970-01-01T00:00:00'
    assert fmt(86_400 + 61) == b'"1970-01-02T00:01:01'
    assert fmt(5) == b'"1970-01-01T00:00:05'
    assert len(fmt._cache) <= 2
