"""Batched frames (``docs/protocol.md`` section 14), over real sockets and as units: the status
feature, the ``batch`` request and its ``batching`` answer or errors, json and arrow batches
giving exactly the messages an unbatched client gets, the bounds (events and delay), resume,
unsubscribe, shared frames, slow consumers; :class:`BatchLog` and :meth:`Ring.describe`."""

from __future__ import annotations

import socket
import statistics
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pytest
import websocket

from openagi_nb import model
from openagi_nb.model import BatchFormat, BatchSettings, Compression
from openagi_nb.server._batched import BatchCursor
from openagi_nb.server._batches import Batch, BatchLog
from openagi_nb.server._ring import Ring

from .conftest import CHANNEL_CYCLE, DATA_TYPES, WsClient, write_capture

MAX = float("inf")
CHANNEL_OF_SEQ = {s % 4: c for s, c in zip(range(1, 5), CHANNEL_CYCLE, strict=True)}


# --- a batched client ----------------------------------------------------------------------


@dataclass
class Got:
    """One batch received."""

    channel: str
    seqs: list[int]
    frame: bytes
    at: float
    lines: list[bytes] = field(default_factory=list)  # "json": the message lines
    table: pa.Table | None = None  # "arrow": the rows

    @property
    def messages(self) -> list[dict[str, Any]]:
        if self.table is not None:
            return model.messages_of(self.channel, self.table)
        return [orjson.loads(line) for line in self.lines]


@dataclass
class Reader:
    """What a client read, in order: batches and control replies."""

    client: WsClient
    batches: list[Got] = field(default_factory=list)
    replies: list[dict[str, Any]] = field(default_factory=list)
    order: list[Got | dict[str, Any]] = field(default_factory=list)

    def next(self) -> Got | dict[str, Any]:
        opcode, data = self.client.ws.recv_data()
        at = time.monotonic()
        item: Got | dict[str, Any]
        if opcode == websocket.ABNF.OPCODE_BINARY:
            batch = model.read_arrow_batch(data)
            assert batch.rejected == []
            table = batch.table
            item = Got(batch.channel.value, table.column("seq").to_pylist(), data, at,
                       table=table)
        elif data.startswith(b'{"type":"batch"'):
            header, lines = model.split_json_batch(data)
            seqs = [orjson.loads(line)["seq"] for line in lines]
            assert header == {"type": "batch", "channel": header["channel"],
                              "count": len(lines), "first_seq": seqs[0], "last_seq": seqs[-1]}
            item = Got(header["channel"], seqs, data, at, lines)
        else:
            item = orjson.loads(data)
            assert item["type"] not in DATA_TYPES, "a data message outside a batch"
            self.replies.append(item)
        if isinstance(item, Got):
            self.batches.append(item)
        self.order.append(item)
        return item

    def events(self, count: int) -> list[Got]:
        """Read until ``count`` more events came; return the batches read."""
        start, got = len(self.batches), 0
        while got < count:
            item = self.next()
            if isinstance(item, Got):
                got += len(item.seqs)
        return self.batches[start:]

    def reply(self, kind: str) -> dict[str, Any]:
        while True:
            item = self.next()
            if isinstance(item, dict) and item["type"] == kind:
                return item

    def seqs(self, channel: str) -> list[int]:
        return [s for b in self.batches if b.channel == channel for s in b.seqs]


def ask(client: WsClient, **fields: Any) -> dict[str, Any]:
    """Send a ``batch`` message; return the reply (the next frame)."""
    client.send({"type": "batch", **fields})
    return client.recv()


def batched(client: WsClient, fmt: str = "json", compression: str = "none",
            **bounds: Any) -> Reader:
    reply = ask(client, format=fmt, compression=compression, **bounds)
    assert reply["type"] == "batching", reply
    assert (reply["format"], reply["compression"]) == (fmt, compression)
    return Reader(client)


def subscribe_all(client: WsClient, channels: tuple[str, ...] = CHANNEL_CYCLE) -> None:
    for channel in channels:
        client.subscribe(channel)


def plain_frames(client: WsClient, count: int) -> dict[int, bytes]:
    """``count`` unbatched data frames, by seq (control replies skipped)."""
    out: dict[int, bytes] = {}
    while len(out) < count:
        frame = client.ws.recv()
        raw = frame.encode() if isinstance(frame, str) else frame
        message = orjson.loads(raw)
        if message["type"] in DATA_TYPES:
            assert message["seq"] not in out
            out[message["seq"]] = raw
    return out


def check_channel_order(reader: Reader, most: int) -> None:
    """Per channel: seqs increase across batches (no overlap), no batch above ``most``."""
    for channel in CHANNEL_CYCLE:
        seqs = reader.seqs(channel)
        assert seqs == sorted(set(seqs)), channel
        assert all(CHANNEL_OF_SEQ[s % 4] == channel for s in seqs)
    assert all(1 <= len(b.seqs) <= most for b in reader.batches)


# --- discovering and asking ----------------------------------------------------------------


def status(server) -> dict[str, Any]:
    with urllib.request.urlopen(server.base_url + "/api/v1/status", timeout=10) as response:
        body: dict[str, Any] = orjson.loads(response.read())
        return body


def test_status_lists_the_batch_feature_and_counts_the_batched_clients(
        capture, serve, connect):
    server = serve(capture, batch_max_events=1000, batch_max_delay=0.02)
    assert status(server)["features"] == {"batch": {
        "formats": ["json", "arrow"], "compression": ["none", "lz4", "zstd"],
        "max_events": 1000, "max_delay_ms": 20.0}}
    assert status(server)["batched"] == 0
    batched, plain = connect(server), connect(server)
    assert ask(batched, format="json")["type"] == "batching"
    plain.subscribe("network_events")
    plain.reply("subscribed")
    counts = status(server)
    assert (counts["clients"], counts["batched"]) == (2, 1)


def test_no_batch_removes_the_feature_refuses_batch_and_goes_on_one_per_frame(
        capture, serve, connect):
    server = serve(capture, batch=False, speed=MAX)
    assert "batch" not in status(server)["features"]
    client = connect(server)
    reply = ask(client, format="json")
    assert reply["type"] == "error"
    assert reply["data"]["code"] == "unknown_type"
    client.subscribe("network_events")
    assert client.reply("subscribed")[1] == []
    messages = client.data(20)  # recv() parses one JSON object per frame: no batches
    assert [m["seq"] for m in messages] == list(range(1, 80, 4))


@pytest.mark.parametrize(("asked", "granted"), [
    ({}, (100, 20.0)),
    ({"max_events": 50, "max_delay_ms": 500}, (50, 20.0)),
    ({"max_events": 1000, "max_delay_ms": 5}, (100, 5.0)),
    ({"max_events": 1, "max_delay_ms": 0}, (1, 0.0)),
    ({"max_events": 65536, "max_delay_ms": 1000}, (100, 20.0)),
])
def test_batching_grants_the_smaller_of_the_asked_and_the_servers_bounds(
        capture, serve, connect, asked, granted):
    server = serve(capture, batch_max_events=100, batch_max_delay=0.02)
    reply = ask(connect(server), format="arrow", compression="zstd", **asked)
    assert reply == {"type": "batching", "format": "arrow", "compression": "zstd",
                     "max_events": granted[0], "max_delay_ms": granted[1]}


@pytest.mark.parametrize(("fields", "name"), [
    ({"format": "csv"}, "format"),
    ({"format": 3}, "format"),
    ({"format": "arrow", "compression": "gzip"}, "compression"),
    ({"format": "json", "compression": "zstd"}, "compression"),
    ({"max_events": 0}, "max_events"),
    ({"max_events": 70000}, "max_events"),
    ({"max_events": 2.5}, "max_events"),
    ({"max_delay_ms": -1}, "max_delay_ms"),
    ({"max_delay_ms": "x"}, "max_delay_ms"),
    ({"max_delay_ms": 1001}, "max_delay_ms"),
])
def test_a_bad_batch_request_is_a_bad_field_and_the_connection_goes_on_unbatched(
        capture, serve, connect, fields, name):
    server = serve(capture, speed=MAX)
    client = connect(server)
    reply = ask(client, **fields)
    assert reply["type"] == "error"
    assert reply["data"]["code"] == "bad_field"
    assert f"field '{name}'" in reply["data"]["message"]
    client.subscribe("security_events")
    assert [m["seq"] for m in client.data(10)] == list(range(3, 40, 4))


def test_batch_after_a_subscribe_or_a_second_batch_is_refused(capture, serve, connect):
    server = serve(capture, speed=MAX, wait_for=2)
    late = connect(server)
    late.subscribe("network_events")
    late.reply("subscribed")
    reply = ask(late, format="json")
    assert reply["type"] == "error"
    assert reply["data"]["code"] == "bad_field"
    assert "field 'batch'" in reply["data"]["message"]
    assert "before the first subscribe" in reply["data"]["message"]
    twice = connect(server)
    batched(twice, "json")
    reply = ask(twice, format="arrow")
    assert reply["type"] == "error"
    assert reply["data"]["code"] == "bad_field"
    twice.subscribe("network_events")  # starts the clock
    assert [m["seq"] for m in late.data(10)] == list(range(1, 40, 4))  # still one per frame
    reader = Reader(twice)
    assert reader.reply("subscribed")
    assert reader.events(10)[0].seqs[0] == 1  # still json batches


def test_batch_and_subscribes_in_one_write_are_handled_in_order(capture, serve, connect):
    server = serve(capture, speed=MAX)
    client = connect(server)
    frames = [orjson.dumps({"type": "batch", "format": "json", "max_events": 8}),
              orjson.dumps({"type": "subscribe", "channel": "consensus_events"})]
    for f in frames:  # back to back, before reading anything
        client.ws.send(f.decode())
    assert client.recv()["type"] == "batching"
    reader = Reader(client)
    item = reader.next()  # the ack precedes every batch
    assert isinstance(item, dict)
    assert item["type"] == "subscribed"
    reader.events(100)
    assert reader.seqs("consensus_events") == list(range(2, 401, 4))
    assert all(len(b.seqs) <= 8 for b in reader.batches)


# --- the same messages as one per frame ----------------------------------------------------


@pytest.mark.parametrize(("fmt", "compression"), [
    ("json", "none"), ("arrow", "none"), ("arrow", "lz4"), ("arrow", "zstd"),
])
def test_batches_hold_exactly_what_an_unbatched_client_gets(
        tmp_path, serve, connect, fmt, compression):
    total, most = 1200, 64
    server = serve(write_capture(tmp_path / "c.jsonl", total), speed=MAX, wait_for=2,
                   batch_max_events=most)
    plain = connect(server)
    subscribe_all(plain)
    client = connect(server)
    reader = batched(client, fmt, compression)
    subscribe_all(client)
    frames = plain_frames(plain, total)
    reader.events(total)
    assert sorted(frames) == list(range(1, total + 1))
    check_channel_order(reader, most)
    assert sorted(s for b in reader.batches for s in b.seqs) == sorted(frames)
    assert max(len(b.seqs) for b in reader.batches) == most  # max speed: full batches
    for got in reader.batches:
        sent = [orjson.loads(frames[s]) for s in got.seqs]
        if fmt == "json":
            assert got.lines == [frames[s] for s in got.seqs]  # byte for byte
        else:
            assert got.frame[:1] != b"{"
            assert got.messages == sent
            rows = [model.flatten(m)[1] for m in sent]
            expected = model.arrow_frame(got.channel, model.arrow_table(got.channel, rows))
            assert model.arrow_frame(got.channel, got.table).equals(expected)


def test_arrow_compression_is_what_was_granted(tmp_path, serve, connect):
    server = serve(write_capture(tmp_path / "c.jsonl", 2000), speed=MAX, wait_for=3,
                   batch_max_events=500)
    readers = {}
    for compression in ("none", "lz4", "zstd"):
        client = connect(server)
        readers[compression] = batched(client, "arrow", compression)
        client.subscribe("monitoring_events")
    for reader in readers.values():
        reader.events(500)
    sizes = {c: len(r.batches[0].frame) for c, r in readers.items()}
    assert sizes["zstd"] < sizes["none"]
    assert sizes["lz4"] < sizes["none"]
    messages = {}
    for compression, reader in readers.items():
        body = pa.ipc.open_stream(reader.batches[0].frame)
        assert body.schema.metadata[b"openagi.channel"] == b"monitoring_events"
        messages[compression] = reader.batches[0].messages
    assert messages["none"] == messages["lz4"] == messages["zstd"]


# --- bounds --------------------------------------------------------------------------------


def sparse(tmp_path, count: int, step_ms: int):
    return write_capture(tmp_path / "sparse.jsonl", count, step_ns=step_ms * 1_000_000)


@pytest.mark.parametrize("delay_ms", [30, 250])
def test_at_a_low_rate_events_wait_at_most_max_delay(tmp_path, serve, connect, delay_ms):
    step, count = 0.025, 64  # an event every 25 ms, one per channel every 100 ms: 1.6 s
    server = serve(sparse(tmp_path, count, 25), speed=1.0, wait_for=1, batch_max_delay=1.0)
    client = connect(server)
    reader = batched(client, "json", max_events=4096, max_delay_ms=delay_ms)
    subscribe_all(client)
    reader.events(count)
    check_channel_order(reader, 4096)
    # When seq 1 was published, estimated from batches sent as soon as their last event was
    # (the ones the end of the capture flushed): an estimate no earlier than the truth.
    t0 = min(b.at - (b.seqs[-1] - 1) * step for b in reader.batches)
    held = [b.at - (t0 + (b.seqs[0] - 1) * step) for b in reader.batches]
    slack = 0.25
    assert max(held) <= delay_ms / 1000 + slack, held
    if delay_ms == 30:  # each event alone: cut by the delay, well before 4096 events
        assert all(len(b.seqs) == 1 for b in reader.batches)
    else:  # two or three events of a channel wait together
        sizes = [len(b.seqs) for b in reader.batches]
        assert statistics.median(sizes) >= 2, sizes
        assert statistics.median(held) >= 0.1, held


def test_with_two_clients_the_smallest_bounds_apply_and_each_clients_hold(
        tmp_path, serve, connect):
    total = 2000
    server = serve(write_capture(tmp_path / "c.jsonl", total), speed=MAX, wait_for=2)
    small = connect(server)
    few = batched(small, "json", max_events=5, max_delay_ms=1000)
    big = connect(server)
    many = batched(big, "arrow", "lz4", max_events=1000, max_delay_ms=10)
    subscribe_all(small)
    subscribe_all(big)
    few.events(total)
    many.events(total)
    for reader in (few, many):
        check_channel_order(reader, 5)
        assert sorted(s for b in reader.batches for s in b.seqs) == list(range(1, total + 1))
    assert max(len(b.seqs) for b in many.batches) == 5


def test_after_the_smallest_client_leaves_its_bounds_no_longer_apply(
        tmp_path, serve, connect):
    server = serve(write_capture(tmp_path / "c.jsonl", 4000), speed=MAX, wait_for=2,
                   loop=True, batch_max_events=64, queue=1000)  # published ahead: 2,024 at most
    small = connect(server)
    batched(small, "json", max_events=2)
    client = connect(server)
    reader = batched(client, "json")
    subscribe_all(small)
    subscribe_all(client)
    reader.events(200)
    assert max(len(b.seqs) for b in reader.batches) == 2
    small.close()

    async def asked() -> tuple[int, int]:
        hub = server.server.hub
        assert hub.batches is not None
        return hub.batches.max_events, hub.ring.head

    deadline = time.monotonic() + 10
    while (bounds := server.call(asked()))[0] != 64:
        assert time.monotonic() < deadline
        reader.events(100)
    while reader.events(1)[-1].seqs[0] <= bounds[1]:
        pass  # what was cut before (socket buffers hold thousands of events)
    after = reader.events(2000)
    assert max(len(b.seqs) for b in after) == 64
    check_channel_order(reader, 64)


def test_at_max_speed_a_small_queue_does_not_wait_for_batches_to_time_out(
        tmp_path, serve, connect):
    # The clock waits for the slowest subscriber, whose position is pinned by the batches
    # still open: they are cut at once rather than after max_delay (here 1 s each time).
    server = serve(write_capture(tmp_path / "c.jsonl", 4000), speed=MAX, wait_for=1,
                   queue=100, batch_max_delay=1.0)
    client = connect(server)
    reader = batched(client, "json", max_delay_ms=1000)
    subscribe_all(client)
    start = time.monotonic()
    reader.events(4000)
    assert time.monotonic() - start < 8  # waiting out the delay: 40 s
    check_channel_order(reader, 4096)
    assert sorted(s for b in reader.batches for s in b.seqs) == list(range(1, 4001))


# --- resume and unsubscribe ----------------------------------------------------------------


def test_subscribe_with_since_resends_the_retained_events_after_since(
        capture, serve, connect):
    server = serve(capture, speed=MAX, wait_for=1, batch_max_events=16)
    client = connect(server)
    reader = batched(client, "json")
    client.subscribe("network_events")
    reader.events(100)  # the whole capture: seq 1, 5, ... 397
    assert reader.seqs("network_events") == list(range(1, 400, 4))
    assert reader.batches[0].seqs == list(range(1, 64, 4))  # 16 events a batch
    start = len(reader.batches)
    client.subscribe("security_events", since=50)  # inside the batch 3..63
    client.subscribe("network_events", since=200)
    reader.events(88 + 50)
    resent = reader.batches[start:]
    security = [s for b in resent if b.channel == "security_events" for s in b.seqs]
    network = [s for b in resent if b.channel == "network_events" for s in b.seqs]
    assert security == list(range(51, 400, 4))
    assert network == list(range(201, 400, 4))
    first = next(b for b in resent if b.channel == "security_events")
    assert first.seqs == list(range(51, 64, 4))  # the first batch trimmed after since
    # The acks precede the batches they cause.
    def at(found) -> int:
        return next(i for i, x in enumerate(reader.order) if found(x))

    for channel in ("security_events", "network_events"):
        ack = at(lambda x, c=channel: isinstance(x, dict) and x["type"] == "subscribed"
                 and x["channel"] == c and x["seq"] > 0)
        batch = at(lambda x, c=channel: isinstance(x, Got) and x.channel == c
                   and x.seqs[0] < 390 and x in resent)
        assert ack < batch


def test_since_older_than_the_history_is_truncated_like_unbatched(tmp_path, serve, connect):
    total = 4000
    server = serve(write_capture(tmp_path / "c.jsonl", total), speed=MAX, wait_for=1,
                   history=100, queue=100, batch_max_events=16)
    first = connect(server)
    reader = batched(first, "json")
    first.subscribe("network_events")
    reader.events(total // 4)
    oldest = server.call(_oldest(server))
    assert oldest > 0  # the ring has moved on
    plain = connect(server)
    plain.subscribe("security_events", since=0)
    error, _ = plain.reply("error")
    assert error["data"]["code"] == "history_truncated"
    expected = [s for s in range(oldest + 1, total + 1) if s % 4 == 3]
    assert sorted(plain_frames(plain, len(expected))) == expected
    late = connect(server)
    again = batched(late, "arrow", "zstd")
    late.subscribe("security_events", since=0)
    error = again.reply("error")
    assert error["data"]["code"] == "history_truncated"
    assert f"resending from seq {oldest + 1}" in error["data"]["message"]
    again.events(len(expected))
    assert again.seqs("security_events") == expected


async def _oldest(server) -> int:
    return int(server.server.hub.ring.oldest)


def test_unsubscribe_stops_a_channels_batches(tmp_path, serve, connect):
    server = serve(write_capture(tmp_path / "c.jsonl", 4000), speed=MAX, wait_for=1,
                   loop=True, batch_max_events=8)
    client = connect(server)
    reader = batched(client, "json")
    subscribe_all(client, ("network_events", "security_events"))
    reader.events(200)
    client.send({"type": "unsubscribe", "channel": "security_events"})
    reader.reply("unsubscribed")
    after = reader.events(2000)
    assert {b.channel for b in after} == {"network_events"}
    check_channel_order(reader, 8)
    client.subscribe("security_events")  # live again, from now
    ack = reader.reply("subscribed")
    for _ in range(100_000):
        item = reader.next()
        if isinstance(item, Got) and item.channel == "security_events":
            break
    assert isinstance(item, Got)
    assert item.seqs[0] > ack["seq"]
    check_channel_order(reader, 8)


# --- shared frames -------------------------------------------------------------------------


@pytest.mark.parametrize(("fmt", "compression"), [("json", "none"), ("arrow", "zstd")])
def test_batched_clients_receive_the_very_same_frames(
        tmp_path, serve, connect, fmt, compression):
    total = 2000
    server = serve(write_capture(tmp_path / "c.jsonl", total), speed=MAX, wait_for=3,
                   batch_max_events=100)
    readers = []
    for _ in range(3):
        client = connect(server)
        readers.append(batched(client, fmt, compression))
        subscribe_all(client)
    for reader in readers:
        reader.events(total)
    for channel in CHANNEL_CYCLE:
        frames = [[b.frame for b in r.batches if b.channel == channel] for r in readers]
        assert frames[0] == frames[1] == frames[2]

    async def shared() -> bool:  # the server keeps one frame per batch and format
        log = server.server.hub.batches
        return all(len(b._frames) == 1 for batches in log.closed for b in batches)

    assert server.call(shared())


# --- slow consumers ------------------------------------------------------------------------


def test_a_slow_batched_consumer_at_finite_speed_is_closed_with_1013(
        tmp_path, serve, connect):
    server = serve(write_capture(tmp_path / "c.jsonl", 4000), speed=200.0, queue=2000,
                   loop=True)
    slow = connect(server, sockopt=((socket.SOL_SOCKET, socket.SO_RCVBUF, 4096),))
    assert ask(slow, format="arrow", max_events=32)["type"] == "batching"
    fast = connect(server)
    reader = batched(fast, "json")  # cheap to read: this test's client shares the CPU
    for channel in CHANNEL_CYCLE:
        slow.subscribe(channel)  # and never reads until it is closed
    fast.subscribe("monitoring_events")
    deadline = time.monotonic() + 120
    while server.status()["slow_consumers_closed"] == 0:
        assert time.monotonic() < deadline
        reader.events(500)
    errors = []
    while True:
        frame = slow.ws.recv_frame()
        if frame.opcode == websocket.ABNF.OPCODE_CLOSE:
            break
        if frame.data.startswith(b'{"type":"error"'):
            errors.append(frame.data)
    assert int.from_bytes(frame.data[:2], "big") == 1013
    assert len(errors) == 1
    assert b"slow_consumer" in errors[0]
    assert server.status()["slow_consumers_closed"] == 1
    reader.events(100)  # the others go on
    check_channel_order(reader, 4096)


# --- BatchLog, no sockets ------------------------------------------------------------------


def kinds(*channels: int) -> bytes:
    return bytes(channels)


class Counting:
    """An encoder that counts its calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, BatchFormat, Compression]] = []

    def __call__(self, batch: Batch, fmt: BatchFormat, compression: Compression) -> bytes:
        self.calls.append((batch.first, fmt, compression))
        return f"{fmt}/{compression}/{batch.first}-{batch.last}".encode()


def test_batchlog_cuts_by_size():
    log = BatchLog(3, 1.0)
    log.add(1, 0, kinds(0, 1, 0, 0, 0, 0, 0), 0, now=0.0)  # seqs 1..7: channel 0 has 6
    assert [b.seqs.tolist() for b in log.closed[0]] == [[1, 3, 4], [5, 6, 7]]
    assert log.closed[1] == []
    assert sum(map(len, log.closed)) == 2
    assert log.first_after(1, 0) == 2  # open
    assert log.first_after(1, 2) is None
    assert log.deadline() == 1.0  # channel 1's event waits
    log.add(8, 7, kinds(1, 1), 0, now=0.5)
    assert [b.seqs.tolist() for b in log.closed[1]] == [[2, 8, 9]]
    assert log.deadline() is None


def test_batchlog_cuts_a_large_publication_in_batches_of_max_events():
    log = BatchLog(4, 1.0)
    log.add(1, 10, kinds(*[2] * 10), 3, now=0.0)
    assert [len(b) for b in log.closed[2]] == [4, 4, 2]  # the rest is closed too
    batch = log.closed[2][0]
    assert batch.indices.tolist() == [10, 11, 12, 13]
    assert batch.offsets.tolist() == [3, 3, 3, 3]
    assert log.deadline() is None


def test_batchlog_cuts_by_deadline():
    log = BatchLog(100, 0.05)
    log.add(1, 0, kinds(0, 1), 0, now=10.0)
    log.add(3, 2, kinds(0), 0, now=10.03)
    assert log.deadline() == pytest.approx(10.05)
    assert not log.cut_due(10.04)
    assert log.closed == [[], [], [], []]
    assert log.cut_due(10.05)
    assert [b.seqs.tolist() for b in log.closed[0]] == [[1, 3]]
    assert [b.seqs.tolist() for b in log.closed[1]] == [[2]]
    assert log.deadline() is None
    assert not log.cut_due(20.0)
    log.add(4, 3, kinds(0), 0, now=11.0)
    assert log.deadline() == pytest.approx(11.05)  # a new open batch starts its own wait


def test_batchlog_flush_closes_everything():
    log = BatchLog(100, 1.0)
    log.add(1, 0, kinds(0, 1, 2, 3, 0), 0, now=0.0)
    log.flush()
    assert [[b.seqs.tolist() for b in c] for c in log.closed] == [[[1, 5]], [[2]], [[3]], [[4]]]
    assert log.deadline() is None
    log.flush()
    assert sum(map(len, log.closed)) == 4


def test_batchlog_forget_drops_batches_evicted_whole():
    log = BatchLog(2, 1.0)
    log.add(1, 0, kinds(*[0] * 7), 0, now=0.0)
    log.flush()
    assert [b.first for b in log.closed[0]] == [1, 3, 5, 7]
    log.forget(3)  # seq 4 is still retained: its batch stays
    assert [b.first for b in log.closed[0]] == [3, 5, 7]
    assert log.closed[0][0].first == 3
    log.forget(4)
    assert [b.first for b in log.closed[0]] == [5, 7]
    assert log.next_after(0, 0) is log.closed[0][0]
    log.forget(100)
    assert log.closed[0] == []
    assert log.next_after(0, 0) is None


def test_batchlog_next_after_trims_the_batch_it_starts_in():
    log = BatchLog(3, 1.0)
    log.add(1, 100, kinds(0, 1, 0, 1, 0, 1, 0, 0), 7, now=0.0)  # channel 0: 1 3 5 | 7 8
    log.flush()
    whole = log.closed[0][0]
    assert log.next_after(0, 0) is whole  # shared, not copied
    cut = log.next_after(0, 3)
    assert cut is not None
    assert cut is not whole
    assert cut.seqs.tolist() == [5]
    assert cut.indices.tolist() == [104]
    assert cut.offsets.tolist() == [7]
    assert log.next_after(0, 5) is log.closed[0][1]
    nxt = log.next_after(0, 7)
    assert nxt is not None
    assert nxt.seqs.tolist() == [8]
    assert log.next_after(0, 8) is None
    assert log.next_after(2, 0) is None


def test_batchlog_first_after_finds_open_and_closed_events():
    log = BatchLog(2, 1.0)
    assert log.first_after(0, 0) is None
    log.add(1, 0, kinds(0, 1, 0, 0), 0, now=0.0)  # channel 0: 1 3 closed, 4 open
    assert log.first_after(0, 0) == 1
    assert log.first_after(0, 1) == 3  # inside a closed batch
    assert log.first_after(0, 3) == 4  # the open one
    assert log.first_after(0, 4) is None
    assert log.first_after(1, 0) == 2


def test_batchlog_grant_and_release_keep_the_smallest_bounds():
    log = BatchLog(100, 0.05)
    assert (log.max_events, log.max_delay) == (100, 0.05)
    a, b = object(), object()
    assert log.grant(a, BatchSettings(max_events=10, max_delay_ms=500)) == BatchSettings(
        max_events=10, max_delay_ms=50.0)
    assert (log.max_events, log.max_delay) == (10, 0.05)
    granted = log.grant(b, BatchSettings(BatchFormat.ARROW, Compression.LZ4, 1000, 5))
    assert granted == BatchSettings(BatchFormat.ARROW, Compression.LZ4, 100, 5.0)
    assert (log.max_events, log.max_delay) == (10, 0.005)
    log.release(a)
    assert (log.max_events, log.max_delay) == (100, 0.005)
    log.release(a)  # twice: nothing
    log.release(b)
    assert (log.max_events, log.max_delay) == (100, 0.05)
    assert log.grant(a, BatchSettings()) == BatchSettings(max_events=100, max_delay_ms=50.0)


def test_a_batch_frame_is_built_once_per_format_and_compression():
    log = BatchLog(4, 1.0)
    log.add(1, 0, kinds(0, 0, 0, 0), 0, now=0.0)
    batch = log.closed[0][0]
    encode = Counting()
    for _ in range(3):
        assert batch.frame(BatchFormat.JSON, Compression.NONE, encode) == b"json/none/1-4"
        batch.frame(BatchFormat.ARROW, Compression.ZSTD, encode)
        batch.frame(BatchFormat.ARROW, Compression.LZ4, encode)
    assert sorted(encode.calls) == sorted([(1, BatchFormat.JSON, Compression.NONE),
                                           (1, BatchFormat.ARROW, Compression.ZSTD),
                                           (1, BatchFormat.ARROW, Compression.LZ4)])


def test_cursors_share_the_frames_of_whole_batches_and_trim_their_own():
    log = BatchLog(4, 1.0)
    encode = Counting()
    cursors = [BatchCursor(log, BatchSettings(), encode) for _ in range(3)]
    cursors[0].want(0, 0)
    cursors[1].want(0, 0)
    cursors[2].want(0, 2)  # subscribed after seq 2: its first batch is trimmed
    log.add(1, 0, kinds(*[0] * 8), 0, now=0.0)
    outs: list[list[bytes]] = [[], [], []]
    sent = [c.collect(1 << 20, out) for c, out in zip(cursors, outs, strict=True)]
    assert sent == [8, 8, 6]
    assert outs[0] == outs[1] == [b"json/none/1-4", b"json/none/5-8"]
    assert outs[0][0] is outs[1][0]  # the very same bytes
    assert outs[2] == [b"json/none/3-4", b"json/none/5-8"]
    assert outs[2][1] is outs[0][1]
    assert encode.calls == [(1, "json", "none"), (5, "json", "none"), (3, "json", "none")]
    assert all(c.idle() for c in cursors)


def test_cursor_position_is_the_oldest_event_still_needed():
    log = BatchLog(2, 1.0)
    cursor = BatchCursor(log, BatchSettings(), Counting())
    assert cursor.position(10) == 10  # not subscribed
    cursor.want(1, 0)
    assert cursor.position(10) == 10  # nothing of channel 1 published
    log.add(1, 0, kinds(0, 1, 1), 0, now=0.0)  # channel 1: 2 3 closed
    assert cursor.position(3) == 1  # the seq before channel 1's first: 1 is not its
    out: list[bytes] = []
    assert cursor.collect(1 << 20, out) == 2
    assert cursor.position(3) == 3
    cursor.want(1, 1)  # a resend
    assert cursor.position(3) == 1
    cursor.drop(1)
    assert cursor.position(3) == 3
    assert cursor.idle()


def test_cursor_collect_keeps_to_the_room_but_sends_one_batch_at_least():
    log = BatchLog(1, 1.0)
    cursor = BatchCursor(log, BatchSettings(), Counting())
    cursor.want(0, 0)
    log.add(1, 0, kinds(0, 0, 0), 0, now=0.0)
    out: list[bytes] = []
    assert cursor.collect(1, out) == 1  # larger than the room, but the first goes
    assert cursor.collect(0, out) == 0
    frame = len(b"json/none/2-2")
    assert cursor.collect(2 * frame - 1, out) == 1
    assert cursor.collect(10 * frame, out) == 1
    assert cursor.idle()
    assert len(out) == 3


# --- Ring.describe, no sockets -------------------------------------------------------------


class Framer:
    """Frames ``index:seq:offset``, and counts what it was asked."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int, int, int]] = []

    def __call__(self, index: int, count: int, seq: int, offset: int) -> list[bytes]:
        self.calls.append((index, count, seq, offset))
        return [f"{index + k}:{seq + k}:{offset}".encode() for k in range(count)]


def test_describe_frames_lazily_and_each_frame_once():
    framer = Framer()
    ring = Ring(16, framer)
    ring.describe(kinds(0, 1, 2, 3), 100, 5)
    assert ring.head == 4
    assert framer.calls == []
    frames, chans = ring.window(0, 2)
    assert frames == [b"100:1:5", b"101:2:5"]
    assert list(chans) == [0, 1]
    assert framer.calls == [(100, 2, 1, 5)]
    frames, _ = ring.window(0, 4)
    assert frames == [b"100:1:5", b"101:2:5", b"102:3:5", b"103:4:5"]
    assert framer.calls == [(100, 2, 1, 5), (102, 2, 3, 5)]  # only what was not framed
    again, _ = ring.window(1, 4)
    assert again == frames[1:]
    assert len(framer.calls) == 2
    assert all(a is b for a, b in zip(again, frames[1:], strict=True))


def test_describe_merges_adjacent_segments():
    framer = Framer()
    ring = Ring(16, framer)
    ring.describe(kinds(0, 0), 10, 0)
    ring.describe(kinds(1, 1, 1), 12, 0)  # the capture goes on: one segment
    ring.describe(kinds(2), 0, 60)  # a new loop: another index and offset
    ring.describe(kinds(3), 1, 60)
    assert len(ring._segments) == 2
    frames, chans = ring.window(0, 7)
    assert framer.calls == [(10, 5, 1, 0), (0, 2, 6, 60)]
    assert frames == [b"10:1:0", b"11:2:0", b"12:3:0", b"13:4:0", b"14:5:0", b"0:6:60",
                      b"1:7:60"]
    assert list(chans) == [0, 0, 1, 1, 1, 2, 3]
    assert not ring._segments


def test_describe_windows_across_the_wrap_point():
    framer = Framer()
    ring = Ring(8, framer)
    ring.describe(kinds(*[0] * 6), 0, 0)
    ring.window(0, 6)
    ring.describe(kinds(1, 2, 3, 1, 2), 6, 0)  # seqs 7..11: wrap around, evicting 1..3
    assert ring.oldest == 3
    assert ring.evicted[0] == 3
    frames, chans = ring.window(3, 11)
    assert frames == [f"{s - 1}:{s}:0".encode() for s in range(4, 12)]
    assert list(chans) == [0, 0, 0, 1, 2, 3, 1, 2]
    assert framer.calls == [(0, 6, 1, 0), (6, 5, 7, 0)]
    with pytest.raises(IndexError):
        ring.window(2, 11)


def test_describe_evicts_segments_never_framed():
    framer = Framer()
    ring = Ring(4, framer)
    ring.describe(kinds(0, 0), 0, 0)
    ring.describe(kinds(1), 50, 0)
    ring.describe(kinds(2, 2, 2, 3), 0, 9)  # seqs 4..7: 1..3 evicted, never framed
    assert ring.oldest == 3
    assert len(ring._segments) == 1
    assert ring.evicted[:2] == [2, 3]
    frames, _ = ring.window(3, 7)
    assert frames == [b"0:4:9", b"1:5:9", b"2:6:9", b"3:7:9"]
    assert framer.calls == [(0, 4, 4, 9)]


def test_describe_frames_only_the_retained_part_of_a_half_evicted_segment():
    framer = Framer()
    ring = Ring(4, framer)
    ring.describe(kinds(0, 0, 0), 0, 0)
    ring.describe(kinds(1, 1, 1), 20, 0)  # seqs 4..6: 1 and 2 evicted
    assert ring.oldest == 2
    frames, _ = ring.window(2, 6)
    assert frames == [b"2:3:0", b"20:4:0", b"21:5:0", b"22:6:0"]
    assert framer.calls == [(2, 1, 3, 0), (20, 3, 4, 0)]


def test_describe_more_than_the_capacity_is_refused():
    ring = Ring(4, Framer())
    with pytest.raises(ValueError, match="do not fit"):
        ring.describe(kinds(*[0] * 5), 0, 0)
    ring.describe(b"", 0, 0)
    assert ring.head == 0


def test_hub_frames_no_single_message_when_every_client_takes_batches(
        tmp_path, serve, connect):
    server = serve(write_capture(tmp_path / "c.jsonl", 800), speed=MAX, wait_for=1)
    client = connect(server)
    reader = batched(client, "arrow", "none")
    subscribe_all(client)
    reader.events(800)

    async def unframed() -> tuple[int, int]:
        ring = server.server.hub.ring
        return ring._built, sum(s.size for s in ring._segments)

    built, waiting = server.call(unframed())
    assert built == 0
    assert waiting == 800
    assert np.array_equal(sorted(s for b in reader.batches for s in b.seqs),
                          np.arange(1, 801))
