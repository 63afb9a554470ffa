"""model/_messages.py and _rows.py: decoding, validation, flattening and builders, without a
network."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openagi_nb import model
from openagi_nb.exceptions import InvalidMessage
from openagi_nb.model import CATALOGUE, Channel, Kind, columns

SPEC_EXAMPLES = [
    {
        "type": "network_event", "event": "node_joined",
        "data": {"node_id": "node_123", "address": "node123.onion",
                 "timestamp": "2023-01-01T00:00:00Z"},
        "timestamp": "2023-01-01T00:00:00Z",
    },
    {
        "type": "consensus_event", "event": "decision_executed",
        "data": {"proposal_id": "proposal_001",
                 "decision": {"action": "update_parameter", "parameter": "learning_rate",
                              "value": 0.01},
                 "executed_at": "2023-01-01T00:05:00Z"},
        "timestamp": "2023-01-01T00:05:00Z",
    },
    {
        "type": "security_event", "event": "intrusion_detected",
        "data": {"attack_type": "ddos", "source_ip": "192.168.1.100", "blocked": True,
                 "severity": "high"},
        "timestamp": "2023-01-01T00:00:00Z",
    },
    {
        "type": "monitoring_event", "event": "metric_update",
        "data": {"metric": "cpu_usage", "value": 85.2, "threshold": 80.0, "status": "warning"},
        "timestamp": "2023-01-01T00:00:00Z",
    },
]


def row_dict(message: dict[str, Any]) -> dict[str, Any]:
    channel, row = model.flatten(message)
    return dict(zip([c.name for c in columns(channel)], row, strict=True))


@pytest.mark.parametrize("message", SPEC_EXAMPLES, ids=lambda m: m["event"])
def test_spec_examples_parse_unchanged(message):
    assert model.parse(orjson.dumps(message)) == message


def test_flatten_names_nested_fields_with_underscores():
    row = row_dict(SPEC_EXAMPLES[1])
    assert row["decision_action"] == "update_parameter"
    assert row["decision_value"] == 0.01
    assert row["executed_at"] == 1_672_531_500_000_000_000
    assert row["seq"] is None
    assert row["extra"] is None


def test_flatten_prefixes_a_data_field_that_clashes_with_the_envelope():
    row = row_dict(SPEC_EXAMPLES[0])
    assert row["data_timestamp"] == row["timestamp"] == 1_672_531_200_000_000_000


def test_flatten_keeps_unknown_keys_in_extra_as_json():
    message = {**SPEC_EXAMPLES[3], "region": "eu", "seq": 9}
    message["data"] = {**message["data"], "unit": "%"}
    row = row_dict(message)
    assert orjson.loads(row["extra"]) == {"region": "eu", "data.unit": "%"}
    assert row["seq"] == 9


def test_flatten_treats_null_fields_as_missing():
    message = {**SPEC_EXAMPLES[3], "data": {"metric": "cpu_usage", "value": None}}
    assert row_dict(message)["value"] is None


def test_integer_value_of_a_float_field_becomes_float():
    message = {**SPEC_EXAMPLES[3], "data": {"value": 85}}
    value = row_dict(message)["value"]
    assert value == 85.0
    assert isinstance(value, float)


@pytest.mark.parametrize(
    ("stamp", "expected_ns"),
    [
        ("2023-01-01T00:00:00Z", 1_672_531_200_000_000_000),
        ("2023-01-01T00:00:00", 1_672_531_200_000_000_000),
        ("2023-01-01T01:00:00+01:00", 1_672_531_200_000_000_000),
        ("2023-01-01T00:00:00.250Z", 1_672_531_200_250_000_000),
        ("2023-01-01T00:00:00.123456-00:30", 1_672_533_000_123_456_000),
    ],
)
def test_timestamps_in_any_iso_form_become_utc_nanoseconds(stamp, expected_ns):
    assert model.parse_timestamp(stamp) == expected_ns


def test_format_timestamp_round_trips():
    for ns in (0, 1_672_531_200_000_000_000, 1_672_531_200_250_000_000):
        assert model.parse_timestamp(model.format_timestamp(ns)) == ns


@pytest.mark.parametrize(
    ("raw", "code", "fragment"),
    [
        ("{", "bad_json", "invalid JSON"),
        ("[1, 2]", "not_object", "got an array"),
        ('"hello"', "not_object", "got a string"),
        ("{}", "missing_type", "missing field 'type'"),
        ('{"type": "telepathy"}', "unknown_type", "'telepathy'"),
        ('{"type": ["x"]}', "unknown_type", "['x']"),
        ('{"type": "subscribe"}', "bad_field", "field 'channel'"),
        ('{"type": "subscribe", "channel": "nope_events"}', "unknown_channel",
         "unknown channel 'nope_events'"),
        ('{"type": "subscribe", "channel": 5}', "bad_field", "expected a channel name"),
        ('{"type": "subscribe", "channel": "network_events", "since": -1}', "bad_field",
         "field 'since'"),
        ('{"type": "subscribe", "channel": "network_events", "since": true}', "bad_field",
         "field 'since'"),
        ('{"type": "error", "data": {"code": 1}}', "bad_field", "field 'data'"),
        ('{"type": "network_event", "event": "node_exploded", "data": {},'
         ' "timestamp": "2023-01-01"}', "unknown_event", "'node_exploded'"),
        ('{"type": "network_event", "event": "node_left", "data": [], "timestamp": "2023-01-01"}',
         "bad_field", "field 'data': expected an object"),
        ('{"type": "network_event", "event": "node_left", "data": {}}', "bad_field",
         "field 'timestamp'"),
        ('{"type": "network_event", "event": "node_left", "data": {}, "timestamp": "yesterday"}',
         "bad_field", "'yesterday'"),
        ('{"type": "network_event", "event": "node_left", "data": {}, "timestamp": "9999-01-01"}',
         "bad_field", "field 'timestamp'"),
        ('{"type": "network_event", "event": "node_left", "data": {"reason": "bored"},'
         ' "timestamp": "2023-01-01"}', "bad_field", "expected one of graceful, timeout, banned"),
        ('{"type": "security_event", "event": "intrusion_detected", "data": {"blocked": "yes"},'
         ' "timestamp": "2023-01-01"}', "bad_field",
         "field 'data.blocked': expected true or false"),
        ('{"type": "monitoring_event", "event": "metric_update", "data": {"value": "85"},'
         ' "timestamp": "2023-01-01"}', "bad_field", "field 'data.value': expected a number"),
        ('{"type": "consensus_event", "event": "consensus_phase", "data": {"votes": 2.5},'
         ' "timestamp": "2023-01-01"}', "bad_field", "field 'data.votes': expected an integer"),
        ('{"type": "consensus_event", "event": "decision_executed",'
         ' "data": {"decision": {"value": "x"}}, "timestamp": "2023-01-01"}', "bad_field",
         "field 'data.decision.value'"),
        ('{"type": "consensus_event", "event": "decision_executed", "data": {"decision": 3},'
         ' "timestamp": "2023-01-01"}', "bad_field", "field 'data.decision': expected an object"),
        ('{"type": "network_event", "event": "network_partition", "data": {"nodes": ["a", 1]},'
         ' "timestamp": "2023-01-01"}', "bad_field", "expected a list of strings"),
        ('{"type": "network_event", "event": "node_left", "data": {}, "timestamp": "2023-01-01",'
         ' "seq": -3}', "bad_field", "field 'seq'"),
    ],
)
def test_invalid_messages_say_what_and_where(raw, code, fragment):
    with pytest.raises(InvalidMessage) as info:
        model.parse(raw)
    assert info.value.code == code
    assert fragment in info.value.reason
    assert info.value.raw == raw


def test_rejected_raw_text_is_truncated_to_1kb():
    raw = '{"type": "x", "pad": "' + "a" * 5000 + '"}'
    with pytest.raises(InvalidMessage) as info:
        model.parse(raw)
    assert len(info.value.raw) <= 1025


def test_invalid_message_is_a_value_error():
    with pytest.raises(ValueError, match="invalid JSON"):
        model.parse(b"\xff")


def test_builders_produce_what_the_spec_shows():
    assert orjson.loads(model.subscribe("network_events")) == {
        "type": "subscribe", "channel": "network_events"}
    assert orjson.loads(model.unsubscribe("network_events")) == {
        "type": "unsubscribe", "channel": "network_events"}
    assert orjson.loads(model.ping()) == {"type": "ping"}
    assert orjson.loads(model.pong()) == {"type": "pong"}


def test_builders_refuse_an_unknown_channel():
    with pytest.raises(ValueError, match="nope_events"):
        model.subscribe("nope_events")


# --- properties ---------------------------------------------------------------------------

channels = st.sampled_from(list(Channel))
texts = st.text(max_size=12)
stamps = st.integers(-8_000_000_000_000_000, 9_000_000_000_000_000).map(lambda us: us * 1_000)


def field_values(field: Any) -> st.SearchStrategy[Any]:
    if isinstance(field, dict):
        return st.fixed_dictionaries({}, optional={k: field_values(v) for k, v in field.items()})
    if isinstance(field, tuple):
        return st.sampled_from(field)
    return {
        Kind.FLOAT: st.floats(allow_nan=False, allow_infinity=False),
        Kind.INT: st.integers(-(2**63) + 1, 2**63 - 1),
        Kind.BOOL: st.booleans(),
        Kind.STRING: texts,
        Kind.TIMESTAMP: stamps.map(model.format_timestamp),
        Kind.LIST: st.lists(texts, max_size=4),
    }[field]


@st.composite
def data_messages(draw: st.DrawFn) -> dict[str, Any]:
    channel = draw(channels)
    event = draw(st.sampled_from(list(CATALOGUE[channel])))
    data = draw(field_values(CATALOGUE[channel][event]))
    seq = draw(st.none() | st.integers(0, 2**63 - 1))
    stamp = model.format_timestamp(draw(stamps))
    return dict(model.data_message(channel, event, data, stamp, seq))


@given(data_messages())
def test_built_data_messages_parse_back_equal(message):
    assert model.parse(model.encode(message)) == message


@given(data_messages())
def test_flatten_puts_every_field_in_its_column(message):
    row = row_dict(message)
    assert row["event"] == message["event"]
    assert row["seq"] == message.get("seq")
    assert row["extra"] is None
    for key, value in message["data"].items():
        if isinstance(value, dict):
            for sub, subvalue in value.items():
                assert row[f"{key}_{sub}"] == subvalue
        elif key == "timestamp" or key.endswith("_at"):
            assert model.format_timestamp(row["data_timestamp" if key == "timestamp" else key]) \
                == value
        else:
            assert row[key] == value


@given(channels, st.none() | st.integers(0, 2**63 - 1))
def test_built_subscribe_parses_back_equal(channel, since):
    expected = {"type": "subscribe", "channel": channel.value}
    if since is not None:
        expected["since"] = since
    assert model.parse(model.subscribe(channel, since)) == expected


@given(st.sampled_from(["bad_json", "rate_limited"]), texts)
def test_built_error_parses_back_equal(code, message):
    assert model.parse(model.error(code, message)) == {
        "type": "error", "data": {"code": code, "message": message}}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@st.composite
def message_like_objects(draw: st.DrawFn) -> dict[str, Any]:
    """Objects close to real messages, so fuzzing reaches the field checks."""
    obj = draw(st.dictionaries(st.text(max_size=8), json_values, max_size=4))
    message = draw(data_messages())
    for key in draw(st.sets(st.sampled_from(["type", "event", "data", "timestamp", "seq"]))):
        obj[key] = message.get(key)
    if draw(st.booleans()) and isinstance(message["data"], dict):
        obj["data"] = {**message["data"], **draw(st.dictionaries(
            st.sampled_from(["value", "severity", "decision", "nodes", "votes", "blocked"]),
            json_values, max_size=3))}
    return obj


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.text() | st.binary())
def test_arbitrary_text_raises_only_invalid_message(raw):
    with contextlib.suppress(InvalidMessage):
        model.parse(raw)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(json_values | message_like_objects())
def test_arbitrary_json_raises_only_invalid_message(value):
    try:
        message = model.parse(json.dumps(value))
    except InvalidMessage:
        return
    if message["type"].endswith("_event"):
        model.flatten(message)  # what parse accepted, flatten must accept too


def test_the_least_int64_is_refused_as_it_means_na_in_live_frames():
    raw = ('{"type": "consensus_event", "event": "consensus_phase", "data": {"votes": '
           f'{-(2**63)}}}, "timestamp": "2023-01-01"}}')
    with pytest.raises(InvalidMessage, match=r"field 'data\.votes'"):
        model.parse(raw)


def test_subscribed_ack_may_carry_the_seq_live_follows():
    assert model.parse(model.subscribed("network_events", 12)) == {
        "type": "subscribed", "channel": "network_events", "seq": 12}
    with pytest.raises(InvalidMessage, match="field 'seq'"):
        model.parse('{"type": "subscribed", "channel": "network_events", "seq": "12"}')


T_CLOCK = 1_767_603_600_570_000_000  # 2026-01-05T09:00:00.570000Z


def test_acks_and_pongs_may_state_the_servers_clock():
    clock = model.Clock(T_CLOCK, 20.0)
    assert orjson.loads(model.pong(clock)) == {
        "type": "pong", "clock": {"time": "2026-01-05T09:00:00.570000Z", "rate": 20.0}}
    ack = model.parse(model.subscribed("network_events", 12, model.Clock(T_CLOCK, None)))
    assert ack == {"type": "subscribed", "channel": "network_events", "seq": 12,
                   "clock": {"time": "2026-01-05T09:00:00.570000Z", "rate": None}}
    assert model.parse_clock(ack["clock"]) == model.Clock(T_CLOCK, None)


def test_a_clock_time_always_shows_microseconds():
    assert model.clock_time(1_767_603_600_000_000_000) == "2026-01-05T09:00:00.000000Z"
    assert model.clock_time(T_CLOCK + 999) == "2026-01-05T09:00:00.570000Z"  # truncated


@pytest.mark.parametrize("clock", [
    None, {"time": "2026-01-05T09:00:00Z", "rate": 1}, {"time": "2026-01-05T09:00:00+01:00",
                                                        "rate": 0, "paused": False},
])
def test_a_clock_is_optional_and_its_unknown_keys_are_ignored(clock):
    message = {"type": "pong", **({} if clock is None else {"clock": clock})}
    assert model.parse(orjson.dumps(message)) == message
    assert model.parse({"type": "pong", "clock": None}) == {"type": "pong", "clock": None}


@pytest.mark.parametrize(("clock", "field"), [
    ("2026-01-05T09:00:00Z", "clock"),
    ({"rate": 1.0}, "clock.time"),
    ({"time": "yesterday", "rate": 1.0}, "clock.time"),
    ({"time": "2026-01-05T09:00:00Z"}, None),  # rate absent: null, unknown
    ({"time": "2026-01-05T09:00:00Z", "rate": -1}, "clock.rate"),
    ({"time": "2026-01-05T09:00:00Z", "rate": True}, "clock.rate"),
    ({"time": "2026-01-05T09:00:00Z", "rate": "20"}, "clock.rate"),
])
def test_a_bad_clock_makes_the_reply_invalid_naming_the_field(clock, field):
    message = orjson.dumps({"type": "subscribed", "channel": "network_events", "clock": clock})
    if field is None:
        assert model.parse_clock(clock).rate is None
        return
    with pytest.raises(InvalidMessage, match=rf"field '{field}'"):
        model.parse(message)


def test_only_server_replies_are_checked_for_a_clock():
    # a client's ping with a "clock" is a ping (extra fields of control messages are ignored)
    assert model.parse({"type": "ping", "clock": 5}) == {"type": "ping", "clock": 5}
