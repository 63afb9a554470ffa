"""model/_batch.py and model/_unflatten.py: the batch request and answer, ``"json"`` and
``"arrow"`` batches (``docs/protocol.md`` section 14), and rows back to messages."""

from __future__ import annotations

import functools
from typing import Any

import orjson
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openagi_nb import model, scenario
from openagi_nb.exceptions import ErrorCode, InvalidMessage
from openagi_nb.model import (
    CATALOGUE,
    MAX_BATCH_DELAY_MS,
    MAX_BATCH_EVENTS,
    BatchFormat,
    BatchSettings,
    Channel,
    Compression,
    Row,
)

M, S, C, N = Channel.MONITORING, Channel.SECURITY, Channel.CONSENSUS, Channel.NETWORK
T0 = 1_767_600_000_000_000_000


@functools.cache
def scenario_rows() -> dict[Channel, list[Row]]:
    """Rows of a generated scenario, per channel (every channel has some)."""
    out: dict[Channel, list[Row]] = {c: [] for c in Channel}
    for message in scenario.generate(seed=11, duration=1200, nodes=16).messages:
        channel, row = model.flatten(dict(message))
        out[channel].append(row)
    assert all(out.values())
    return out


@functools.cache
def scenario_messages() -> tuple[dict[str, Any], ...]:
    return tuple(dict(m) for m in scenario.generate(seed=11, duration=1200, nodes=16).messages)


def metric_row(seq: int | None = 1, *, status: str | None = "ok",
               event: str | None = "metric_update", stamp: int | None = T0) -> Row:
    message = dict(model.data_message(M, "metric_update", {
        "node_id": "node_01", "metric": "cpu_usage", "value": 50.0, "threshold": 80.0,
        "status": "ok"}, model.format_timestamp(T0), 1))
    row = list(model.flatten(message)[1])
    names = [c.name for c in model.columns(M)]
    row[names.index("seq")], row[names.index("event")] = seq, event
    row[names.index("timestamp")], row[names.index("status")] = stamp, status
    return tuple(row)


def frame_of(channel: str, rows: list[Row]) -> pd.DataFrame:
    return model.to_frame(channel, list(zip(*rows, strict=True)))


# --- the batch request (section 14.2) ------------------------------------------------------


def test_a_request_with_no_field_is_json_uncompressed_with_the_servers_bounds():
    assert model.parse_batch_request({"type": "batch"}) == BatchSettings()


@pytest.mark.parametrize(("obj", "expected"), [
    ({"format": "arrow"}, BatchSettings(BatchFormat.ARROW)),
    ({"format": "json", "compression": "none"}, BatchSettings()),
    ({"format": "arrow", "compression": "lz4"}, BatchSettings(BatchFormat.ARROW, Compression.LZ4)),
    ({"format": "arrow", "compression": "zstd", "max_events": 4096, "max_delay_ms": 50},
     BatchSettings(BatchFormat.ARROW, Compression.ZSTD, 4096, 50.0)),
    ({"max_events": 1, "max_delay_ms": 0}, BatchSettings(max_events=1, max_delay_ms=0.0)),
    ({"max_events": MAX_BATCH_EVENTS, "max_delay_ms": MAX_BATCH_DELAY_MS},
     BatchSettings(max_events=MAX_BATCH_EVENTS, max_delay_ms=MAX_BATCH_DELAY_MS)),
    ({"max_delay_ms": 2.5}, BatchSettings(max_delay_ms=2.5)),
    ({"max_events": None, "max_delay_ms": None}, BatchSettings()),
])
def test_a_request_within_section_14_2_is_accepted(obj, expected):
    assert model.parse_batch_request({"type": "batch", **obj}) == expected


@pytest.mark.parametrize(("obj", "field"), [
    ({"format": "csv"}, "format"),
    ({"format": "ARROW"}, "format"),
    ({"format": 1}, "format"),
    ({"format": ["arrow"]}, "format"),
    ({"format": "arrow", "compression": "gzip"}, "compression"),
    ({"format": "arrow", "compression": True}, "compression"),
    ({"format": "json", "compression": "lz4"}, "compression"),
    ({"compression": "zstd"}, "compression"),  # the default format is json
    ({"max_events": 0}, "max_events"),
    ({"max_events": -1}, "max_events"),
    ({"max_events": MAX_BATCH_EVENTS + 1}, "max_events"),
    ({"max_events": 10.0}, "max_events"),
    ({"max_events": "10"}, "max_events"),
    ({"max_events": True}, "max_events"),
    ({"max_delay_ms": -0.5}, "max_delay_ms"),
    ({"max_delay_ms": MAX_BATCH_DELAY_MS + 0.001}, "max_delay_ms"),
    ({"max_delay_ms": "50"}, "max_delay_ms"),
    ({"max_delay_ms": False}, "max_delay_ms"),
])
def test_a_request_outside_section_14_2_is_refused_naming_the_field(obj, field):
    raw = orjson.dumps({"type": "batch", **obj})
    with pytest.raises(InvalidMessage) as info:
        model.parse_batch_request({"type": "batch", **obj}, raw)
    assert info.value.code == ErrorCode.BAD_FIELD
    assert info.value.reason.startswith(f"field '{field}': ")


def test_a_request_is_also_checked_by_parse():
    with pytest.raises(InvalidMessage, match="field 'format'"):
        model.parse({"type": "batch", "format": "xml"})


@pytest.mark.parametrize("settings", [
    BatchSettings(),
    BatchSettings(BatchFormat.ARROW, Compression.ZSTD),
    BatchSettings(BatchFormat.ARROW, Compression.LZ4, 100, 12.5),
    BatchSettings(BatchFormat.JSON, Compression.NONE, 1, 0.0),
])
def test_batch_request_round_trips(settings):
    assert model.parse_batch_request(orjson.loads(model.batch_request(settings))) == settings


@pytest.mark.parametrize("settings", [
    BatchSettings(BatchFormat.ARROW, Compression.LZ4, 4096, 50.0),
    BatchSettings(BatchFormat.JSON, Compression.NONE, 1, 0.0),
    BatchSettings(BatchFormat.ARROW, Compression.ZSTD, MAX_BATCH_EVENTS, MAX_BATCH_DELAY_MS),
])
def test_batching_round_trips(settings):
    text = model.batching(settings)
    assert orjson.loads(text)["type"] == "batching"
    assert model.parse_batching(orjson.loads(text)) == settings
    assert model.parse(text)["type"] == "batching"


@pytest.mark.parametrize("missing", ["max_events", "max_delay_ms"])
def test_a_batching_answer_without_its_bounds_is_refused(missing):
    obj = orjson.loads(model.batching(BatchSettings(BatchFormat.ARROW, Compression.LZ4, 8, 5.0)))
    del obj[missing]
    with pytest.raises(InvalidMessage, match="expected the bounds granted"):
        model.parse_batching(obj)


# --- "json" batches (section 14.4) ---------------------------------------------------------


def test_a_json_batch_is_a_header_then_the_messages_byte_for_byte():
    payloads = [orjson.dumps(m) for m in scenario_messages()[:5]]
    batch = model.json_batch("monitoring_events", payloads, 1, 5)
    assert batch.count(b"\n") == 5
    assert not batch.endswith(b"\n")
    header, lines = model.split_json_batch(batch)
    assert header == {"type": "batch", "channel": "monitoring_events", "count": 5,
                      "first_seq": 1, "last_seq": 5}
    assert lines == payloads


def test_a_json_batch_round_trips_messages_with_escaped_newlines_in_strings():
    messages = [
        dict(model.data_message(S, "suspicious_activity", {
            "source_ip": "10.0.0.1", "description": "line one\nline two\r\n\u2028end",
            "severity": "low", "score": 0.5}, model.format_timestamp(T0), 7)),
        {**dict(model.data_message(M, "alert_raised", {
            "alert_id": "a\n1", "node_id": "n", "metric": "m", "value": 1.0, "threshold": 2.0,
            "severity": "high", "message": "\n\n"}, model.format_timestamp(T0), 8)),
         "note": "x\ny"},
    ]
    payloads = [orjson.dumps(m) for m in messages]
    header, lines = model.split_json_batch(model.json_batch("security_events", payloads, 7, 8))
    assert header["count"] == len(lines) == 2
    assert [orjson.loads(line) for line in lines] == messages


def test_a_json_batch_of_scenario_messages_round_trips():
    payloads = [orjson.dumps(m) for m in scenario_messages()[:300]]
    _, lines = model.split_json_batch(model.json_batch("network_events", payloads, 1, 300))
    assert lines == payloads


def test_an_empty_json_batch_has_no_lines():
    header, lines = model.split_json_batch(model.json_batch("network_events", [], 0, 0))
    assert header["count"] == 0
    assert lines == []


def test_a_json_batch_of_an_unknown_channel_cannot_be_built():
    with pytest.raises(ValueError, match="weather_events"):
        model.json_batch("weather_events", [b"{}"], 1, 1)


@pytest.mark.parametrize(("payload", "reason"), [
    (b'{"type":"batch",\n{}', "invalid JSON in a batch header"),
    (b'{"type":"security_event"}\n{}', "not a batch header"),
    (b'[1,2]\n{}', "not a batch header"),
])
def test_a_json_batch_without_a_batch_header_is_refused(payload, reason):
    with pytest.raises(InvalidMessage, match=reason):
        model.split_json_batch(payload)


# --- "arrow" batches (section 14.5): round trips -------------------------------------------


@pytest.mark.parametrize("compression", list(Compression))
@pytest.mark.parametrize("channel", list(Channel))
def test_an_arrow_batch_of_scenario_rows_round_trips(channel, compression):
    rows = scenario_rows()[channel]
    table = model.arrow_table(channel, rows)
    assert table.schema.equals(model.arrow_schema(channel), check_metadata=True)
    batch = model.read_arrow_batch(model.arrow_batch(table, compression))
    assert batch.channel is channel
    assert batch.rejected == []
    assert batch.table.num_rows == len(rows)
    pd.testing.assert_frame_equal(model.arrow_frame(channel, batch.table),
                                  frame_of(channel, rows))


def test_compression_makes_a_batch_smaller():
    table = model.arrow_table(M, scenario_rows()[M])
    sizes = {c: len(model.arrow_batch(table, c)) for c in Compression}
    assert sizes[Compression.LZ4] < sizes[Compression.NONE]
    assert sizes[Compression.ZSTD] < sizes[Compression.NONE]


def test_the_schema_is_the_declared_columns_in_frame_order_with_the_channel():
    for channel in Channel:
        schema = model.arrow_schema(channel)
        assert schema.names == [c.name for c in model.columns(channel)]
        assert schema.metadata == {b"openagi.channel": channel.value.encode()}
        assert schema.field("seq").type == pa.int64()
        assert schema.field("timestamp").type == pa.timestamp("ns", "UTC")
        assert schema.field("event").type == pa.dictionary(pa.int32(), pa.string())
        assert schema.field("extra").type == pa.string()


def test_an_empty_arrow_batch_round_trips():
    batch = model.read_arrow_batch(model.arrow_batch(model.arrow_table(S, [])))
    assert batch.channel is S
    assert batch.table.num_rows == 0
    assert batch.rejected == []


def test_a_batch_of_several_record_batches_is_read_whole():
    rows = scenario_rows()[S]
    table = model.arrow_table(S, rows)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        for start in range(0, len(rows), 100):  # each with its own dictionaries
            writer.write_table(model.arrow_table(S, rows[start:start + 100]))
    batch = model.read_arrow_batch(sink.getvalue().to_pybytes())
    assert batch.rejected == []
    pd.testing.assert_frame_equal(model.arrow_frame(S, batch.table), frame_of(S, rows))


def plain_text(table: pa.Table, text: pa.DataType) -> pa.Table:
    """``table`` with every dictionary column decoded to ``text``."""
    fields, arrays = [], []
    for field, column in zip(table.schema, table.columns, strict=True):
        if pa.types.is_dictionary(field.type) or field.type == pa.string():
            column, field = column.cast(text), pa.field(field.name, text)
        fields.append(field)
        arrays.append(column)
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields, metadata=table.schema.metadata))


@pytest.mark.parametrize("text", [pa.string(), pa.large_string()])
@pytest.mark.parametrize("channel", list(Channel))
def test_plain_utf8_columns_are_accepted_where_a_dictionary_is_listed(channel, text):
    rows = scenario_rows()[channel][:200]
    table = plain_text(model.arrow_table(channel, rows), text)
    assert not any(pa.types.is_dictionary(t) for t in table.schema.types)
    batch = model.read_arrow_batch(model.arrow_batch(table))
    assert batch.rejected == []
    pd.testing.assert_frame_equal(model.arrow_frame(channel, batch.table),
                                  frame_of(channel, rows))


def test_missing_optional_columns_are_all_absent():
    rows = scenario_rows()[M][:50]
    table = model.arrow_table(M, rows).drop_columns(["alert_id", "extra"])
    batch = model.read_arrow_batch(model.arrow_batch(table))
    assert batch.rejected == []
    expected = frame_of(M, rows)
    expected["alert_id"] = pd.array([pd.NA] * len(rows), dtype=expected["alert_id"].dtype)
    expected["extra"] = pd.array([pd.NA] * len(rows), dtype=expected["extra"].dtype)
    pd.testing.assert_frame_equal(model.arrow_frame(M, batch.table), expected)


# --- "arrow" batches: schema refusals (the whole batch) -------------------------------------


def ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def refusal(payload: bytes) -> InvalidMessage:
    with pytest.raises(InvalidMessage) as info:
        model.read_arrow_batch(payload)
    return info.value


def test_an_unknown_column_refuses_the_batch():
    table = model.arrow_table(M, [metric_row()])
    table = table.append_column("region", pa.array(["eu"]))
    error = refusal(ipc(table))
    assert error.reason == "arrow batch of monitoring_events: unknown column 'region'"
    assert error.code == ErrorCode.BAD_FIELD


@pytest.mark.parametrize(("name", "array", "expected"), [
    ("seq", pa.array(["1"]), "int64"),
    ("seq", pa.array([1], pa.int32()), "int64"),
    ("timestamp", pa.array([T0], pa.int64()), "timestamp[ns, tz=UTC]"),
    ("timestamp", pa.array([T0 // 1000], pa.timestamp("us", "UTC")), "timestamp[ns, tz=UTC]"),
    ("timestamp", pa.array([T0], pa.timestamp("ns")), "timestamp[ns, tz=UTC]"),
    ("value", pa.array(["50"]), "double"),
    ("event", pa.array([1], pa.int64()), "dictionary<values=string, indices=int32"),
    ("event", pa.array([b"metric_update"], pa.binary()), "dictionary<values=string"),
    ("node_id", pa.array([1], pa.int32()).dictionary_encode(), "dictionary<values=string"),
])
def test_a_column_of_another_type_refuses_the_batch(name, array, expected):
    table = model.arrow_table(M, [metric_row()])
    table = table.set_column(table.schema.get_field_index(name), name, array)
    error = refusal(ipc(table))
    assert error.reason.startswith(f"arrow batch of monitoring_events: column {name!r} is ")
    assert f"expected {expected}" in error.reason


def test_a_list_column_of_another_type_refuses_the_batch():
    table = model.arrow_table(N, scenario_rows()[N][:3])
    i = table.schema.get_field_index("nodes")
    table = table.set_column(i, "nodes", pa.array([[1], None, [2]], pa.list_(pa.int64())))
    assert "column 'nodes' is list<item: int64>" in refusal(ipc(table)).reason


@pytest.mark.parametrize(("metadata", "shown"), [
    (None, "''"),
    ({b"other": b"x"}, "''"),
    ({b"openagi.channel": b"weather_events"}, "'weather_events'"),
    ({b"openagi.channel": b"monitoring_event"}, "'monitoring_event'"),
])
def test_a_batch_without_a_known_channel_in_its_metadata_is_refused(metadata, shown):
    table = model.arrow_table(M, [metric_row()]).replace_schema_metadata(metadata)
    error = refusal(ipc(table))
    assert error.reason == (f"arrow batch: schema metadata 'openagi.channel' is {shown}, "
                            "expected a channel name")
    assert error.code == ErrorCode.UNKNOWN_CHANNEL


def test_a_batch_whose_columns_are_another_channels_is_refused():
    table = model.arrow_table(M, [metric_row()])
    table = table.replace_schema_metadata({b"openagi.channel": b"security_events"})
    assert "arrow batch of security_events: unknown column" in refusal(ipc(table)).reason


@pytest.mark.parametrize("payload", [
    b"", b"hello", b'{"type":"batch"}', b"\xff" * 64,
    lambda: model.arrow_batch(model.arrow_table(M, [metric_row()]))[:-20],  # cut short
])
def test_a_frame_that_is_not_an_arrow_ipc_stream_is_refused(payload):
    payload = payload() if callable(payload) else payload
    error = refusal(payload)
    assert error.reason.startswith("not an Arrow IPC stream: ")
    assert error.code == ErrorCode.BAD_FIELD


# --- "arrow" batches: row refusals (each row alone) ----------------------------------------


def read_rows(rows: list[Row], *, plain: pa.DataType | None = None
              ) -> model.ArrowBatch:
    table = model.arrow_table(M, rows)
    if plain is not None:
        table = plain_text(table, plain)
    return model.read_arrow_batch(model.arrow_batch(table))


@pytest.mark.parametrize("plain", [None, pa.string(), pa.large_string()])
@pytest.mark.parametrize(("bad", "reason"), [
    (metric_row(event="metric_exploded"), "field 'event': expected one of metric_update, "
     "alert_raised, performance_degradation, resource_exhausted"),
    (metric_row(event=None), "field 'event': expected one of metric_update, alert_raised, "
     "performance_degradation, resource_exhausted"),
    (metric_row(status="fine"), "field 'status': expected one of ok, warning, critical"),
    (metric_row(seq=-3), "field 'seq': expected a non-negative integer"),
    (metric_row(stamp=None), "field 'timestamp': missing"),
])
def test_a_bad_row_is_refused_alone_with_its_reason(bad, reason, plain):
    good = [metric_row(seq) for seq in (1, 2, 4)]
    batch = read_rows([good[0], good[1], bad, good[2]], plain=plain)
    [(raw, said)] = batch.rejected
    assert said == f"row 2: {reason}"
    assert orjson.loads(raw)["seq"] == bad[0]
    assert batch.table.column("seq").to_pylist() == [1, 2, 4]
    pd.testing.assert_frame_equal(model.arrow_frame(M, batch.table), frame_of(M, good))


def test_each_bad_row_gets_its_first_failing_check_and_the_rest_are_kept():
    rows = [
        metric_row(1), metric_row(-1, stamp=None), metric_row(3), metric_row(4, event="nope"),
        metric_row(5, status="meh"), metric_row(6, status=None), metric_row(None),
        metric_row(8, stamp=None),
    ]
    batch = read_rows(rows)
    assert [reason.split(":")[0] + ":" + reason.split(":")[1] for _, reason in batch.rejected
            ] == ["row 1: field 'seq'", "row 3: field 'event'", "row 4: field 'status'",
                  "row 7: field 'timestamp'"]
    # a null category and a null seq are "absent", not wrong
    assert batch.table.column("seq").to_pylist() == [1, 3, 6, None]


def test_a_batch_where_every_row_is_bad_keeps_none():
    batch = read_rows([metric_row(-1), metric_row(2, event=None)])
    assert batch.table.num_rows == 0
    assert len(batch.rejected) == 2


def test_rows_are_checked_in_every_record_batch_of_the_stream():
    table = model.arrow_table(M, [metric_row(1), metric_row(2, status="x"), metric_row(3),
                                  metric_row(4, event="x")])
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=2)
    batch = model.read_arrow_batch(sink.getvalue().to_pybytes())
    assert [r for _, r in batch.rejected] == [
        "row 1: field 'status': expected one of ok, warning, critical",
        "row 3: field 'event': expected one of metric_update, alert_raised, "
        "performance_degradation, resource_exhausted"]
    assert batch.table.column("seq").to_pylist() == [1, 3]


def test_a_batch_without_an_event_or_timestamp_column_refuses_every_row():
    table = model.arrow_table(M, [metric_row(1), metric_row(2)])
    for name, reason in (("event", "field 'event'"), ("timestamp", "field 'timestamp'")):
        batch = model.read_arrow_batch(ipc(table.drop_columns([name])))
        assert batch.table.num_rows == 0
        assert [r.split(": ", 1)[1].startswith(reason) for _, r in batch.rejected] == [True] * 2


# --- messages_of: rows back to messages -----------------------------------------------------


def round_trip(channel: str, rows: list[Row]) -> list[Row]:
    table = model.read_arrow_batch(model.arrow_batch(model.arrow_table(channel, rows))).table
    return [model.flatten(m)[1] for m in model.messages_of(channel, table)]


@pytest.mark.parametrize("channel", list(Channel))
def test_messages_of_scenario_rows_are_the_scenario_messages(channel):
    messages = [m for m in scenario_messages()
                if model.flatten(m)[0] is channel][:500]
    rows = [model.flatten(m)[1] for m in messages]
    assert model.messages_of(channel, model.arrow_table(channel, rows)) == messages


def test_messages_of_reads_plain_utf8_columns_too():
    rows = scenario_rows()[C][:100]
    table = plain_text(model.arrow_table(C, rows), pa.large_string())
    assert [model.flatten(m)[1] for m in model.messages_of(C, table)] == rows


def test_messages_of_keeps_microseconds_and_writes_what_a_message_can_say():
    row = metric_row(stamp=T0 + 123_456_000)
    [message] = model.messages_of(M, model.arrow_table(M, [row]))
    assert message["timestamp"] == "2026-01-05T08:00:00.123456Z"
    assert model.flatten(message)[1] == row
    # a message's timestamp has microseconds at most (format_timestamp): the rest is cut
    [message] = model.messages_of(M, model.arrow_table(M, [metric_row(stamp=T0 + 999)]))
    assert message["timestamp"] == "2026-01-05T08:00:00Z"


def test_messages_of_keeps_a_field_of_another_event_of_the_channel():
    """flatten puts it in its column (the channel's layout), not in extra: it must come back."""
    message = dict(model.data_message(M, "metric_update", {
        "node_id": "n", "metric": "cpu", "value": 1.0, "threshold": 2.0, "status": "ok",
        "alert_id": "A1", "severity": "high"}, model.format_timestamp(T0), 3))
    row = model.flatten(message)[1]
    assert model.messages_of(M, model.arrow_table(M, [row])) == [message]


_KEY = st.text("abcxyz_", min_size=1, max_size=6)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=8)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEY, inner, max_size=3),
    max_leaves=6)


def _known(channel: Channel, event: str) -> set[str]:
    return {key for fields in CATALOGUE[channel].values() for key in fields} | set(
        CATALOGUE[channel][event])


@st.composite
def varied_message(draw: st.DrawFn) -> dict[str, Any]:
    """A scenario message with keys the schema does not know (top level, in data, in nested
    objects), fields nulled or dropped, and other events' fields and nested decisions."""
    message = draw(st.sampled_from(scenario_messages()))
    channel = model.CHANNEL_OF_TYPE[message["type"]]
    message = orjson.loads(orjson.dumps(message))  # a deep copy
    data = message["data"]
    for key in draw(st.lists(st.sampled_from(sorted(data)), unique=True, max_size=3)):
        if draw(st.booleans()):
            data[key] = None
        else:
            del data[key]
    known = _known(channel, message["event"])
    for key, value in draw(st.dictionaries(_KEY, _JSON, max_size=3)).items():
        if key not in known:
            data[key] = value
    for key, value in draw(st.dictionaries(_KEY, _JSON, max_size=2)).items():
        if key not in {"type", "event", "data", "timestamp", "seq"}:
            message[key] = value
    nested = [k for k, f in CATALOGUE[channel][message["event"]].items() if isinstance(f, dict)]
    for key in nested:
        if draw(st.booleans()):
            inner = data.setdefault(key, {}) or {}
            inner[draw(st.sampled_from(["region", "why"]))] = draw(_JSON)
            data[key] = inner
    if draw(st.booleans()):
        message.pop("seq", None)
    if channel is N and draw(st.booleans()):
        data["nodes"] = draw(st.lists(st.text(max_size=5), max_size=4))
    return message


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(varied_message(), min_size=1, max_size=12))
def test_messages_of_is_the_inverse_of_flatten(messages):
    by_channel: dict[Channel, list[Row]] = {}
    for message in messages:
        channel, row = model.flatten(message)
        by_channel.setdefault(channel, []).append(row)
    for channel, rows in by_channel.items():
        assert round_trip(channel, rows) == rows


@pytest.mark.parametrize("index", [pa.int8(), pa.uint8(), pa.uint32(), pa.int64(), pa.uint64()])
@pytest.mark.parametrize("name", ["event", "status", "node_id"])
def test_dictionaries_with_any_integer_index_and_null_values_are_checked(index, name):
    """A null in a dictionary column with unsigned indices was an OverflowError, not a row."""
    rows = [metric_row(1), metric_row(2)]
    table = model.arrow_table(M, rows)
    value = "metric_update" if name == "event" else ("ok" if name == "status" else "node_01")
    array = pa.DictionaryArray.from_arrays(pa.array([0, None], index), pa.array([value]))
    table = table.set_column(table.schema.get_field_index(name), name, array)
    batch = model.read_arrow_batch(ipc(table))
    if name == "event":
        assert [r for _, r in batch.rejected] == [
            "row 1: field 'event': expected one of metric_update, alert_raised, "
            "performance_degradation, resource_exhausted"]
        assert batch.table.column("seq").to_pylist() == [1]
    else:
        assert batch.rejected == []
        frame = model.arrow_frame(M, batch.table)
        assert frame[name].isna().tolist() == [False, True]
