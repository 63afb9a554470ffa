"""stream/_session.py: the client's protocol, bytes and the time in, events and frames out.

No thread, socket or clock here: the server's bytes are built by hand (``server_frame``), what the
session sends is parsed back (``Wire.sent``), and time is a number passed in.
"""

from __future__ import annotations

import struct
from typing import Any

import orjson
import pytest

from openagi_nb.model import (
    CLOSE,
    CONTINUATION,
    PING,
    PONG,
    TEXT,
    Channel,
    FrameParser,
    data_message,
    format_timestamp,
)
from openagi_nb.stream._reconnect import Outcome
from openagi_nb.stream._session import OTHER, ClientSession, Rejected, Reply

M, S = Channel.MONITORING, Channel.SECURITY
T0 = 1_767_600_000_000_000_000


def server_frame(opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0) -> bytes:
    """An unmasked frame as a server sends it (RFC 6455 section 5.2)."""
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | rsv << 4 | opcode])
    head += bytes([n]) if n < 126 else bytes([126]) + struct.pack("!H", n)
    return head + payload


def text(obj: dict[str, Any]) -> bytes:
    return server_frame(TEXT, orjson.dumps(obj))


def metric(seq: int | None, seconds: float = 0.0, value: float = 50.0) -> dict[str, Any]:
    stamp = format_timestamp(T0 + int(seconds * 1e9))
    return dict(data_message(M, "metric_update", {
        "node_id": "node_01", "metric": "cpu_usage", "value": value, "threshold": 80.0,
        "status": "ok"}, stamp, seq))


def intrusion(seq: int) -> dict[str, Any]:
    return dict(data_message(S, "intrusion_detected", {
        "attack_type": "ddos", "source_ip": "10.0.0.1", "blocked": True, "severity": "high"},
        format_timestamp(T0), seq))


class Wire:
    """A session and the client frames it has sent, parsed back (they are masked)."""

    def __init__(self, channels: tuple[Channel, ...] = (M, S), **options: Any) -> None:
        self.session = ClientSession(channels, mask_key=lambda n: b"\x01\x02\x03\x04",
                                     **options)

    def connect(self, now: float = 0.0) -> list[Any]:
        self.session.connection_made(now)
        return self.sent()

    def feed(self, data: bytes, now: float = 1.0) -> list[Any]:
        return self.session.receive_data(data, now)

    def sent(self) -> list[Any]:
        """Text frames as JSON objects, other frames as ``(opcode, payload)``."""
        parser = FrameParser()
        parser.feed(self.session.data_to_send())
        out: list[Any] = []
        while (item := parser.next()) is not None:
            opcode, payload = item
            out.append(orjson.loads(payload) if opcode == TEXT else item)
        return out


def subscribe(channel: Channel, since: int | None = None) -> dict[str, Any]:
    return {"type": "subscribe", "channel": channel.value,
            **({} if since is None else {"since": since})}


def test_a_first_connection_subscribes_to_each_channel_live():
    assert Wire().connect() == [subscribe(M), subscribe(S)]


def test_a_data_message_is_delivered_as_its_channel_row_raw_bytes_and_object():
    wire = Wire()
    wire.connect()
    message = metric(7)
    [(channel, row, raw, obj)] = wire.feed(text(message))
    assert channel == M.value
    assert (row[0], row[1], row[2]) == (7, T0, "metric_update")
    assert raw == orjson.dumps(message)
    assert obj == message


def test_a_reconnection_resumes_each_channel_from_its_last_seq():
    wire = Wire()
    wire.connect()
    wire.feed(text(metric(4)) + text(intrusion(9)))
    wire.session.connection_lost()
    assert wire.connect() == [subscribe(M, 4), subscribe(S, 9)]


def test_a_channel_without_events_resumes_from_the_newest_seq_of_any():
    wire = Wire()
    wire.connect()
    wire.feed(text(intrusion(12)))
    wire.session.connection_lost()
    assert wire.connect() == [subscribe(M, 12), subscribe(S, 12)]


def test_the_subscribed_ack_seq_resumes_a_connection_cut_before_its_first_event():
    wire = Wire()
    wire.connect()
    acks = [{"type": "subscribed", "channel": c.value, "seq": 30} for c in (M, S)]
    events = wire.feed(b"".join(text(a) for a in acks))
    assert [(e.kind, e.known) for e in events] == [("subscribed", True)] * 2
    wire.session.connection_lost()
    assert wire.connect() == [subscribe(M, 30), subscribe(S, 30)]
    assert wire.session.resume.gaps == []


def test_messages_already_seen_are_dropped_and_counted():
    wire = Wire()
    wire.connect()
    events = wire.feed(text(metric(1)) + text(metric(2)) + text(metric(2)) + text(metric(3)))
    assert [e[1][0] for e in events] == [1, 2, 3]
    assert wire.session.resume.duplicates == 1


def test_an_older_seq_first_after_a_reconnection_is_a_restarted_server_not_a_duplicate():
    wire = Wire((M,))
    wire.connect()
    wire.feed(text(metric(5)))
    wire.session.connection_lost()
    wire.connect()
    assert [e[1][0] for e in wire.feed(text(metric(1)))] == [1]
    [gap] = wire.session.resume.gaps
    assert gap.reason == "server sequence restarted"


def test_a_server_without_seq_leaves_a_gap_for_each_outage():
    wire = Wire((M,))
    wire.connect()
    wire.feed(text(metric(None, 0)))
    wire.session.connection_lost()
    assert wire.connect() == [subscribe(M)]
    wire.feed(text(metric(None, 5)))
    [gap] = wire.session.resume.gaps
    assert (gap.channel, gap.reason) == (M, "no seq to resume from")


def test_history_truncated_is_a_gap_and_the_last_error():
    wire = Wire((M,))
    wire.connect()
    wire.feed(text(metric(3)))
    error = {"type": "error", "data": {"code": "history_truncated",
                                       "message": "monitoring_events messages after seq 3 ..."}}
    [reply] = wire.feed(text(error))
    assert reply.kind == "error"
    assert wire.session.last_error.startswith("server error history_truncated")
    [gap] = wire.session.resume.pending()
    assert gap.reason == "history no longer retained"


def test_a_message_cut_across_reads_is_delivered_once_whole():
    wire = Wire()
    wire.connect()
    data = text(metric(1)) + text(metric(2))
    assert wire.feed(data[:5]) == []
    assert [e[1][0] for e in wire.feed(data[5:-3])] == [1]
    assert [e[1][0] for e in wire.feed(data[-3:])] == [2]


def test_fragments_are_joined_into_one_message():
    wire = Wire()
    wire.connect()
    raw = orjson.dumps(metric(1))
    data = (server_frame(TEXT, raw[:10], fin=False) + server_frame(PING, b"hi")
            + server_frame(CONTINUATION, raw[10:]))
    [event] = wire.feed(data)
    assert event[2] == raw
    assert wire.sent() == [(PONG, b"hi")]


def test_an_api_ping_is_answered_with_a_pong_message():
    wire = Wire()
    wire.connect()
    [reply] = wire.feed(text({"type": "ping"}))
    assert reply.kind == "ping"
    assert wire.sent() == [{"type": "pong"}]


def test_a_quiet_server_is_pinged_then_given_up():
    wire = Wire(ping_interval=20.0, ping_timeout=10.0)
    wire.connect(now=0.0)
    wire.session.tick(19.9)
    assert wire.sent() == []
    wire.session.tick(20.0)
    assert wire.sent() == [{"type": "ping"}]
    wire.session.tick(29.9)
    assert wire.session.ending is None
    wire.session.tick(30.0)
    assert wire.session.ending.ending.outcome is Outcome.NETWORK
    assert "no message or pong within 10s" in wire.session.ending.message


def test_any_bytes_from_the_server_count_as_an_answer():
    wire = Wire(ping_interval=20.0, ping_timeout=10.0)
    wire.connect(now=0.0)
    wire.session.tick(20.0)
    wire.feed(text({"type": "pong"}), now=25.0)
    wire.session.tick(35.0)
    assert wire.session.ending is None
    assert wire.sent() == [{"type": "ping"}]


@pytest.mark.parametrize(("payload", "echo"), [
    (struct.pack("!H", 4001) + b"token expired", 4001),
    (struct.pack("!H", 1013), 1013),
    (b"", 1000),  # 1005, no code: answered with a normal close
])
def test_the_servers_close_is_echoed_and_ends_the_connection(payload, echo):
    wire = Wire()
    wire.connect()
    wire.feed(server_frame(CLOSE, payload) + text(metric(1)))
    [(opcode, sent)] = wire.sent()
    assert (opcode, struct.unpack("!H", sent[:2])[0]) == (CLOSE, echo)
    ending = wire.session.ending
    assert ending.ending.outcome is Outcome.CLOSED
    assert ending.ending.code == (echo if payload else 1005)
    assert ending.message.startswith("server closed the connection")


def test_nothing_after_the_close_frame_is_delivered():
    wire = Wire()
    wire.connect()
    assert wire.feed(server_frame(CLOSE, struct.pack("!H", 1001)) + text(metric(1))) == []


def test_our_close_is_answered_and_ends_as_stopped():
    wire = Wire()
    wire.connect()
    wire.session.close(0.0)
    [(opcode, payload)] = wire.sent()
    assert (opcode, payload) == (CLOSE, struct.pack("!H", 1000))
    wire.feed(server_frame(CLOSE, struct.pack("!H", 1000)))
    assert wire.sent() == []
    assert wire.session.ending.ending.outcome is Outcome.STOPPED


def test_broken_framing_fails_the_connection_with_1002():
    wire = Wire()
    wire.connect()
    assert wire.feed(text(metric(1)) + server_frame(TEXT, b"x", rsv=4)) != []
    [(opcode, payload)] = wire.sent()
    assert (opcode, payload[:2]) == (CLOSE, struct.pack("!H", 1002))
    ending = wire.session.ending
    assert ending.ending.outcome is Outcome.NETWORK
    assert "protocol error: reserved bits" in ending.message


def test_an_eof_without_a_close_is_a_network_ending():
    wire = Wire()
    wire.connect()
    wire.session.receive_eof()
    assert wire.session.ending.message == "connection lost: connection closed by the peer"


def test_bad_messages_are_rejected_with_their_reason_and_channel():
    wire = Wire()
    wire.connect()
    bad_value = metric(1, value=1.0)
    bad_value["data"]["value"] = "85"
    events = wire.feed(server_frame(TEXT, b"{nope") + text(bad_value)
                       + server_frame(0x2, b"\x00\x01"))
    assert [type(e) for e in events] == [Rejected] * 3
    assert [e.channel for e in events] == [OTHER, M.value, OTHER]
    assert "expected a number" in events[1].reason
    assert [e.record for e in events] == [True, True, False]


def test_a_type_this_version_does_not_know_is_ignored_not_rejected():
    wire = Wire()
    wire.connect()
    [event] = wire.feed(text({"type": "node_gossip", "data": {}}))
    assert event == Reply("node_gossip", {"type": "node_gossip", "data": {}},
                          b'{"type":"node_gossip","data":{}}', known=False)
    assert wire.session.ignored == 1


def test_subscribe_and_unsubscribe_are_sent_while_connected_and_kept_for_later():
    wire = Wire((M,))
    wire.session.subscribe(S)  # not connected: nothing to send yet
    assert wire.sent() == []
    assert wire.connect() == [subscribe(M), subscribe(S)]
    wire.session.unsubscribe(M)
    assert wire.sent() == [{"type": "unsubscribe", "channel": M.value}]
    wire.session.connection_lost()
    assert wire.connect() == [subscribe(S)]


def test_every_frame_the_client_sends_is_masked():
    wire = Wire()
    wire.session.connection_made(0.0)
    data = wire.session.data_to_send()
    assert data[1] & 0x80  # RFC 6455 section 5.3


def test_a_server_that_does_not_answer_our_close_is_left_after_the_close_timeout():
    wire = Wire(close_timeout=0.5)
    wire.connect(now=0.0)
    wire.session.close(10.0)
    wire.sent()
    wire.session.tick(10.4)
    assert wire.session.ending is None
    wire.feed(text(metric(1)), now=10.45)  # data may still come after our close
    wire.session.tick(10.5)
    ending = wire.session.ending
    assert ending.ending.outcome is Outcome.STOPPED
    assert ending.message == "stopped (the server did not answer the close)"


def test_a_message_over_the_limit_in_fragments_is_refused_with_1009():
    wire = Wire(max_message=1000)
    wire.connect()
    events = wire.feed(server_frame(TEXT, b"x" * 600, fin=False)
                       + server_frame(CONTINUATION, b"x" * 600, fin=False))
    assert events == []
    [(opcode, payload)] = wire.sent()
    assert (opcode, struct.unpack("!H", payload[:2])[0]) == (CLOSE, 1009)
    ending = wire.session.ending
    assert ending.ending.outcome is Outcome.NETWORK  # reconnect as for any network error
    assert ending.message == ("connection lost: message too big: over 1200 bytes in fragments, "
                              "the limit is 1000 (closed with 1009)")


def test_nothing_is_sent_after_the_connection_failed():
    wire = Wire()
    wire.connect()
    wire.feed(server_frame(TEXT, b"x", rsv=4))
    wire.sent()
    wire.session.close(2.0)
    wire.session.subscribe(Channel.NETWORK)
    assert wire.sent() == []
