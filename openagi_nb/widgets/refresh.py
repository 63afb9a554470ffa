"""When a live view redraws: :class:`Refresher`, a throttled tick on the kernel's event loop.

The stream's thread only appends rows to a :class:`~openagi_nb.stream.LiveFrame`; it never
touches a widget (ipywidgets are not thread-safe, and a redraw per event would flood the browser).
Instead every live view owns a :class:`Refresher` that wakes every ``interval`` seconds on the
event loop the notebook's kernel runs (``loop.call_later``) and redraws only when the data
changed since the last redraw (the frame's ``version``) or the view was invalidated (a zoom, a
control). The first redraw happens when the view is made; after that at most one per interval.

Pausing freezes the picture while rows keep arriving; resuming redraws at the next tick. Closing
cancels the pending tick; a view whose source stopped redraws once more and closes itself.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Hashable
from typing import Final, Protocol

__all__ = ["Handle", "Refresher", "Scheduler", "running_loop"]

log = logging.getLogger("openagi_nb.widgets")

BACKOFF: Final = 2.0
"""After a render of d seconds the next tick waits at least BACKOFF * d: a view whose redraw
is slow (a 1M-row window) takes at most a third of the kernel's time, whatever ``interval``."""


class Handle(Protocol):
    """A pending call that can be cancelled (``asyncio.TimerHandle``)."""

    def cancel(self) -> None: ...


class Scheduler(Protocol):
    """What runs the ticks and keeps their time: an asyncio event loop, or a fake clock in
    tests."""

    def call_later(self, delay: float, callback: Callable[[], object], /) -> Handle: ...

    def time(self) -> float: ...


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop running in this thread (the kernel's, inside Jupyter), else None."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class Refresher:
    """Calls ``render`` at most every ``interval`` seconds, when ``version()`` changed.

    Args:
        interval: seconds between ticks (> 0).
        version: a cheap token of the data's state (``LiveFrame.version``); a tick whose token
            equals the last rendered one does nothing.
        render: redraws the view; an exception in it is logged and kept in ``last_error``, and
            the ticks go on.
        scheduler: runs the ticks (default: the running event loop; without one, no ticks:
            call :meth:`tick` yourself).
        stopped: whether the source has ended (the stream was stopped): checked every tick; when
            true, one last render, then :meth:`close`.
        every_tick: called on every tick, paused or not (a status line).
        timer: measures how long a render took (seconds); by default the scheduler's clock, so
            that a fake clock in tests is not mixed with the real time a render takes.
    """

    def __init__(
        self,
        interval: float,
        version: Callable[[], Hashable],
        render: Callable[[], None],
        *,
        scheduler: Scheduler | None = None,
        stopped: Callable[[], bool] = lambda: False,
        every_tick: Callable[[], None] | None = None,
        timer: Callable[[], float] | None = None,
    ) -> None:
        if not interval > 0:
            raise ValueError(f"refresh interval must be > 0 seconds, got {interval!r}")
        self.interval = float(interval)
        self._version, self._render, self._stopped = version, render, stopped
        self._delay = self.interval
        self._scheduler = scheduler if scheduler is not None else running_loop()
        clock = self._scheduler.time if self._scheduler is not None else time.perf_counter
        self._every_tick, self._timer = every_tick, timer or clock
        self._handle: Handle | None = None
        self._seen: Hashable = object()
        self._dirty = True
        self.paused = False
        self.closed = False
        self.renders = 0
        """Renders done (for tests and the curious)."""
        self.last_error: BaseException | None = None
        self._on_close: list[Callable[[], None]] = []

    @property
    def scheduled(self) -> bool:
        """Whether a tick is pending (False once closed, or without a scheduler)."""
        return self._handle is not None

    def start(self) -> Refresher:
        """Render now and schedule the ticks."""
        self._run()
        self._schedule()
        return self

    def tick(self) -> None:
        """One tick: render if something changed (the scheduler calls it; callable by hand)."""
        self._handle = None
        if self.closed:
            return
        ended = self._stopped()
        self._call(self._every_tick)
        if not self.paused or ended:
            self._run()
        if ended:
            self.close()
        else:
            self._schedule()

    def invalidate(self) -> None:
        """Make the next tick render even if the data did not change (the view changed)."""
        self._dirty = True

    def pause(self) -> None:
        """Stop rendering (the data keeps arriving in the frame)."""
        self.paused = True

    def resume(self) -> None:
        """Render again from the next tick on, catching up with everything that arrived."""
        self.paused = False

    def on_close(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once when the refresher closes."""
        self._on_close.append(callback)

    def close(self) -> None:
        """Cancel the pending tick; no render happens after this. Idempotent."""
        if self.closed:
            return
        self.closed = True
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        callbacks, self._on_close = self._on_close, []
        for callback in callbacks:
            self._call(callback)

    def _schedule(self) -> None:
        if self._scheduler is not None and not self.closed:
            self._handle = self._scheduler.call_later(self._delay, self.tick)

    def _run(self) -> None:
        version = self._version()
        if version == self._seen and not self._dirty:
            self._delay = self.interval
            return
        self._seen, self._dirty = version, False
        self.renders += 1
        began = self._timer()
        self._call(self._render)
        self._delay = max(self.interval, BACKOFF * (self._timer() - began))

    def _call(self, fn: Callable[[], None] | None) -> None:
        if fn is None:
            return
        try:
            fn()
        except Exception as exc:  # a view must not kill the kernel loop's ticks
            self.last_error = exc
            log.exception("live view refresh failed")
