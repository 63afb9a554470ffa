"""The replay clock: due times by speed and rate, loops, retime offsets; and the clock the
server states (``docs/protocol.md`` section 5.6), read from the clock and on the wire.

On the wire every check is an order, never a duration: an ack's clock lies between the
timestamps of the last message published before it (its ``seq``) and the next one; a pong's
is at or after every message received before it. Both hold however loaded the machine is.
"""

from __future__ import annotations

import math
import time
import urllib.request
from array import array
from itertools import pairwise
from typing import Any

import orjson
import pytest

from openagi_nb.model import parse_timestamp
from openagi_nb.server._clock import ReplayClock

from .conftest import CHANNEL_CYCLE, DATA_TYPES, WsClient, write_capture

NS = 1_000_000_000


def clock(times_s, *, speed=1.0, rate=None, loop=False, period=10):
    return ReplayClock(array("q", [int(t * NS) for t in times_s]), period, speed=speed,
                       rate=rate, loop=loop)


def publish_all(c: ReplayClock, limit: int = 100) -> list[float]:
    dues = []
    while not c.finished and len(dues) < limit:
        due = c.due()
        dues.append(due)
        c.advance(due)
    return dues


def test_due_times_follow_the_capture_scaled_by_speed():
    c = clock([100, 101, 103], speed=2.0)
    c.start(50.0, None)
    assert publish_all(c) == [50.0, 50.5, 51.5]


def test_max_speed_is_due_at_once():
    c = clock([100, 101, 103], speed=math.inf)
    c.start(50.0, None)
    assert publish_all(c) == [50.0, 50.0, 50.0]


def test_rate_spaces_publications():
    c = clock([0, 0, 0, 10], speed=math.inf, rate=4.0)
    c.start(0.0, None)
    assert publish_all(c) == [0.0, 0.25, 0.5, 0.75]


def test_rate_never_speeds_up_the_capture():
    c = clock([0, 10], rate=1000.0)
    c.start(0.0, None)
    assert publish_all(c) == [0.0, 10.0]


def test_loop_continues_with_the_period_and_shifted_timestamps():
    c = clock([0, 1], loop=True, period=5)
    c.start(0.0, 1_000)
    offsets, dues = [], []
    for _ in range(5):
        offsets.append(c.offset())
        dues.append(c.due())
        c.advance(dues[-1])
    assert dues == [0.0, 1.0, 5.0, 6.0, 10.0]
    assert offsets == [1000, 1000, 1005, 1005, 1010]
    assert c.round == 2
    assert c.index == 1
    assert not c.finished


def test_retime_offset_makes_the_first_message_now():
    c = clock([1_672_531_200.5, 1_672_531_201])
    c.start(0.0, 1_700_000_000)
    assert c.offset() == 1_700_000_000 - 1_672_531_200
    c2 = clock([5.0])
    c2.start(0.0, None)
    assert c2.offset() == 0


@pytest.mark.parametrize("loop", [True, False])
def test_empty_capture_is_finished_at_once(loop):
    c = clock([], loop=loop)
    c.start(0.0, None)
    assert c.finished


def test_take_publishes_what_is_due_and_stops_at_the_end_of_a_pass():
    c = clock([0, 1, 2, 3], loop=True, period=4)
    c.start(0.0, None)
    assert c.take(1.5, 100) == 2
    assert c.take(10.0, 100) == 2  # the rest of the first pass only
    assert (c.round, c.index) == (1, 0)
    assert c.take(10.0, 3) == 3


def test_take_at_max_speed_takes_the_limit_at_once():
    c = clock([0, 5, 9], speed=math.inf)
    c.start(0.0, None)
    assert c.take(0.0, 2) == 2
    assert c.take(0.0, 2) == 1
    assert c.finished
    assert c.take(0.0, 2) == 0


# --- where the clock is in event time: what the server states (docs/protocol.md 5.6) --------


def test_at_a_finite_speed_the_clock_reads_the_schedule_and_runs_at_the_speed():
    c = clock([100, 101, 103], speed=2.0)
    c.start(50.0, None)
    c.take(50.0, 10)
    assert c.reading(50.25, None) == (int(100.5 * NS), 2.0)  # between two publications


def test_a_late_publication_holds_the_clock_at_its_timestamp():
    c = clock([100, 101, 103], speed=2.0)
    c.start(50.0, None)
    c.take(50.0, 10)  # published 100; 101 is due at 50.5 and not published yet
    assert c.reading(51.0, None).time == 101 * NS


def test_the_clock_runs_on_seamlessly_across_loops():
    c = clock([0, 1, 2], loop=True, period=4, speed=2.0)
    c.start(0.0, 1_000)
    readings = []
    for step in range(1, 20):  # 0.25 s apart: 0.5 event seconds each, 5 loops of 4 s
        now = step * 0.25
        c.take(now, 100)
        readings.append(c.reading(now, None))
    assert [r.time for r in readings] == [(1_000 + step * 0.5) * NS for step in range(1, 20)]
    assert {r.rate for r in readings} == {2.0}
    assert c.round == 2


def test_at_max_speed_the_clock_is_the_newest_timestamp_published_rate_unknown():
    c = clock([100, 105, 109], speed=math.inf)
    c.start(0.0, None)
    assert c.reading(0.0, None) == (100 * NS, None)  # nothing yet: the first to come
    c.take(0.0, 2)
    assert c.reading(7.0, None) == (105 * NS, None)


def test_with_a_rate_cap_the_pace_is_unknown():
    c = clock([0, 0, 0, 10], rate=4.0)
    c.start(0.0, None)
    c.take(0.3, 10)
    assert c.reading(0.3, None) == (0, None)


def test_a_clock_not_started_reads_its_first_timestamp_as_it_would_be_retimed_now():
    c = clock([1_672_531_200.5, 1_672_531_201])
    assert c.reading(0.0, 1_700_000_000) == (int(1_700_000_000.5 * NS), None)
    assert c.reading(0.0, None) == (int(1_672_531_200.5 * NS), None)


def test_a_finished_replay_stands_still_at_its_last_timestamp():
    c = clock([100, 101])
    c.start(0.0, None)
    c.take(5.0, 10)
    assert c.reading(60.0, None) == (101 * NS, 0.0)


def test_an_empty_capture_states_no_clock():
    c = clock([])
    c.start(0.0, None)
    assert c.reading(0.0, None) is None


# --- on the wire ------------------------------------------------------------------------------

SPEEDS = [1.0, 20.0, math.inf]


def clock_of(message: dict[str, Any]) -> tuple[int, float | None]:
    clock = message["clock"]
    assert set(clock) == {"time", "rate"}
    assert len(clock["time"]) == len("2026-01-05T09:00:00.000000Z")
    assert clock["time"].endswith("Z")
    return parse_timestamp(clock["time"]), clock["rate"]


def replaying(tmp_path, serve, connect, speed: float, count: int = 400) -> tuple[Any, WsClient]:
    """A looping replay of ``count`` test messages at ``speed`` (``--queue 200``) and a client
    subscribed to every channel."""
    server = serve(write_capture(tmp_path / "c.jsonl", count), speed=speed, loop=True, queue=200)
    client = connect(server)
    subscribed_to_all(client)
    return server, client


def subscribed_to_all(client: WsClient) -> None:
    for channel in CHANNEL_CYCLE:
        client.subscribe(channel)


def acks_and_stamps(client: WsClient, wanted: int) -> tuple[list[dict], dict[int, int]]:
    """Subscribe again every 50 ms (each ack states the clock, and its ``seq``) until
    ``wanted`` acks came, then read on until the message after the last ack's ``seq``."""
    acks: list[dict] = []
    stamps: dict[int, int] = {}
    asked = time.monotonic()
    while len(acks) < wanted or max(stamps, default=0) <= acks[-1]["seq"]:
        message = client.recv()
        if message["type"] in DATA_TYPES:
            stamps[message["seq"]] = parse_timestamp(message["timestamp"])
        elif message["type"] == "subscribed":
            acks.append(message)
        if len(acks) >= 4 and time.monotonic() - asked >= 0.05 and len(acks) < wanted:
            client.subscribe("network_events")
            asked = time.monotonic()
    return acks, stamps


def assert_between_the_last_published_and_the_next(acks: list[dict], stamps: dict[int, int]):
    # every message after the fourth ack (the last channel's) was received
    settled = [a for a in acks if a["seq"] > acks[3]["seq"]]
    assert len(settled) >= len(acks) // 2
    for ack in settled:
        at, seq = clock_of(ack)[0], ack["seq"]
        assert stamps[seq] <= at <= stamps[seq + 1], ack


@pytest.mark.parametrize("speed", SPEEDS, ids=["speed 1", "speed 20", "speed max"])
def test_acks_state_the_clock_between_the_last_message_published_and_the_next(
    tmp_path, serve, connect, speed
):
    _, client = replaying(tmp_path, serve, connect, speed)
    acks, stamps = acks_and_stamps(client, 12)
    assert {clock_of(a)[1] for a in acks[4:]} == {None if math.isinf(speed) else speed}
    assert_between_the_last_published_and_the_next(acks, stamps)


@pytest.mark.parametrize("speed", [20.0, math.inf], ids=["speed 20", "speed max"])
def test_with_loop_the_clock_runs_on_across_the_loop_boundary(tmp_path, serve, connect, speed):
    # 100 messages, 10 ms apart: a loop is 1 s of event time, 50 ms at speed 20
    _, client = replaying(tmp_path, serve, connect, speed, count=100)
    acks, stamps = acks_and_stamps(client, 24)
    assert max(stamps) > 300  # three loops at least
    seqs = sorted(stamps)
    assert all(stamps[a] < stamps[b] for a, b in pairwise(seqs))  # timestamps go on
    assert len({a["seq"] // 100 for a in acks}) >= 3  # acks taken in three loops at least
    assert_between_the_last_published_and_the_next(acks, stamps)


@pytest.mark.parametrize("speed", SPEEDS, ids=["speed 1", "speed 20", "speed max"])
def test_a_pong_states_the_clock_at_or_after_every_message_before_it(
    tmp_path, serve, connect, speed
):
    _, client = replaying(tmp_path, serve, connect, speed)
    pongs = 0
    newest = 0
    while pongs < 5:
        client.data(20)
        client.send({"type": "ping"})
        pong, before = client.reply("pong")
        newest = max([newest, *(parse_timestamp(m["timestamp"]) for m in before
                                if m["type"] in DATA_TYPES)])
        at, rate = clock_of(pong)
        assert at >= newest
        assert rate == (None if math.isinf(speed) else speed)
        pongs += 1


@pytest.mark.parametrize("speed", SPEEDS, ids=["speed 1", "speed 20", "speed max"])
def test_the_status_states_the_clock_of_the_replay(tmp_path, serve, connect, speed):
    server, client = replaying(tmp_path, serve, connect, speed)
    stamps: dict[int, int] = {}
    for _ in range(10):  # until a status falls after the client subscribed to every channel
        replay = server.status()["replay"]  # one read: seq and clock of the same instant
        while max(stamps, default=0) <= replay["seq"]:
            stamps.update((m["seq"], parse_timestamp(m["timestamp"])) for m in client.data(20))
        if replay["seq"] in stamps:
            break
    at, rate = clock_of(replay)
    assert rate == (None if math.isinf(speed) else speed)
    assert stamps[replay["seq"]] <= at <= stamps[replay["seq"] + 1]
    with urllib.request.urlopen(server.base_url + "/api/v1/status", timeout=10) as response:
        clock_of(orjson.loads(response.read())["replay"])


def test_a_finished_replay_states_its_last_timestamp_at_rate_zero(tmp_path, serve, connect):
    server = serve(write_capture(tmp_path / "c.jsonl", 40), speed=math.inf, wait_for=1)
    client = connect(server)
    client.subscribe("monitoring_events")
    last = client.data(10)[-1]
    client.send({"type": "ping"})
    pong, _ = client.reply("pong")
    assert clock_of(pong) == (parse_timestamp(last["timestamp"]), 0.0)


def test_a_clock_held_by_wait_for_has_no_rate_yet(tmp_path, serve, connect):
    server = serve(write_capture(tmp_path / "c.jsonl", 40), speed=20.0, wait_for=2)
    client = connect(server)
    client.subscribe("monitoring_events")
    ack, _ = client.reply("subscribed")
    assert clock_of(ack)[1] is None
    assert server.status()["replay"]["clock"]["rate"] is None
