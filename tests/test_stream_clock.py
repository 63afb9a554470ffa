"""stream/_clock.py and the lag it measures: the server's clock as last stated, estimated at any
later instant; the session refreshing a clock of unknown rate; and the lag of a real stream
against the real replay server at speeds 1, 20 and max.

Against the real server the lag is sampled many times and judged by its median, with bounds of
about one second of wall time (times the speed): a loaded two-core machine can stall a thread
for a moment, which shows in a sample or two, not in the median. The check that makes "small"
mean something is the signed one (``behind``): the estimated clock must not be far *behind*
the events, which is what "now minus the newest event" on the wall clock gave at speed 20.
"""

from __future__ import annotations

import math
import statistics
import threading
import time
from datetime import timedelta
from typing import Any

import orjson
import pytest

from openagi_nb.model import Channel, Clock, clock_time
from openagi_nb.stream import EventStream
from openagi_nb.stream._clock import REFRESH, ServerClock

from .conftest import write_capture
from .test_session import Wire, metric, text

NS = 1_000_000_000
T = 1_767_600_000 * NS  # 2026-01-05T08:00:00Z
M = Channel.MONITORING


# --- the estimate, no I/O -----------------------------------------------------------------------


def test_with_a_known_rate_the_clock_runs_on_from_when_it_was_stated():
    clock = ServerClock()
    clock.state(Clock(T, 20.0), 10.0)
    assert clock.estimate(12.5, wall_ns=0) == T + 50 * NS
    assert clock.lag(T + 40 * NS, 12.5, wall_ns=0) == timedelta(seconds=10)


def test_with_an_unknown_rate_the_clock_stands_at_what_was_stated():
    clock = ServerClock()
    clock.state(Clock(T, None), 10.0)
    assert clock.needs_refresh
    assert clock.estimate(99.0, wall_ns=0) == T


def test_with_an_unknown_rate_the_backlog_measured_when_stated_stands():
    """--speed max: the server moves on as fast as we read, so the events we receive after
    its statement do not make us less behind it; the next statement measures again."""
    clock = ServerClock()
    clock.state(Clock(T, None), 10.0, newest_ns=T - 15 * NS)
    assert clock.lag(T - 15 * NS, 10.5, wall_ns=0) == timedelta(seconds=15)
    assert clock.lag(T + 60 * NS, 11.0, wall_ns=0) == timedelta(seconds=15)
    clock.state(Clock(T + 90 * NS, None), 11.0, newest_ns=T + 88 * NS)
    assert clock.lag(T + 88 * NS, 11.0, wall_ns=0) == timedelta(seconds=2)
    clock.state(Clock(T, None), 12.0)  # before any event: measured on the events
    assert clock.lag(T - 4 * NS, 12.0, wall_ns=0) == timedelta(seconds=4)


def test_a_server_that_states_no_clock_is_on_the_wall_clock():
    clock = ServerClock()
    assert clock.estimate(5.0, wall_ns=T) == T
    assert clock.lag(T - 3 * NS, 5.0, wall_ns=T) == timedelta(seconds=3)
    assert not clock.needs_refresh


def test_the_lag_is_never_negative_and_none_before_any_event():
    clock = ServerClock()
    clock.state(Clock(T, 1.0), 0.0)
    assert clock.lag(T + 5 * NS, 1.0, wall_ns=0) == timedelta(0)  # events ahead of the estimate
    assert clock.lag(None, 1.0, wall_ns=0) is None


def test_a_finished_replay_stands_still():
    clock = ServerClock()
    clock.state(Clock(T, 0.0), 0.0)
    assert clock.estimate(1_000.0, wall_ns=0) == T
    assert not clock.needs_refresh


# --- the session: clocks from acks and pongs, refreshed by pings ------------------------------


def ack(clock: dict[str, Any] | None, channel: Channel = M, seq: int = 0) -> bytes:
    message = {"type": "subscribed", "channel": channel.value, "seq": seq}
    if clock is not None:
        message["clock"] = clock
    return text(message)


def pong(clock: dict[str, Any] | None) -> bytes:
    return text({"type": "pong", **({} if clock is None else {"clock": clock})})


def stated(ns: int, rate: float | None) -> dict[str, Any]:
    return {"time": clock_time(ns), "rate": rate}


def test_the_ack_states_the_clock_the_lag_is_measured_on():
    wire = Wire((M,))
    wire.connect(now=0.0)
    wire.feed(ack(stated(T, 20.0)), now=1.0)
    wire.feed(text(metric(1, seconds=0.0)), now=1.0)  # metric() is at T + seconds
    assert wire.session.lag(1.5, wall_ns=0) == timedelta(seconds=10)


def test_an_unknown_rate_is_refreshed_by_a_ping_about_once_a_second():
    wire = Wire((M,), ping_interval=20.0)
    wire.connect(now=0.0)
    wire.feed(ack(stated(T, None)), now=0.1)
    wire.sent()
    wire.session.tick(REFRESH - 0.1)
    assert wire.sent() == []
    wire.session.tick(REFRESH)
    assert wire.sent() == [{"type": "ping"}]
    assert wire.feed(pong(stated(T + 30 * NS, None)), now=1.1) == []  # ours: not delivered
    wire.feed(text(metric(1, seconds=12.0)), now=1.2)
    assert wire.session.lag(1.5, wall_ns=0) == timedelta(seconds=18)
    wire.session.tick(2 * REFRESH)
    assert wire.sent() == [{"type": "ping"}]


def test_a_known_rate_is_not_refreshed():
    wire = Wire((M,), ping_interval=20.0)
    wire.connect(now=0.0)
    wire.feed(ack(stated(T, 20.0)), now=0.1)
    wire.sent()
    for step in range(1, 40):
        wire.feed(text(metric(step, seconds=step)), now=step * 0.5)
        wire.session.tick(step * 0.5)
    assert wire.sent() == []


def test_the_pong_of_a_quiet_connections_ping_is_delivered_as_before_and_states_the_clock():
    wire = Wire((M,), ping_interval=20.0)
    wire.connect(now=0.0)
    wire.session.tick(20.0)
    assert wire.sent() == [{"type": "ping"}]
    [reply] = wire.feed(pong(stated(T, 1.0)), now=20.1)
    assert reply.kind == "pong"
    assert wire.session.clock.stated == Clock(T, 1.0)


def test_a_reconnection_keeps_the_clock_until_the_new_ack_replaces_it():
    wire = Wire((M,))
    wire.connect(now=0.0)
    wire.feed(ack(stated(T, 20.0)), now=0.0)
    wire.feed(text(metric(1, seconds=0.0)), now=0.0)
    wire.session.connection_lost()
    assert wire.session.lag(2.0, wall_ns=0) == timedelta(seconds=40)  # falling behind, cut off
    wire.connect(now=3.0)
    wire.feed(ack(stated(T + 100 * NS, 1.0), seq=1), now=3.0)  # another server, or restarted
    assert wire.session.lag(4.0, wall_ns=0) == timedelta(seconds=101)
    wire.session.connection_lost()
    wire.connect(now=5.0)
    wire.feed(ack(None, seq=1), now=5.0)  # one that states none: the wall clock
    assert wire.session.lag(5.0, wall_ns=T + 7 * NS) == timedelta(seconds=7)


def test_a_bad_clock_rejects_the_reply_and_keeps_the_clock():
    wire = Wire((M,))
    wire.connect(now=0.0)
    wire.feed(ack(stated(T, 1.0)), now=0.0)
    [rejected] = wire.feed(pong({"time": "soon", "rate": 1.0}), now=1.0)
    assert "clock.time" in rejected.reason
    assert wire.session.clock.stated == Clock(T, 1.0)


# --- a real stream against the real server ----------------------------------------------------

SAMPLES = 40
EVERY = 0.05  # seconds between samples: 2 s of stream


def stream_to(server: Any, **options: Any) -> EventStream:
    return EventStream(server.ws_url, token=server.token("lag"), **options)


def behind(stream: EventStream) -> float:
    """Seconds (event time) the newest event is behind the estimated clock, signed: what the
    lag is before it is clamped at zero."""
    session = stream._loop._session
    newest = session.resume.newest_ns()
    assert newest is not None
    return (session.clock.estimate(time.monotonic(), time.time_ns()) - newest) / NS


def sampled(stream: EventStream) -> tuple[list[float], list[float]]:
    lags, signed = [], []
    for _ in range(SAMPLES):
        lag = stream.stats.lag
        assert lag is not None
        lags.append(lag.total_seconds())
        signed.append(behind(stream))
        time.sleep(EVERY)
    return lags, signed


@pytest.mark.parametrize("speed", [1.0, 20.0, math.inf], ids=["speed 1", "speed 20", "max"])
def test_the_lag_is_never_negative_and_small_while_the_stream_keeps_up(tmp_path, serve, speed):
    # 100 events/s of capture time; at max the server runs at most --queue (200 events, 2 s
    # of capture) ahead of its one client
    server = serve(write_capture(tmp_path / "c.jsonl", 800), speed=speed, loop=True, queue=200)
    with stream_to(server) as stream:
        stream.wait_for(100, timeout=10)
        time.sleep(0.5)  # past the first acks: the clocks are those of a running replay
        lags, signed = sampled(stream)
    assert min(lags) >= 0
    scale = 1.0 if math.isinf(speed) else speed  # event seconds per wall second
    if math.isinf(speed):  # the backlog the publisher keeps ahead: up to --queue, 2 s here
        assert 0 < statistics.median(lags) <= 3.0
    else:  # on the wall clock, speed 20 gave about -20 s per second run
        assert statistics.median(lags) <= 1.0 * scale
        assert statistics.median(signed) >= -0.5 * scale


def test_the_lag_grows_while_a_listener_holds_the_stream_back(tmp_path, serve):
    server = serve(write_capture(tmp_path / "c.jsonl", 800), speed=20.0, loop=True)
    holding, release = threading.Event(), threading.Event()

    def hold(message: dict[str, Any]) -> None:
        if not holding.is_set():
            holding.set()
            release.wait(10)  # the stream's thread: nothing is read meanwhile

    with stream_to(server) as stream:
        stream.wait_for(100, timeout=10)
        stream.on("security_event", hold)
        assert holding.wait(10)
        time.sleep(1.0)  # 20 s of the replay's time
        held = stream.stats.lag
        release.set()
        caught_up = stream.stats.total + 4000
        stream.wait_for(caught_up, timeout=20)
        after = statistics.median(sampled(stream)[0])
    assert held is not None
    assert held >= timedelta(seconds=10)  # 20 s less the clock's error (ack in transit)
    assert after < held.total_seconds()


def test_refreshing_the_clock_at_max_speed_leaves_recordings_and_listeners_alone(
    tmp_path, serve
):
    server = serve(write_capture(tmp_path / "c.jsonl", 400), speed=math.inf, loop=True,
                   queue=200)
    path = tmp_path / "rec.jsonl"
    pongs: list[dict[str, Any]] = []
    with stream_to(server, record_to=path, channels=["security_events"]) as stream:
        stream.on("pong", pongs.append)
        stream.wait_for(10, timeout=10)
        session = stream._loop._session
        first = session.clock.stated
        assert first is not None
        assert first.rate is None
        deadline = time.monotonic() + 10
        while session.clock.stated == first:  # a refresh came (about once a second)
            assert time.monotonic() < deadline, "the clock was not refreshed"
            time.sleep(0.05)
        assert session.clock.stated.time > first.time
    kinds = [orjson.loads(line)["type"] for line in path.read_text().splitlines()]
    assert kinds.count("subscribed") == 1
    assert "pong" not in kinds
    assert pongs == []
