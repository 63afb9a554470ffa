"""Refresher: throttled, change-driven ticks on a scheduler, driven here by a fake clock.

``FakeClock`` (used by the other widget tests too) is a scheduler whose time only moves when a
test calls ``advance``: ticks run in due order, so throttling is checked without wall-clock time.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

import pytest

from openagi_nb.widgets.refresh import Refresher, running_loop


class FakeHandle:
    def __init__(self, clock: FakeClock, due: float, callback: Callable[[], object]) -> None:
        self.clock, self.due, self.callback = clock, due, callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeClock:
    """A scheduler for tests: ``call_later`` queues, ``advance(s)`` runs what falls due."""

    def __init__(self) -> None:
        self.now = 0.0
        self.queue: list[FakeHandle] = []

    def call_later(self, delay: float, callback: Callable[[], object], /) -> FakeHandle:
        handle = FakeHandle(self, self.now + delay, callback)
        self.queue.append(handle)
        return handle

    def time(self) -> float:
        return self.now

    @property
    def pending(self) -> int:
        return sum(not h.cancelled for h in self.queue)

    def advance(self, seconds: float) -> None:
        end = self.now + seconds
        while True:
            live = [h for h in self.queue if not h.cancelled and h.due <= end]
            if not live:
                break
            handle = min(live, key=lambda h: h.due)
            self.queue.remove(handle)
            self.now = handle.due
            handle.callback()
        self.now = end
        self.queue = [h for h in self.queue if not h.cancelled]


class Data:
    """A version counter standing in for a LiveFrame, and a list of what was rendered."""

    def __init__(self) -> None:
        self.version = 0
        self.rendered: list[int] = []

    def render(self) -> None:
        self.rendered.append(self.version)


def refresher(data: Data, clock: FakeClock, **options: object) -> Refresher:
    return Refresher(0.5, lambda: data.version, data.render, scheduler=clock,
                     **options).start()  # type: ignore[arg-type]


def test_start_renders_once_and_schedules_a_tick():
    data, clock = Data(), FakeClock()
    refresher(data, clock)
    assert data.rendered == [0]
    assert clock.pending == 1


def test_no_render_while_the_version_is_unchanged():
    data, clock = Data(), FakeClock()
    r = refresher(data, clock)
    clock.advance(10)
    assert data.rendered == [0]
    assert r.renders == 1


def test_at_most_one_render_per_interval_however_often_data_changes():
    data, clock = Data(), FakeClock()
    refresher(data, clock)
    for _ in range(40):  # a change every 0.05 s for 2 s
        data.version += 1
        clock.advance(0.05)
    assert len(data.rendered) == 1 + 4
    assert data.rendered[-1] == 40


def test_pause_freezes_and_resume_catches_up_at_the_next_tick():
    data, clock = Data(), FakeClock()
    r = refresher(data, clock)
    r.pause()
    data.version = 7
    clock.advance(3)
    assert data.rendered == [0]
    r.resume()
    assert data.rendered == [0]
    clock.advance(0.5)
    assert data.rendered == [0, 7]


def test_invalidate_renders_at_the_next_tick_without_new_data():
    data, clock = Data(), FakeClock()
    r = refresher(data, clock)
    r.invalidate()
    clock.advance(0.5)
    assert data.rendered == [0, 0]


def test_close_cancels_the_tick_and_nothing_renders_after():
    data, clock = Data(), FakeClock()
    r = refresher(data, clock)
    closed: list[bool] = []
    r.on_close(lambda: closed.append(True))
    r.close()
    r.close()
    data.version = 3
    clock.advance(5)
    assert data.rendered == [0]
    assert clock.pending == 0
    assert closed == [True]
    assert not r.scheduled


def test_an_ended_source_gets_one_last_render_then_the_ticks_stop():
    data, clock = Data(), FakeClock()
    ended = {"now": False}
    r = refresher(data, clock, stopped=lambda: ended["now"])
    data.version, ended["now"] = 5, True
    clock.advance(0.5)
    assert data.rendered == [0, 5]
    assert r.closed
    assert clock.pending == 0


def test_an_ended_source_renders_its_last_state_even_when_paused():
    data, clock = Data(), FakeClock()
    ended = {"now": False}
    r = refresher(data, clock, stopped=lambda: ended["now"])
    r.pause()
    data.version, ended["now"] = 2, True
    clock.advance(0.5)
    assert data.rendered == [0, 2]


def test_every_tick_runs_while_paused():
    data, clock = Data(), FakeClock()
    ticks: list[float] = []
    r = refresher(data, clock, every_tick=lambda: ticks.append(clock.now))
    r.pause()
    clock.advance(1.5)
    assert ticks == [0.5, 1.0, 1.5]


def test_a_failing_render_is_logged_and_the_ticks_go_on(caplog):
    data, clock = Data(), FakeClock()
    calls: list[int] = []

    def render() -> None:
        calls.append(data.version)
        raise RuntimeError("boom")

    r = Refresher(0.5, lambda: data.version, render, scheduler=clock).start()
    data.version = 1
    with caplog.at_level(logging.ERROR, logger="openagi_nb.widgets"):
        clock.advance(0.5)
    assert calls == [0, 1]
    assert isinstance(r.last_error, RuntimeError)
    assert "live view refresh failed" in caplog.text
    assert r.scheduled


def test_a_slow_render_spaces_the_next_ticks_to_twice_its_duration():
    data, clock = Data(), FakeClock()
    took = {"s": 0.0}

    def render() -> None:
        data.render()
        took["s"] += 1.0  # each render takes a second of the fake timer

    r = Refresher(0.5, lambda: data.version, render, scheduler=clock,
                  timer=lambda: took["s"]).start()
    assert [h.due for h in clock.queue] == [2.0]
    clock.advance(2.0)  # nothing new: the pace returns to the interval
    assert [h.due for h in clock.queue] == [2.5]
    assert r.renders == 1


@pytest.mark.parametrize("interval", [0, -1, float("nan")])
def test_interval_must_be_positive(interval):
    with pytest.raises(ValueError, match="refresh interval"):
        Refresher(interval, lambda: 0, lambda: None, scheduler=FakeClock())


def test_without_a_running_loop_nothing_is_scheduled_and_tick_works_by_hand():
    data = Data()
    assert running_loop() is None
    r = Refresher(0.5, lambda: data.version, data.render).start()
    assert not r.scheduled
    data.version = 1
    r.tick()
    assert data.rendered == [0, 1]


def test_on_a_running_asyncio_loop_ticks_run_on_the_loop_thread():
    data = Data()
    seen: list[threading.Thread] = []

    def render() -> None:
        seen.append(threading.current_thread())
        data.render()

    async def main() -> Refresher:
        r = Refresher(0.01, lambda: data.version, render).start()
        data.version = 1
        for _ in range(500):  # bounded: at most 5 s of 0.01 s sleeps
            if len(data.rendered) >= 2:
                break
            await asyncio.sleep(0.01)
        r.close()
        return r

    r = asyncio.run(main())
    assert data.rendered[:2] == [0, 1]
    assert set(seen) == {threading.current_thread()}
    assert r.closed
