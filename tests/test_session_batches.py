"""stream/_session.py with batches (``docs/protocol.md`` section 14): asking, the answer, reading
``"arrow"`` and ``"json"`` batches, duplicates and resume across them; Resume.accept_batch.

Sans-I/O as tests/test_session.py: the server's frames are built by hand, what the session sends
is parsed back, time is a number passed in.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest

from openagi_nb import model
from openagi_nb.model import (
    BINARY,
    TEXT,
    BatchFormat,
    BatchSettings,
    Channel,
    Compression,
    Row,
)
from openagi_nb.stream._events import Columns
from openagi_nb.stream._resume import NO_SEQ, Resume
from openagi_nb.stream._session import OTHER, Rejected, Reply

from .test_session import T0, intrusion, metric, subscribe
from .test_session import Wire as PlainWire

M, S = Channel.MONITORING, Channel.SECURITY
ARROW = BatchSettings(BatchFormat.ARROW, Compression.LZ4, 4096, 50.0)
JSON = BatchSettings(BatchFormat.JSON, Compression.NONE, 4096, 50.0)


def server_frame(opcode: int, payload: bytes) -> bytes:
    """An unmasked final frame as a server sends it (RFC 6455 section 5.2), any length."""
    n = len(payload)
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([n])
    elif n < 65536:
        head += bytes([126]) + struct.pack("!H", n)
    else:
        head += bytes([127]) + struct.pack("!Q", n)
    return head + payload


def text(obj: dict[str, Any]) -> bytes:
    return server_frame(TEXT, orjson.dumps(obj))


def granted(settings: BatchSettings = ARROW) -> bytes:
    return server_frame(TEXT, model.batching(settings).encode())


def refused(message: str = "unknown message type 'batch'") -> bytes:
    return server_frame(TEXT, model.error("unknown_type", message).encode())


def row(message: dict[str, Any]) -> Row:
    return model.flatten(message)[1]


def arrow(messages: list[dict[str, Any]], channel: Channel = M,
          compression: Compression = Compression.LZ4) -> bytes:
    """An ``"arrow"`` batch frame of ``messages``."""
    table = model.arrow_table(channel, [row(m) for m in messages])
    return server_frame(BINARY, model.arrow_batch(table, compression))


def json_lines(lines: list[bytes], channel: Channel = M) -> bytes:
    """A ``"json"`` batch frame of message ``lines``."""
    return server_frame(TEXT, model.json_batch(channel.value, lines, 0, 0))


def jbatch(messages: list[dict[str, Any]], channel: Channel = M) -> bytes:
    return json_lines([orjson.dumps(m) for m in messages], channel)


class Wire(PlainWire):
    """A session asking for ``batch`` and the client frames it has sent, parsed back."""

    def __init__(self, channels: tuple[Channel, ...] = (M, S),
                 batch: BatchSettings | None = ARROW) -> None:
        super().__init__(channels, batch=batch)

    def connect(self, offered: BatchSettings | None = ARROW, now: float = 0.0) -> list[Any]:
        self.session.connection_made(now, offered)
        return self.sent()


def seqs(events: list[Any]) -> list[int]:
    """The seq of every accepted event, single or in columns, in order."""
    out: list[int] = []
    for event in events:
        if type(event) is tuple:
            out.append(event[1][0])
        elif isinstance(event, Columns):
            out.extend(event.table.column("seq").to_pylist())
    return out


def granted_wire(settings: BatchSettings = ARROW, channels: tuple[Channel, ...] = (M, S)
                 ) -> Wire:
    wire = Wire(channels, batch=settings)
    wire.connect(settings)
    [reply] = wire.feed(granted(settings))
    assert isinstance(reply, Reply)
    assert reply.kind == "batching"
    return wire


# --- asking and the answer ------------------------------------------------------------------


def test_the_batch_request_goes_before_the_subscribes_in_one_write():
    wire = Wire()
    assert wire.connect(ARROW) == [
        {"type": "batch", "format": "arrow", "compression": "lz4", "max_events": 4096,
         "max_delay_ms": 50.0},
        subscribe(M), subscribe(S)]
    assert wire.session.batch_note == "asked"


def test_the_request_is_what_was_offered_not_what_was_wanted():
    wire = Wire(batch=ARROW)
    sent = wire.connect(BatchSettings(BatchFormat.JSON, Compression.NONE, 10, 1.0))
    assert sent[0] == {"type": "batch", "format": "json", "compression": "none",
                       "max_events": 10, "max_delay_ms": 1.0}


def test_a_request_without_bounds_leaves_them_to_the_server():
    wire = Wire()
    assert wire.connect(BatchSettings(BatchFormat.ARROW, Compression.ZSTD))[0] == {
        "type": "batch", "format": "arrow", "compression": "zstd"}


def test_the_batching_reply_sets_what_the_connection_gets():
    wire = Wire()
    wire.connect(ARROW)
    answer = BatchSettings(BatchFormat.ARROW, Compression.LZ4, 1000, 20.0)
    [reply] = wire.feed(granted(answer))
    assert isinstance(reply, Reply)
    assert reply.kind == "batching"
    assert wire.session.batching == answer
    assert wire.session.batch_note == "arrow lz4, up to 1000 events or 20 ms"


def test_json_batching_is_described_without_a_codec():
    wire = granted_wire(JSON)
    assert wire.session.batch_note == "json, up to 4096 events or 50 ms"


def test_an_error_reply_leaves_one_message_per_frame():
    wire = Wire()
    wire.connect(ARROW)
    [reply] = wire.feed(refused())
    assert isinstance(reply, Reply)
    assert reply.kind == "error"
    assert wire.session.batching is None
    assert wire.session.batch_note == "refused by the server: unknown message type 'batch'"
    events = wire.feed(text(metric(1)) + text(metric(2)))
    assert seqs(events) == [1, 2]
    assert all(type(e) is tuple for e in events)
    # a binary frame is still not data
    [rejected] = wire.feed(arrow([metric(3)]))
    assert isinstance(rejected, Rejected)
    assert rejected.reason.startswith("binary frame of")


def test_a_ping_before_the_answer_does_not_take_its_place():
    wire = Wire()
    wire.connect(ARROW)
    wire.feed(text({"type": "ping"}))
    assert wire.session.batch_note == "asked"
    wire.feed(granted())
    assert wire.session.batching == ARROW


def test_only_the_first_reply_answers_the_request():
    wire = Wire()
    wire.connect(ARROW)
    wire.feed(granted())
    wire.feed(server_frame(TEXT, model.error("bad_field", "field 'since': no").encode()))
    assert wire.session.batching == ARROW
    assert wire.session.batch_note.startswith("arrow lz4")


def test_without_batch_settings_nothing_is_asked():
    wire = Wire(batch=None)
    assert wire.connect(ARROW) == [subscribe(M), subscribe(S)]
    assert wire.session.batch_note == "off"
    assert wire.session.batching is None


def test_a_server_that_offers_nothing_is_not_asked():
    wire = Wire()
    assert wire.connect(None) == [subscribe(M), subscribe(S)]
    assert wire.session.batch_note == "not offered by the server"


def test_a_binary_frame_before_batching_was_granted_is_rejected():
    wire = Wire()
    wire.connect(ARROW)
    frame = arrow([metric(1)])
    [rejected] = wire.feed(frame)
    assert isinstance(rejected, Rejected)
    assert rejected.channel == OTHER
    assert not rejected.record
    assert rejected.reason == f"binary frame of {len(frame) - 4} bytes (the API sends text)"


def test_a_json_batch_before_batching_was_granted_is_one_rejected_message():
    wire = Wire(batch=None)
    wire.connect(None)
    events = wire.feed(jbatch([metric(1), metric(2)]))
    assert [type(e) for e in events] == [Rejected]


def test_each_connection_asks_again_and_forgets_the_last_grant():
    wire = granted_wire()
    wire.session.connection_lost()
    sent = wire.connect(JSON)
    assert sent[0]["type"] == "batch"
    assert sent[0]["format"] == "json"
    assert wire.session.batching is None
    assert wire.session.batch_note == "asked"
    # binary before this connection's answer: not data
    assert isinstance(wire.feed(arrow([metric(1)]))[0], Rejected)


# --- "arrow" batches -------------------------------------------------------------------------


def test_an_arrow_batch_is_one_columns_event_with_its_rows():
    wire = granted_wire()
    messages = [metric(seq, seconds=seq) for seq in range(1, 6)]
    [event] = wire.feed(arrow(messages))
    assert isinstance(event, Columns)
    assert event.channel == M.value
    pd.testing.assert_frame_equal(
        model.arrow_frame(M, event.table),
        model.to_frame(M, list(zip(*[row(m) for m in messages], strict=True))))
    assert model.messages_of(M, event.table) == messages
    assert wire.session.resume.since(M) == 5


@pytest.mark.parametrize("compression", list(Compression))
def test_an_arrow_batch_is_read_whatever_its_compression(compression):
    wire = granted_wire()
    [event] = wire.feed(arrow([intrusion(4), intrusion(9)], S, compression))
    assert isinstance(event, Columns)
    assert event.channel == S.value
    assert seqs([event]) == [4, 9]


def test_bad_rows_of_an_arrow_batch_are_rejected_alone_the_rest_kept():
    wire = granted_wire()
    rows = [row(metric(seq)) for seq in (1, 2, 3, 4)]
    names = [c.name for c in model.columns(M)]
    bad_status = list(rows[1])
    bad_status[names.index("status")] = "fine"
    bad_event = list(rows[3])
    bad_event[names.index("event")] = "metric_exploded"
    table = model.arrow_table(M, [rows[0], tuple(bad_status), rows[2], tuple(bad_event)])
    events = wire.feed(server_frame(BINARY, model.arrow_batch(table)))
    *rejected, columns = events
    assert [(type(r), r.channel, r.record) for r in rejected] == [(Rejected, M.value, False)] * 2
    assert [r.reason for r in rejected] == [
        "row 1: field 'status': expected one of ok, warning, critical",
        "row 3: field 'event': expected one of metric_update, alert_raised, "
        "performance_degradation, resource_exhausted"]
    assert orjson.loads(rejected[0].raw)["seq"] == 2
    assert isinstance(columns, Columns)
    assert seqs([columns]) == [1, 3]


def test_an_arrow_batch_whose_schema_does_not_fit_is_one_rejected():
    wire = granted_wire()
    table = model.arrow_table(M, [row(metric(1))]).replace_schema_metadata(None)
    [rejected] = wire.feed(server_frame(BINARY, model.arrow_batch(table)))
    assert isinstance(rejected, Rejected)
    assert rejected.channel == OTHER
    assert "openagi.channel" in rejected.reason
    assert not rejected.record
    [rejected] = wire.feed(server_frame(BINARY, b"not arrow"))
    assert rejected.reason.startswith("not an Arrow IPC stream")
    assert seqs(wire.feed(arrow([metric(1)]))) == [1]  # the connection goes on


def test_an_arrow_batch_without_an_event_column_rejects_its_rows_and_the_stream_goes_on():
    wire = granted_wire()
    table = model.arrow_table(M, [row(metric(1)), row(metric(2))]).drop_columns(["event"])
    events = wire.feed(server_frame(BINARY, model.arrow_batch(table)))
    assert [type(e) for e in events] == [Rejected, Rejected]
    assert wire.session.ending is None


def test_an_arrow_batch_of_only_duplicates_yields_nothing():
    wire = granted_wire()
    wire.feed(arrow([metric(1), metric(2)]))
    assert wire.feed(arrow([metric(1), metric(2)])) == []
    assert wire.session.resume.duplicates == 2


def test_an_arrow_batch_cut_across_reads_is_assembled_at_every_cut():
    messages = [metric(seq, seconds=seq) for seq in (1, 2, 3)]
    frame = arrow(messages, compression=Compression.NONE)
    for cut in range(1, len(frame)):
        wire = granted_wire()
        first = wire.feed(frame[:cut])
        assert first == [], cut
        [event] = wire.feed(frame[cut:])
        assert isinstance(event, Columns), cut
        assert seqs([event]) == [1, 2, 3], cut


def test_an_arrow_batch_in_three_pieces_and_a_message_after_it():
    wire = granted_wire()
    frame = arrow([metric(seq) for seq in range(1, 40)]) + text(metric(40))
    third = len(frame) // 3
    events = [*wire.feed(frame[:third]), *wire.feed(frame[third:2 * third]),
              *wire.feed(frame[2 * third:])]
    assert seqs(events) == list(range(1, 41))


def test_a_large_arrow_batch_with_a_64_bit_length_is_read():
    wire = granted_wire()
    messages = [metric(seq, seconds=seq, value=seq / 7) for seq in range(1, 5001)]
    frame = arrow(messages, compression=Compression.NONE)
    assert frame[1] == 127
    [event] = wire.feed(frame)
    assert seqs([event]) == list(range(1, 5001))


# --- "json" batches --------------------------------------------------------------------------


def test_a_json_batch_is_one_delivery_per_line_with_the_servers_bytes():
    wire = granted_wire(JSON)
    messages = [metric(seq) for seq in (1, 2, 3)]
    events = wire.feed(jbatch(messages))
    assert [type(e) for e in events] == [tuple] * 3
    assert [e[2] for e in events] == [orjson.dumps(m) for m in messages]
    assert [e[3] for e in events] == messages
    assert seqs(events) == [1, 2, 3]


def test_a_bad_line_of_a_json_batch_is_one_rejected_the_rest_kept():
    wire = granted_wire(JSON)
    bad_status = {**metric(2), "data": {**metric(2)["data"], "status": "fine"}}
    lines = [orjson.dumps(metric(1)), orjson.dumps(bad_status), b"{not json",
             orjson.dumps(metric(4))]
    events = wire.feed(json_lines(lines))
    assert [type(e) for e in events] == [tuple, Rejected, Rejected, tuple]
    assert seqs(events) == [1, 4]
    assert events[1].raw == lines[1]
    assert events[1].channel == M.value
    assert events[1].record
    assert "field 'data.status'" in events[1].reason
    assert events[2].channel == OTHER
    assert events[2].raw == b"{not json"


def test_a_json_batch_may_also_carry_other_messages_lines():
    wire = granted_wire(JSON)
    events = wire.feed(jbatch([metric(1), intrusion(2)]))
    assert [e[0] for e in events] == [M.value, S.value]


def test_a_json_batch_header_that_is_not_json_is_one_rejected():
    wire = granted_wire(JSON)
    [rejected] = wire.feed(server_frame(TEXT, b'{"type":"batch",]\n{}'))
    assert isinstance(rejected, Rejected)
    assert not rejected.record
    assert "batch header" in rejected.reason


def test_a_json_batch_cut_across_reads_is_assembled_at_every_cut():
    messages = [metric(1), metric(2, value=1.5)]
    frame = jbatch(messages)
    for cut in range(1, len(frame)):
        wire = granted_wire(JSON)
        assert wire.feed(frame[:cut]) == [], cut
        assert seqs(wire.feed(frame[cut:])) == [1, 2], cut


def test_a_json_batch_with_escaped_newlines_keeps_its_lines():
    wire = granted_wire(JSON)
    message = {**metric(1), "note": "a\nb"}
    [(_channel, _, raw, obj)] = wire.feed(jbatch([message]))
    assert obj == message
    assert raw == orjson.dumps(message)
    assert b"\\n" in raw


# --- duplicates and resume across batches ----------------------------------------------------


@pytest.mark.parametrize("settings", [ARROW, JSON])
def test_duplicates_inside_and_across_batches_and_singles_are_dropped_by_seq(settings):
    wire = granted_wire(settings)
    batch = arrow if settings is ARROW else jbatch
    events = wire.feed(
        batch([metric(1), metric(2), metric(2), metric(3)])  # inside: 2 again
        + text(metric(3)) + text(metric(4))                   # a single duplicate, a new one
        + batch([metric(3), metric(4), metric(5), metric(6)])  # across: 3 and 4 again
        + text(metric(6)) + batch([metric(5)]) + text(metric(7)))
    assert seqs(events) == [1, 2, 3, 4, 5, 6, 7]
    assert wire.session.resume.duplicates == 6


def test_batches_of_two_channels_interleave_each_with_its_own_seq():
    wire = granted_wire()
    events = wire.feed(arrow([metric(1), metric(3)]) + arrow([intrusion(2), intrusion(4)], S)
                       + arrow([metric(5)]))
    assert [(e.channel, seqs([e])) for e in events] == [
        (M.value, [1, 3]), (S.value, [2, 4]), (M.value, [5])]
    assert wire.session.resume.duplicates == 0


@pytest.mark.parametrize("settings", [ARROW, JSON])
def test_a_reconnection_resumes_each_channel_from_the_last_seq_of_its_batches(settings):
    batch = arrow if settings is ARROW else jbatch
    wire = granted_wire(settings)
    wire.feed(batch([metric(3), metric(8)]) + batch([intrusion(5), intrusion(9)], S))
    wire.session.connection_lost()
    sent = wire.connect(settings)
    assert sent[1:] == [subscribe(M, 8), subscribe(S, 9)]
    wire.feed(granted(settings))
    # the server resends after since, then a batch that overlaps is cut event by event
    events = wire.feed(batch([metric(10), metric(12)]) + batch([intrusion(11)], S)
                       + batch([metric(12), metric(13)]))
    assert seqs(events) == [10, 12, 11, 13]
    assert wire.session.resume.duplicates == 1
    assert wire.session.resume.gaps == []


def test_a_channel_without_batches_resumes_from_the_newest_seq_of_any():
    wire = granted_wire()
    wire.feed(arrow([intrusion(12), intrusion(15)], S))
    wire.session.connection_lost()
    assert wire.connect(ARROW)[1:] == [subscribe(M, 15), subscribe(S, 15)]


@pytest.mark.parametrize("settings", [ARROW, JSON])
def test_a_lower_seq_on_the_first_batch_after_a_reconnection_is_a_restarted_server(settings):
    batch = arrow if settings is ARROW else jbatch
    wire = granted_wire(settings, (M,))
    wire.feed(batch([metric(40, seconds=1), metric(50, seconds=2)]))
    wire.session.connection_lost()
    wire.connect(settings)
    wire.feed(granted(settings))
    events = wire.feed(batch([metric(1, seconds=10), metric(2, seconds=11)]))
    assert seqs(events) == [1, 2]
    [gap] = wire.session.resume.gaps
    assert gap.reason == "server sequence restarted"
    assert gap.start == pd.Timestamp(T0 + 2_000_000_000, unit="ns", tz="UTC")
    assert gap.end == pd.Timestamp(T0 + 10_000_000_000, unit="ns", tz="UTC")
    assert wire.session.resume.since(M) == 2
    assert wire.session.resume.duplicates == 0


def test_a_restart_seen_by_a_single_message_then_batches_go_on():
    wire = granted_wire(ARROW, (M,))
    wire.feed(arrow([metric(50)]))
    wire.session.connection_lost()
    wire.connect(ARROW)
    wire.feed(granted())
    events = wire.feed(text(metric(1)) + arrow([metric(1), metric(2)]))
    assert seqs(events) == [1, 2]
    assert [g.reason for g in wire.session.resume.gaps] == ["server sequence restarted"]
    assert wire.session.resume.duplicates == 1


def test_a_reconnection_refused_batches_continues_one_per_frame_from_the_batches_seq():
    wire = granted_wire(ARROW, (M,))
    wire.feed(arrow([metric(1), metric(2), metric(3)]))
    wire.session.connection_lost()
    assert wire.connect(ARROW)[1:] == [subscribe(M, 3)]
    wire.feed(refused("batches are off"))
    assert wire.session.batch_note == "refused by the server: batches are off"
    assert seqs(wire.feed(text(metric(4)) + text(metric(4)) + text(metric(5)))) == [4, 5]
    assert wire.session.resume.duplicates == 1
    assert wire.session.resume.gaps == []


# --- Resume.accept_batch -----------------------------------------------------------------


def ns(seconds: float) -> int:
    return T0 + int(seconds * 1e9)


def arrays(seq: list[int | None], seconds: list[float]) -> tuple[np.ndarray, np.ndarray]:
    return (np.array([NO_SEQ if s is None else s for s in seq], np.int64),
            np.array([ns(s) for s in seconds], np.int64))


def test_accept_batch_of_nothing_keeps_all():
    resume = Resume()
    assert resume.accept_batch(M, *arrays([], [])) is None
    assert resume.since(M) is None
    assert resume.duplicates == 0


def test_accept_batch_of_new_seqs_keeps_all_and_moves_since():
    resume = Resume()
    assert resume.accept_batch(M, *arrays([3, 4, 7], [0, 1, 2])) is None
    assert (resume.since(M), resume.max_seq) == (7, 7)
    assert resume.newest[M] == ns(2)


def test_accept_batch_without_seq_keeps_every_row_and_leaves_since():
    resume = Resume()
    assert resume.accept_batch(M, *arrays([None, None], [1, 2])) is None
    assert resume.since(M) is None
    assert resume.newest[M] == ns(2)
    assert resume.duplicates == 0


def test_accept_batch_without_seq_closes_the_gap_of_an_outage():
    resume = Resume()
    resume.accept_batch(M, *arrays([None], [1]))
    resume.disconnected((M,))
    assert resume.accept_batch(M, *arrays([None, None], [5, 6])) is None
    [gap] = resume.gaps
    assert (gap.start, gap.end, gap.reason) == (
        pd.Timestamp(ns(1), tz="UTC"), pd.Timestamp(ns(5), tz="UTC"), "no seq to resume from")


def test_accept_batch_of_all_duplicates_keeps_none():
    resume = Resume()
    resume.accept_batch(M, *arrays([1, 2, 3], [0, 1, 2]))
    keep = resume.accept_batch(M, *arrays([2, 3], [1, 2]))
    assert keep is not None
    assert keep.tolist() == [False, False]
    assert resume.duplicates == 2
    assert (resume.since(M), resume.newest[M]) == (3, ns(2))


def test_accept_batch_with_a_partial_overlap_keeps_the_new_ones():
    resume = Resume()
    resume.accept_batch(M, *arrays([1, 2, 3], [0, 1, 2]))
    keep = resume.accept_batch(M, *arrays([2, 3, 4, 5], [1, 2, 3, 4]))
    assert keep is not None
    assert keep.tolist() == [False, False, True, True]
    assert resume.duplicates == 2
    assert resume.since(M) == 5


def test_accept_batch_drops_repeats_and_older_seqs_inside_the_batch():
    resume = Resume()
    keep = resume.accept_batch(M, *arrays([1, 2, 2, 1, 3, None, 3], [0, 1, 1, 0, 2, 2, 2]))
    assert keep is not None
    assert keep.tolist() == [True, True, False, False, True, True, False]
    assert resume.duplicates == 3
    assert resume.since(M) == 3


def test_accept_batch_agrees_with_accept_message_by_message():
    rng = np.random.default_rng(5)
    for _ in range(200):
        one, many = Resume(), Resume()
        for _ in range(4):
            if rng.random() < 0.3:
                one.disconnected((M,))
                many.disconnected((M,))
            drawn = rng.integers(-2, 12, rng.integers(0, 6)).tolist()
            seq = [s if s >= 0 else None for s in drawn]
            stamps = [float(abs(s)) for s in drawn]
            expected = [one.accept(M, s, ns(t)) for s, t in zip(seq, stamps, strict=True)]
            keep = many.accept_batch(M, *arrays(seq, stamps))
            assert (keep.tolist() if keep is not None else [True] * len(seq)) == expected
            assert (many.last_seq, many.max_seq, many.duplicates, many.newest) == (
                one.last_seq, one.max_seq, one.duplicates, one.newest)
            assert (many.gaps, many.pending()) == (one.gaps, one.pending())


def test_accept_batch_after_a_resume_is_not_a_restart_when_it_continues():
    resume = Resume()
    resume.accept_batch(M, *arrays([5], [0]))
    resume.disconnected((M,))
    assert resume.accept_batch(M, *arrays([6, 7], [1, 2])) is None
    assert resume.gaps == []
    assert resume.pending() == []


def test_accept_batch_after_a_resume_with_a_lower_seq_is_a_restart():
    resume = Resume()
    resume.accept_batch(M, *arrays([5, 6], [0, 1]))
    resume.disconnected((M, S))
    assert resume.pending() == []
    assert resume.accept_batch(M, *arrays([1, 2, 2], [5, 6, 6])).tolist() == [True, True, False]
    [gap] = resume.gaps
    assert gap.reason == "server sequence restarted"
    assert (gap.start, gap.end) == (pd.Timestamp(ns(1), tz="UTC"), pd.Timestamp(ns(5), tz="UTC"))
    assert resume.since(M) == 2
    assert resume.duplicates == 1
    # the next batch is not fresh any more: a lower seq is a duplicate again
    assert resume.accept_batch(M, *arrays([1], [7])).tolist() == [False]


def test_accept_batch_after_a_resume_starting_without_seq_is_as_accept():
    """accept() takes a first message without seq as the one that continues the channel: the
    older seqs after it are duplicates, not a restart."""
    resume = Resume()
    resume.accept_batch(M, *arrays([5, 6], [0, 1]))
    resume.disconnected((M,))
    assert resume.accept_batch(M, *arrays([None, 1, 7], [2, 3, 4])).tolist() == [
        True, False, True]
    assert resume.gaps == []
    assert resume.duplicates == 1
    assert resume.since(M) == 7


def test_an_arrow_batch_the_reader_fails_on_is_one_rejected_not_the_end(monkeypatch):
    wire = granted_wire()

    def broken(payload: bytes) -> Any:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(model, "read_arrow_batch", broken)
    [rejected] = wire.feed(arrow([metric(1)]))
    assert isinstance(rejected, Rejected)
    assert rejected.reason == "internal error: ZeroDivisionError('a bug')"
    assert wire.session.ending is None
