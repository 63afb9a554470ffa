"""What each client is sent: its channels only, in the published format plus ``seq``, acks in order,
and resume (``since``): resend then live, no duplicate, no hole, even through cut connections;
the bytes the server holds for a slow client stay under ``queue_bytes``."""

from __future__ import annotations

import socket
import time

import websocket

from .conftest import CHANNEL_CYCLE, DATA_TYPES, WsClient, write_capture

SMALL_RCVBUF = ((socket.SOL_SOCKET, socket.SO_RCVBUF, 4096),)
QUEUE_BYTES = 64 * 1024

CHANNEL_OF_TYPE = {c[:-1]: c for c in CHANNEL_CYCLE}


def channel_of_seq(seq: int) -> str:
    """In the test captures (played once, from seq 1), the channel cycles with the message."""
    return CHANNEL_CYCLE[(seq - 1) % 4]


def test_client_gets_only_the_channels_it_subscribed_to(tmp_path, serve, connect):
    server = serve(write_capture(tmp_path / "c.jsonl", 400), speed=float("inf"), wait_for=1)
    client = connect(server)
    client.subscribe("security_events")
    ack, _ = client.reply("subscribed")
    clock = ack.pop("clock")
    assert ack == {"type": "subscribed", "channel": "security_events", "seq": 0}
    assert clock["rate"] is None  # held for --wait-for: unknown until it runs
    messages = client.data(100)
    assert {m["type"] for m in messages} == {"security_event"}
    assert [m["seq"] for m in messages] == list(range(3, 401, 4))


def test_data_messages_have_the_spec_format_plus_seq_numbered_from_one(
    tmp_path, serve, connect
):
    server = serve(write_capture(tmp_path / "c.jsonl", 400), speed=float("inf"), wait_for=2)
    client = connect(server)
    for channel in CHANNEL_CYCLE:
        client.subscribe(channel)
        client.reply("subscribed")
    connect(server).subscribe("network_events")  # the second subscriber starts the clock
    messages = client.data(400)
    assert [m["seq"] for m in messages] == list(range(1, 401))
    for m in messages:
        assert list(m) == ["type", "event", "data", "timestamp", "seq"]
        assert CHANNEL_OF_TYPE[m["type"]] == channel_of_seq(m["seq"])


def test_nothing_of_a_channel_follows_its_unsubscribed_ack(tmp_path, serve, connect):
    server = serve(write_capture(tmp_path / "c.jsonl", 800), speed=20.0, loop=True)
    client = connect(server)
    client.subscribe("network_events")
    client.subscribe("monitoring_events")
    client.data(10)
    client.send({"type": "unsubscribe", "channel": "network_events"})
    ack, _ = client.reply("unsubscribed")
    assert ack == {"type": "unsubscribed", "channel": "network_events"}
    assert {m["type"] for m in client.data(40)} == {"monitoring_event"}


def test_subscribing_twice_sends_each_message_once(tmp_path, serve, connect):
    server = serve(write_capture(tmp_path / "c.jsonl", 400), speed=float("inf"), wait_for=1)
    client = connect(server)
    client.subscribe("network_events")
    client.subscribe("network_events")
    seqs = [m["seq"] for m in client.data(100)]
    assert seqs == list(range(1, 401, 4))


def test_subscribe_since_resends_the_retained_messages_of_that_channel(tmp_path, serve, connect):
    server = serve(write_capture(tmp_path / "c.jsonl", 400), speed=float("inf"), wait_for=1)
    first = connect(server)
    first.subscribe("network_events")
    first.data(100)  # the whole capture has been published
    late = connect(server)
    late.subscribe("security_events", since=150)
    _ack, _ = late.reply("subscribed")
    expected = list(range(151, 401, 4))  # security_events are seq 3, 7, 11...
    assert [m["seq"] for m in late.data(len(expected))] == expected
    late.send({"type": "ping"})
    _, between = late.reply("pong")
    assert not [m for m in between if m.get("type") in DATA_TYPES]  # no duplicate after


def test_resume_continues_live_with_no_duplicate_and_no_hole(tmp_path, serve, connect):
    server = serve(write_capture(tmp_path / "c.jsonl", 800), speed=20.0, loop=True)
    client = connect(server)
    for channel in CHANNEL_CYCLE:
        client.subscribe(channel)
    last = client.data(50)[-1]["seq"]
    client.close()
    again = connect(server)
    for channel in CHANNEL_CYCLE:
        again.subscribe(channel, since=last)
    messages = again.data(300)
    seqs = [m["seq"] for m in messages]
    # Each channel comes in seq order; the channels of separate subscribes may interleave.
    for kind in {m["type"] for m in messages}:
        mine = [m["seq"] for m in messages if m["type"] == kind]
        assert mine == sorted(mine)
    assert sorted(seqs)[:250] == list(range(last + 1, last + 251))
    assert len(set(seqs)) == len(seqs)


def test_history_truncated_is_said_before_resending_what_is_left(tmp_path, serve, connect):
    server = serve(write_capture(tmp_path / "c.jsonl", 2400), speed=float("inf"), wait_for=1,
                   history=10, queue=10)
    first = connect(server)
    first.subscribe("monitoring_events")
    assert first.data(600)[-1]["seq"] == 2400
    late = connect(server)
    late.subscribe("network_events", since=0)
    error, before = late.reply("error")
    [ack] = before
    assert ack == {"type": "subscribed", "channel": "network_events", "seq": 2400,
                   "clock": ack["clock"]}
    assert error["data"]["code"] == "history_truncated"
    status = server.status()
    retained_from = status["messages_published"] - 10 - 1024 + 1  # history + one publish chunk
    resent = [m["seq"] for m in late.data(len(range(retained_from, 2401)) // 4)]
    assert resent[0] >= retained_from
    assert resent == list(range(resent[0], 2401, 4))


def read_resuming(url: str, total: int) -> tuple[list[int], int]:
    """A reconnecting client: subscribe to every channel with ``since`` its last ``seq`` of that
    channel, until ``total`` messages arrived. Returns the seqs received and the reconnects."""
    last = dict.fromkeys(CHANNEL_CYCLE, 0)
    received: list[int] = []
    reconnects = -1
    while len(received) < total:
        reconnects += 1
        assert reconnects < 200, "too many reconnects"
        client = None
        try:
            client = WsClient(url, timeout=10.0)
            for channel in CHANNEL_CYCLE:
                client.subscribe(channel, since=last[channel])
            while len(received) < total:
                message = client.recv()
                if message.get("type") in DATA_TYPES:
                    channel = CHANNEL_OF_TYPE[message["type"]]
                    assert message["seq"] > last[channel], "duplicate or out of order"
                    last[channel] = message["seq"]
                    received.append(message["seq"])
        except (websocket.WebSocketException, OSError):
            continue
        finally:
            if client is not None:
                client.close()
    return received, reconnects


def test_resume_through_cut_connections_loses_and_duplicates_nothing(
    tmp_path, serve, cutting_proxy
):
    total = 3000
    server = serve(write_capture(tmp_path / "c.jsonl", total), speed=50.0)
    proxy = cutting_proxy(server.port, cut_every=40_000)
    url = f"ws://127.0.0.1:{proxy.port}/api/v1/ws?token={server.token('resumer')}"
    received, reconnects = read_resuming(url, total)
    assert sorted(received) == list(range(1, total + 1))
    assert len(received) == total
    assert proxy.cuts >= 5
    assert reconnects >= 5


def test_resume_at_max_speed_through_cut_connections(tmp_path, serve, cutting_proxy):
    total = 3000
    server = serve(write_capture(tmp_path / "c.jsonl", total), speed=float("inf"))
    proxy = cutting_proxy(server.port, cut_every=60_000)
    url = f"ws://127.0.0.1:{proxy.port}/api/v1/ws?token={server.token('resumer')}"
    received, reconnects = read_resuming(url, total)  # each channel in order (asserted there)
    assert sorted(received) == list(range(1, total + 1))
    assert len(received) == total
    assert proxy.cuts >= 5
    assert reconnects >= 5


def stalled_client(server, connect):
    """A client with a small receive buffer, subscribed to every channel, that reads nothing."""
    client = connect(server, sockopt=SMALL_RCVBUF)
    for channel in CHANNEL_CYCLE:
        client.subscribe(channel)
    return client


def wait_until(condition, what: str, seconds: float = 30.0, poll: float = 0.05) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(poll)


def test_stalled_client_at_max_speed_is_held_to_queue_bytes_and_holds_the_clock(
    tmp_path, serve, connect
):
    server = serve(write_capture(tmp_path / "c.jsonl", 4000), speed=float("inf"), loop=True,
                   queue=2000, queue_bytes=QUEUE_BYTES, wait_for=1)
    client = stalled_client(server, connect)

    async def clock_waits() -> bool:
        return server.server.hub._blocked

    wait_until(lambda: server.call(clock_waits()), "the clock never waited for the client")
    status = server.status()
    # the transport filled past its high-water mark (a sixteenth), and no further than the bound
    assert QUEUE_BYTES // 16 < status["queued_bytes_peak"] <= QUEUE_BYTES
    assert status["queue_bytes"] == QUEUE_BYTES
    seqs = [m["seq"] for m in client.data(6000)]  # now read, slowly: all of it, in order
    assert seqs == list(range(1, 6001))
    assert server.status()["queued_bytes_peak"] <= QUEUE_BYTES
    assert server.status()["slow_consumers_closed"] == 0


def test_stalled_client_at_finite_speed_is_held_to_queue_bytes_then_closed_1013(
    tmp_path, serve, connect
):
    server = serve(write_capture(tmp_path / "c.jsonl", 4000), speed=200.0, loop=True,
                   queue=2000, queue_bytes=QUEUE_BYTES)
    client = stalled_client(server, connect)
    wait_until(lambda: server.status()["slow_consumers_closed"] == 1, "never closed")
    assert QUEUE_BYTES // 16 < server.status()["queued_bytes_peak"] <= QUEUE_BYTES
    error, _ = client.reply("error")
    assert error["data"]["code"] == "slow_consumer"
    assert "2000 messages behind" in error["data"]["message"]
    assert client.close_status() == 1013


def test_client_that_sends_but_does_not_read_is_closed_1013_once_past_queue_bytes(
    tmp_path, serve, connect
):
    server = serve(write_capture(tmp_path / "c.jsonl", 10), queue_bytes=QUEUE_BYTES,
                   control_rate=1000.0, control_burst=1000)
    client = connect(server, sockopt=SMALL_RCVBUF)
    echoed = '{"type": "' + "x" * 16_000 + '"}'  # its unknown_type error quotes the type

    async def answered() -> int:  # frames refused so far; -1 once the connection is closed
        hub = server.server.hub
        if hub.slow_consumers:
            return -1
        return sum(c.refused for c in server.server.connections._open)

    for sent in range(1, 1000):  # the kernel's buffers take a few MB first
        client.send(echoed)
        # One frame at a time: a frame still unread when the server closes makes its kernel
        # reset the connection, and the client would lose what it had not read yet.
        wait_until(lambda n=sent: server.call(answered()) in (-1, n), "frame not answered",
                   10, poll=0.001)
        if server.call(answered()) == -1:
            break
    status = server.status()
    assert status["slow_consumers_closed"] == 1
    # over by the reply that crossed it, and the slow_consumer error, at most
    assert QUEUE_BYTES < status["queued_bytes_peak"] <= QUEUE_BYTES + 16_100 + 200
    error, before = client.recv_until(lambda m: m["data"]["code"] != "unknown_type")
    assert error["data"]["code"] == "slow_consumer"
    assert f"more than {QUEUE_BYTES} bytes" in error["data"]["message"]
    assert len(before) > 100
    assert client.close_status() == 1013


def test_smallest_queue_bytes_cuts_every_batch_and_loses_nothing(tmp_path, serve, connect):
    total = 4000
    server = serve(write_capture(tmp_path / "c.jsonl", total), speed=float("inf"), wait_for=1,
                   queue_bytes=4096)  # about a dozen messages per write
    client = connect(server)
    client.subscribe("network_events")
    first = [m["seq"] for m in client.data(500)]
    client.subscribe("security_events", since=0)  # a resend, cut too, then both live
    rest = [m["seq"] for m in client.data(total // 2 - 500)]
    seqs = first + rest
    assert [s for s in seqs if s % 4 == 1] == list(range(1, total + 1, 4))
    assert [s for s in seqs if s % 4 == 3] == list(range(3, total + 1, 4))
    assert server.status()["queued_bytes_peak"] <= 4096
