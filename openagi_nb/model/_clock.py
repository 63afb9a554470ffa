"""The server's clock as it states it (``docs/protocol.md`` section 5.6): ``{"time": T, "rate": R}``
in the ``subscribed`` ack, in ``pong`` and in ``GET /api/v1/status``.

``time`` is the server's event-time "now": every event with an earlier timestamp has been
published. ``rate`` is how many event seconds that clock advances per wall second (null when the
server cannot say: it then has to be asked again). A client estimates the clock at any later
moment as ``time + elapsed * rate`` and its lag as that minus the newest event it has received.

Optional on the wire: a client of the published API ignores it (unknown fields), and a server
that states none (a node of the network) runs on the wall clock. Pure: no clocks are read here.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from ._rows import bad_field, format_timestamp, parse_timestamp

__all__ = ["Clock", "clock_time", "parse_clock"]


class Clock(NamedTuple):
    """A server's event-time clock at one instant.

    Attributes:
        time: the event time the server has reached, ns since the epoch (UTC).
        rate: event seconds per wall second from then on: the replay's speed, 1 for a live
            network, 0 once a replay has ended; None when unknown (``--speed max``, ``--rate``,
            a clock not started yet), which means "ask again".
    """

    time: int
    rate: float | None

    def json(self) -> dict[str, Any]:
        """The wire form, ``{"time": "<ISO 8601 UTC, µs>", "rate": <number or null>}``."""
        return {"time": clock_time(self.time), "rate": self.rate}


def clock_time(ns: int) -> str:
    """``ns`` as ISO 8601 UTC with microseconds always shown (``2026-01-05T09:00:00.000000Z``):
    one fixed width, unlike data timestamps, so a clock is easy to read and compare."""
    stamp = format_timestamp(ns - ns % 1_000)
    return stamp if "." in stamp else stamp[:-1] + ".000000Z"


def parse_clock(value: Any, raw: str | bytes = "") -> Clock | None:
    """Validate the ``clock`` field of a reply (None or absent: the server states none).

    Keys other than ``time`` and ``rate`` are ignored (a newer server may add some).

    Raises:
        InvalidMessage: ``bad_field`` naming ``clock``, ``clock.time`` or ``clock.rate``.
    """
    if value is None:
        return None
    if not isinstance(value, dict):
        raise bad_field("clock", "expected an object with 'time' and 'rate'", value, raw)
    stamp, rate = value.get("time"), value.get("rate")
    if not isinstance(stamp, str):
        raise bad_field("clock.time", "expected an ISO 8601 string", stamp, raw)
    try:
        ns = parse_timestamp(stamp)
    except (ValueError, OverflowError):
        raise bad_field("clock.time", "expected an ISO 8601 string", stamp, raw) from None
    if rate is not None and (isinstance(rate, bool) or not isinstance(rate, int | float)
                             or not math.isfinite(rate) or rate < 0):
        raise bad_field("clock.rate", "expected a number >= 0 or null", rate, raw)
    return Clock(ns, None if rate is None else float(rate))

