"""capture/_bulk.py: the Arrow way gives exactly the frames of the message-by-message way, or
declines."""

from __future__ import annotations

import json

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal

from openagi_nb import model
from openagi_nb.capture import _bulk as bulk
from openagi_nb.capture._load import _decode_lines
from openagi_nb.model import Channel

from .test_capture import MESSAGES
from .test_messages import data_messages, json_values


def per_line(block: bytes):
    rejects: list = []
    frames, control = _decode_lines(block, 1, rejects, 0)
    return frames, rejects, control


def assert_same_as_per_line(block: bytes) -> bool:
    """Check the fast way against the slow one; return whether the fast way took the block."""
    tables = bulk.decode_block(block)
    frames, rejects, control = per_line(block)
    if tables is None:
        return False
    assert rejects == []
    assert control == 0
    for channel in Channel:
        fast = model.arrow_frame(channel, tables[channel])
        assert dict(fast.dtypes) == model.dtypes(channel)
        assert_frame_equal(fast, frames[channel])
    return True


def test_clean_messages_take_the_fast_way_with_equal_frames():
    block = b"\n".join(orjson.dumps(m) for m in MESSAGES if "unit" not in m["data"])
    assert assert_same_as_per_line(block)


@pytest.mark.parametrize(
    "line",
    [
        b'{"type": "monitoring_event", "event": "metric_update", "data": {"value": "85"},'
        b' "timestamp": "2026-01-05T09:00:00Z"}',
        b'{"type": "pong"}',
        b"",
        b'{"type": "monitoring_event", "event": "metric_update", "data": {}, '
        b'"timestamp": "2026-01-05T09:00:00Z", "region": "eu"}',
        b'{"type": "monitoring_event", "event": "metric_update", "data": {"score": 0.5},'
        b' "timestamp": "2026-01-05T09:00:00Z"}',
        b'{"type": "monitoring_event", "event": "metric_update", "data": {},'
        b' "timestamp": "2026-01-05T09:00:00+25:00"}',
        b'{"type": "monitoring_event", "event": "metric_update", "data": {},'
        b' "timestamp": "2026-01-05T09:00:00.1234567Z"}',
        b'{"a": 1} {"b": 2}',
    ],
    ids=["wrong-type", "control", "blank", "unknown-key", "other-channel-field", "bad-offset",
         "nanoseconds", "two-objects"],
)
def test_anything_doubtful_declines_the_fast_way(line):
    clean = orjson.dumps(MESSAGES[0])
    assert bulk.decode_block(clean + b"\n" + line + b"\n" + clean) is None


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(data_messages(), min_size=1, max_size=8))
def test_built_messages_give_equal_frames_both_ways(messages):
    block = b"\n".join(orjson.dumps(m) for m in messages)
    assert assert_same_as_per_line(block)


@st.composite
def mangled_messages(draw: st.DrawFn) -> bytes:
    """A valid message with one part replaced by arbitrary JSON, or a stray key added."""
    message = draw(data_messages())
    target = draw(st.sampled_from(["type", "event", "timestamp", "seq", "data", "field", "key"]))
    value = draw(json_values)
    if target == "field" and message["data"]:
        key = draw(st.sampled_from(sorted(message["data"])))
        message["data"][key] = value
    elif target == "key":
        message["data"][draw(st.text(max_size=6))] = value
    else:
        message[target] = value
    return json.dumps(message).encode()


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(mangled_messages() | data_messages().map(orjson.dumps), min_size=1, max_size=6))
def test_mangled_messages_never_make_the_two_ways_differ(lines):
    assert_same_as_per_line(b"\n".join(lines))


def test_a_capture_of_fast_and_declined_blocks_loads_in_file_order(tmp_path, monkeypatch):
    from openagi_nb.capture import _load as capture
    from openagi_nb.capture import _read

    lines = [orjson.dumps(m) for m in MESSAGES] * 5
    lines.insert(7, b"{broken")
    path = tmp_path / "c.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    whole = capture.load_capture(path)
    monkeypatch.setattr(_read, "BLOCK", 700)  # a few lines a block: some fast, some not
    blocks = list(_read.Blocks(path))
    taken = [bulk.decode_block(block) is not None for _, block in blocks]
    assert any(taken)
    assert not all(taken)
    split = capture.load_capture(path)
    for channel in Channel:
        assert_frame_equal(split.frame(channel), whole.frame(channel))
    assert split.rejects["line"].tolist() == whole.rejects["line"].tolist() == [8]
