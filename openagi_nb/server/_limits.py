"""Limits on what clients may do: how many connect, how large and how fast what each sends may be
(:class:`Limits`), the token bucket of the control-message rate and its verdict for one message.
Pure (the clock is passed in), no I/O.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

__all__ = ["ControlRate", "Limits", "Verdict"]


class Verdict(Enum):
    """What to do with one inbound message."""

    ACCEPT = "accept"
    REFUSE = "refuse"
    """Answer with an ``error`` (``rate_limited``) and go on."""
    CLOSE = "close"
    """The client keeps going too fast after being told: close with 1008 (policy violation)."""


class ControlRate:
    """A token bucket of ``burst`` messages refilled at ``rate`` per second.

    A message that finds the bucket empty is refused; ``strikes`` refusals in a row (with no
    accepted message between them) close the connection, so a client that ignores the errors
    cannot keep the server busy answering it.
    """

    def __init__(
        self, rate: float, burst: int, strikes: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate, self.burst, self.strikes = rate, burst, strikes
        self._clock = clock
        self._tokens = float(burst)
        self._stamp = clock()
        self._refused = 0

    def check(self) -> Verdict:
        """Account one inbound message; say what to do with it."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            self._refused = 0
            return Verdict.ACCEPT
        self._refused += 1
        return Verdict.CLOSE if self._refused >= self.strikes else Verdict.REFUSE


@dataclass(frozen=True)
class Limits:
    """What the WebSocket sessions of one server enforce (from its ``ServeOptions``)."""

    max_clients: int
    """Connections at most, upgrades under way included (HTTP 503 beyond)."""
    max_frame: int
    """Inbound text frames longer than this are refused with an error."""
    control_rate: float
    control_burst: int
    strikes: int

    def control(self) -> ControlRate:
        """A fresh token bucket for one connection."""
        return ControlRate(self.control_rate, self.control_burst, self.strikes)
