"""The replay clock: when each publication is due and how its timestamps are shifted.

One clock for all clients, like a live network. Publication ``p`` is message ``p % n`` of loop
``p // n``; it is due at its capture time since the first message divided by ``speed``
(``--speed max``: at once), never sooner than ``1/rate`` after the previous one (``--rate``).
Pure: times are passed in (the event loop's monotonic clock, the wall clock for retiming).

The clock also says where it is in event time (:meth:`ReplayClock.reading`): what the server
states as its ``clock`` in acks, pongs and its status (``docs/protocol.md`` section 5.6).
"""

from __future__ import annotations

import math
from array import array

from ..model import Clock

__all__ = ["ReplayClock"]

_NS = 1_000_000_000


class ReplayClock:
    """Schedule of a replay of ``len(times)`` messages; call :meth:`start` before :meth:`due`.

    Args:
        times: each message's capture timestamp in ns, in time order.
        period: seconds from one loop's start to the next (``Replay.period``).
        speed: capture seconds per second; ``math.inf`` for ``--speed max``.
        rate: at most this many publications per second, or None.
        loop: start over at the end instead of finishing.
    """

    def __init__(
        self, times: array[int], period: int, *, speed: float, rate: float | None, loop: bool,
    ) -> None:
        self._times, self._period_ns = times, period * _NS
        self.period = period
        self._scale = 0.0 if math.isinf(speed) else 1.0 / (speed * _NS)
        self._speed = speed
        self._gap = 0.0 if rate is None else 1.0 / rate
        self.loop = loop
        self.position = 0
        self.started = False
        self._t0 = 0.0
        self._base = 0
        self._previous = -math.inf

    def start(self, now: float, wall_seconds: int | None) -> None:
        """Start the clock at monotonic time ``now``. ``wall_seconds`` (the wall clock, whole
        seconds) makes the first message's timestamps "now" (retime); None keeps them."""
        self.started = True
        self._t0 = now
        first = self._times[0] // _NS if self._times else 0
        self._base = 0 if wall_seconds is None else wall_seconds - first

    @property
    def finished(self) -> bool:
        """Whether every publication has been made (never, with ``loop``, unless empty)."""
        n = len(self._times)
        return n == 0 or (not self.loop and self.position >= n)

    @property
    def index(self) -> int:
        """The capture index of the next publication."""
        return self.position % len(self._times) if self._times else 0

    @property
    def round(self) -> int:
        """Which loop the next publication belongs to (0 for the first pass)."""
        return self.position // len(self._times) if self._times else 0

    def stamp(self, position: int) -> int:
        """The envelope timestamp (ns) that publication ``position`` carries (started clock)."""
        k, i = divmod(position, len(self._times))
        return self._times[i] + (self._base + k * self.period) * _NS

    def reading(self, now: float, wall_seconds: int | None) -> Clock | None:
        """The event time the replay has reached at monotonic ``now``, and its rate.

        ``time`` is the event time before which every event has been published: at a finite
        speed the schedule's position (the first timestamp, plus the retime offset, plus the
        elapsed time times ``speed``, seamless across loops since each adds the period) but not
        past the next publication when it is late; at ``--speed max`` the newest timestamp
        published. ``rate`` is ``speed``; None when the pace is not the schedule's
        (``--speed max``, ``--rate``) or the clock has not started (``wall_seconds``: what
        :meth:`start` would be given now, for the first timestamp it would publish); 0 once
        finished. None for an empty capture.
        """
        n = len(self._times)
        if n == 0:
            return None
        if not self.started:
            first = self._times[0]
            base = 0 if wall_seconds is None else wall_seconds - first // _NS
            return Clock(first + base * _NS, None)
        if self.finished:
            return Clock(self.stamp(self.position - 1), 0.0)
        upcoming = self.stamp(self.position)
        newest = self.stamp(self.position - 1) if self.position else upcoming
        if self._scale == 0.0:  # --speed max: what has been published
            return Clock(newest, None)
        scheduled = self.stamp(0) + round((now - self._t0) * self._speed * _NS)
        rate = self._speed if self._gap == 0.0 else None
        return Clock(max(newest, min(scheduled, upcoming)), rate)

    def offset(self) -> int:
        """Seconds to add to the next publication's timestamps."""
        return self._base + self.round * self.period

    def due(self) -> float:
        """Monotonic time at which the next publication is due (the clock must be started and
        not finished)."""
        n = len(self._times)
        k, i = divmod(self.position, n)
        relative = self._times[i] - self._times[0] + k * self._period_ns
        return max(self._t0 + relative * self._scale, self._previous + self._gap)

    def advance(self, due: float) -> None:
        """Record that the next publication, due at ``due``, was made."""
        self._previous = due
        self.position += 1

    def take(self, now: float, limit: int) -> int:
        """Advance over the publications due by ``now``, at most ``limit`` and never past the
        end of the current pass (so one :meth:`offset` holds for all); return how many.

        Call :meth:`offset` and read :attr:`index` before, to know what to publish.
        """
        n = len(self._times)
        if self.finished:
            return 0
        limit = min(limit, n - self.position % n)
        if self._scale == 0.0 and self._gap == 0.0:  # --speed max without --rate
            self._previous = self._t0
            self.position += limit
            return limit
        count = 0
        while count < limit:
            due = self.due()
            if due > now:
                break
            self.advance(due)
            count += 1
        return count
