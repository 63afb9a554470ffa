"""The replay clock and the publisher, over the network: retime, loop, wait-for, pacing by the
slowest subscriber at max speed, slow consumers at finite speed, one encoding for all."""

from __future__ import annotations

import itertools
import socket
import threading
import time
from datetime import UTC, datetime

from openagi_nb.model import parse_timestamp

from .conftest import CHANNEL_CYCLE, STEP_NS, T0_NS, make_message, write_capture

MAX = float("inf")
STAMP_FIELDS = ("timestamp", "executed_at", "expired_at")


def inner_stamps(message: dict) -> list[int]:
    return [parse_timestamp(message["data"][k]) for k in STAMP_FIELDS if k in message["data"]]


def subscribe_all(client, channels=CHANNEL_CYCLE) -> None:
    for channel in channels:
        client.subscribe(channel)
        client.reply("subscribed")


def start_clock(server, connect) -> None:
    """Be the last of ``wait_for`` subscribers (the others subscribed to all they want)."""
    connect(server).subscribe("network_events")


def test_retime_makes_the_first_message_now_and_shifts_data_timestamps(
    tmp_path, serve, connect
):
    server = serve(write_capture(tmp_path / "c.jsonl", 40), speed=MAX, wait_for=2)
    before = datetime.now(UTC).replace(microsecond=0).timestamp()
    client = connect(server)
    subscribe_all(client, CHANNEL_CYCLE[:3])
    start_clock(server, connect)
    messages = client.data(30)
    after = datetime.now(UTC).timestamp()
    first = parse_timestamp(messages[0]["timestamp"]) / 1e9
    assert before - 1 <= first <= after + 1
    offset = parse_timestamp(messages[0]["timestamp"]) - T0_NS - (messages[0]["seq"] - 1) * STEP_NS
    assert offset % 1_000_000_000 == 0  # whole seconds: fractions are kept
    for m in messages:
        original = make_message(m["seq"] - 1, T0_NS + (m["seq"] - 1) * STEP_NS)
        shifted = parse_timestamp(m["timestamp"])
        assert shifted == parse_timestamp(original["timestamp"]) + offset
        assert inner_stamps(m) == [shifted]  # data.timestamp / executed_at / expired_at too


def test_no_retime_keeps_the_capture_timestamps(tmp_path, serve, connect):
    server = serve(write_capture(tmp_path / "c.jsonl", 40), speed=MAX, wait_for=1,
                   retime=False)
    client = connect(server)
    client.subscribe("consensus_events")
    for m in client.data(10):
        original = make_message(m["seq"] - 1, T0_NS + (m["seq"] - 1) * STEP_NS)
        assert m == {**original, "seq": m["seq"]}


def test_loop_starts_over_with_increasing_timestamps_and_seq(tmp_path, serve, connect):
    count = 40
    server = serve(write_capture(tmp_path / "c.jsonl", count), speed=MAX, wait_for=2,
                   loop=True, retime=False)
    client = connect(server)
    subscribe_all(client)
    start_clock(server, connect)
    messages = client.data(3 * count)
    assert [m["seq"] for m in messages] == list(range(1, 3 * count + 1))
    stamps = [parse_timestamp(m["timestamp"]) for m in messages]
    assert all(a < b for a, b in itertools.pairwise(stamps))
    period = stamps[count] - stamps[0]
    assert period >= count * STEP_NS
    assert period % 1_000_000_000 == 0
    second = messages[count:2 * count]
    assert [m["data"] for m in second][1::4] != [m["data"] for m in messages[:count]][1::4]
    assert [m["event"] for m in second] == [m["event"] for m in messages[:count]]
    assert inner_stamps(second[0]) == [stamps[0] + period]


def test_wait_for_holds_the_clock_until_enough_clients_subscribed(tmp_path, serve, connect):
    server = serve(write_capture(tmp_path / "c.jsonl", 100), speed=MAX, wait_for=2)
    first = connect(server)
    first.subscribe("network_events")
    first.reply("subscribed")
    first.send({"type": "ping"})
    first.reply("pong")
    status = server.status()
    assert status["messages_published"] == 0
    assert status["replay"]["waiting_for"] == 1
    second = connect(server)
    second.subscribe("network_events")
    assert first.data(1)[0]["seq"] == 1
    assert second.data(1)[0]["seq"] == 1


def test_max_speed_holds_the_clock_while_nobody_is_subscribed(tmp_path, serve, connect):
    server = serve(write_capture(tmp_path / "c.jsonl", 100), speed=MAX)
    client = connect(server)
    client.send({"type": "ping"})
    client.reply("pong")
    assert server.status()["messages_published"] == 0
    client.subscribe("network_events")
    assert client.data(1)[0]["seq"] == 1


def test_max_speed_is_paced_by_the_slowest_subscriber_and_drops_nothing(
    tmp_path, serve, connect
):
    total, queue = 6000, 100
    server = serve(write_capture(tmp_path / "c.jsonl", total), speed=MAX, wait_for=3,
                   queue=queue)
    slow = connect(server, sockopt=((socket.SOL_SOCKET, socket.SO_RCVBUF, 4096),))
    fast = connect(server)
    subscribe_all(slow)
    slow_seqs: list[int] = []

    def read_slowly() -> None:
        for m in slow.data(total):
            slow_seqs.append(m["seq"])
            if m["seq"] % 100 == 0:
                time.sleep(0.002)

    reader = threading.Thread(target=read_slowly)
    reader.start()
    subscribe_all(fast)
    start_clock(server, connect)

    async def lead() -> int:
        hub = server.server.hub
        return hub.ring.head - min(s.position for s in hub.subscribers)

    fast_seqs = []
    for _ in range(total // 500):
        fast_seqs += [m["seq"] for m in fast.data(500)]
        assert server.call(lead()) <= queue  # never more than the queue ahead of the slowest
    reader.join(60)
    assert fast_seqs == list(range(1, total + 1))
    assert slow_seqs == list(range(1, total + 1))
    assert server.status()["slow_consumers_closed"] == 0


def test_slow_consumer_at_finite_speed_is_told_and_closed_with_1013(tmp_path, serve, connect):
    server = serve(write_capture(tmp_path / "c.jsonl", 4000), speed=200.0, queue=2000,
                   loop=True)
    slow = connect(server, sockopt=((socket.SOL_SOCKET, socket.SO_RCVBUF, 4096),))
    fast = connect(server)
    for channel in CHANNEL_CYCLE:
        slow.subscribe(channel)  # and never reads until it is closed
    fast.subscribe("monitoring_events")
    # The stalled client fills the kernel's buffers (up to a few MB), then its queue.
    while server.status()["slow_consumers_closed"] == 0:
        fast.data(500)
    errors = []
    while True:
        frame = slow.ws.recv_frame()
        if frame.opcode == 8:  # close
            break
        if b'"error"' in frame.data:
            errors.append(frame.data)
    assert int.from_bytes(frame.data[:2], "big") == 1013
    assert len(errors) == 1
    assert b"slow_consumer" in errors[0]
    assert server.status()["slow_consumers_closed"] == 1
    fast.data(100)  # the others go on


def test_slow_consumer_that_never_reads_is_cut_after_the_close_timeout(
    tmp_path, serve, connect
):
    server = serve(write_capture(tmp_path / "c.jsonl", 4000), speed=200.0, queue=2000,
                   loop=True)
    stalled = connect(server, sockopt=((socket.SOL_SOCKET, socket.SO_RCVBUF, 4096),))
    for channel in CHANNEL_CYCLE:
        stalled.subscribe(channel)
    fast = connect(server)
    fast.subscribe("monitoring_events")
    while server.status()["slow_consumers_closed"] == 0:
        fast.data(500)

    async def open_connections() -> int:  # sockets the server still holds, closing ones too
        runner = server.server._runner
        return len(runner.server.connections) if runner and runner.server else 0

    deadline = time.monotonic() + 30  # CLOSE_TIMEOUT (5 s) after its close frame, it is cut
    while server.call(open_connections()) > 1:
        assert time.monotonic() < deadline, "the stalled client still holds a connection"
        fast.data(100)


def test_each_message_is_encoded_once_for_every_client(tmp_path, serve, connect):
    server = serve(write_capture(tmp_path / "c.jsonl", 200), speed=MAX, wait_for=4)
    clients = [connect(server) for _ in range(3)]
    for client in clients:
        subscribe_all(client)
    start_clock(server, connect)
    frames = [[client.ws.recv() for _ in range(200)] for client in clients]
    assert frames[0] == frames[1] == frames[2]

    async def shared() -> bool:
        ring = server.server.hub.ring
        first, _ = ring.window(0, 200)
        again, _ = ring.window(0, 200)
        return all(a is b for a, b in zip(first, again, strict=True))

    assert server.call(shared())
    assert server.status()["messages_published"] == 200
