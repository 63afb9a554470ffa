"""The replay clock: due times by speed and rate, loops, retime offsets."""

from __future__ import annotations

import math
from array import array

import pytest

from openagi_nb.server._clock import ReplayClock

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
