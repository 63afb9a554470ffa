"""The server's event-time clock as the client knows it, and the stream's lag measured on it.

A replay runs on its own clock (retimed so that its first event is "now", then ``--speed``
event seconds per second, or as fast as its slowest client reads), so "now minus the newest
event" on the wall clock means nothing there. Our server states its clock (``clock`` in the
``subscribed`` ack and in ``pong``; ``docs/protocol.md`` section 5.6): :class:`ServerClock` keeps
the last one stated and the monotonic instant it arrived, and estimates the server's clock at
any later instant. A server that states none (a node of the network) is on the wall clock.

Pure: the instants are passed in, no clock is read here.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from ..model import Clock

__all__ = ["REFRESH", "ServerClock"]

REFRESH: Final = 1.0
"""Seconds between pings that refresh a clock whose rate the server does not know."""


class ServerClock:
    """The last clock a server stated (None: it states none), and when it arrived."""

    def __init__(self) -> None:
        # one attribute, read whole by stats(): the clock, when it arrived, and the newest
        # event received by then
        self._stated: tuple[Clock, float, int | None] | None = None

    @property
    def stated(self) -> Clock | None:
        """The last clock stated, None when the server states none."""
        stated = self._stated
        return None if stated is None else stated[0]

    def state(self, clock: Clock | None, now: float, newest_ns: int | None = None) -> None:
        """A reply (ack or pong) arrived at monotonic ``now`` stating ``clock``, or none, when
        the newest event received was ``newest_ns``: it replaces what was known, so a
        reconnection to another server takes that server's."""
        self._stated = None if clock is None else (clock, now, newest_ns)

    @property
    def needs_refresh(self) -> bool:
        """Whether the stated clock's rate is unknown, so that only asking again (a ``ping``)
        moves it (``--speed max``)."""
        stated = self._stated
        return stated is not None and stated[0].rate is None

    def estimate(self, now: float, wall_ns: int) -> int:
        """The server's event time (ns) at monotonic ``now``: the stated time, plus the time
        elapsed since it arrived times the rate (nothing when the rate is unknown); the wall
        clock ``wall_ns`` when the server states no clock."""
        stated = self._stated
        if stated is None:
            return wall_ns
        clock, at, _ = stated
        if not clock.rate:
            return clock.time
        return clock.time + int(max(now - at, 0.0) * clock.rate * 1e9)

    def lag(self, newest_ns: int | None, now: float, wall_ns: int) -> timedelta | None:
        """How far, in event time, the newest event received (``newest_ns``; None before any)
        is behind the server's clock; never negative (a clock read a little late puts the
        events ahead of it)."""
        if newest_ns is None:
            return None
        stated = self._stated
        if stated is not None and stated[0].rate is None and stated[2] is not None:
            # --speed max: the server publishes as fast as its slowest client reads, so it
            # moves on as we do and the backlog measured when it stated its clock (a reply
            # comes after every event sent before it) stands until the next statement
            behind = stated[0].time - stated[2]
        else:
            behind = self.estimate(now, wall_ns) - newest_ns
        return timedelta(microseconds=max(behind, 0) // 1000)
