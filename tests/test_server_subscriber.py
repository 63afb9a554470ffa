"""What each client is sent: its channels only, in the published format plus ``seq``, acks in order,
and resume (``since``): resend then live, no duplicate, no hole, even through cut connections."""

from __future__ import annotations

import websocket

from .conftest import CHANNEL_CYCLE, DATA_TYPES, WsClient, write_capture

CHANNEL_OF_TYPE = {c[:-1]: c for c in CHANNEL_CYCLE}


def channel_of_seq(seq: int) -> str:
    """In the test captures (played once, from seq 1), the channel cycles with the message."""
    return CHANNEL_CYCLE[(seq - 1) % 4]


def test_client_gets_only_the_channels_it_subscribed_to(tmp_path, serve, connect):
    server = serve(write_capture(tmp_path / "c.jsonl", 400), speed=float("inf"), wait_for=1)
    client = connect(server)
    client.subscribe("security_events")
    ack, _ = client.reply("subscribed")
    assert ack == {"type": "subscribed", "channel": "security_events", "seq": 0}
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
    assert before == [{"type": "subscribed", "channel": "network_events", "seq": 2400}]
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
