"""Durations given by users (``"5min"``, ``timedelta(seconds=90)``, ``pd.Timedelta``), parsed one
way everywhere: analysis arguments (``for_``, ``window``), LiveFrame time windows, plot windows
and the CLI's ``--duration``; and durations shown to people (:func:`readable`: a stream's lag in
``StreamStats`` and on the dashboard). No I/O; errors are ``ValueError`` naming the argument.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta

import pandas as pd

__all__ = ["Duration", "duration", "positive", "readable"]

Duration = str | timedelta | pd.Timedelta
_DAYS = re.compile(r"(?<=\d)\s*d(?![a-z])", re.IGNORECASE)


def duration(value: Duration, name: str) -> pd.Timedelta:
    """``value`` as a non-negative ``Timedelta``, or ``ValueError`` naming the argument."""
    # "7d": pandas deprecates the lower-case day unit
    text = _DAYS.sub("D", value) if isinstance(value, str) else value
    try:
        result = pd.Timedelta(text)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: not a duration: {value!r}") from None
    if pd.isna(result) or result < pd.Timedelta(0):
        raise ValueError(f"{name}: expected a duration >= 0, got {value!r}")
    return result


def positive(value: Duration, name: str) -> pd.Timedelta:
    """``value`` as a strictly positive ``Timedelta`` (a window length)."""
    result = duration(value, name)
    if result == pd.Timedelta(0):
        raise ValueError(f"{name}: expected a duration > 0, got {value!r}")
    return result


def readable(value: timedelta | float | None) -> str:
    """A duration (a ``timedelta`` or seconds) as people read it, in two units at most:
    ``0.3 s``, ``12 s``, ``2 min``, ``1 h 5 min``, ``3 d 4 h``; ``n/a`` for None. Truncated,
    never rounded up: 59.9 s reads ``59 s``, not ``1 min``."""
    if value is None:
        return "n/a"
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if not math.isfinite(seconds):
        return "n/a"
    micros = round(seconds * 1_000_000)  # whole microseconds: no binary fraction to truncate
    if micros < 0:
        return "-" + readable(-micros / 1_000_000)
    if micros < 10_000_000:
        tenths = micros // 100_000
        return f"{tenths // 10}.{tenths % 10} s"
    whole = micros // 1_000_000
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min"
    if whole < 86_400:
        return _two(whole // 3600, "h", whole % 3600 // 60, "min")
    return _two(whole // 86_400, "d", whole % 86_400 // 3600, "h")


def _two(count: int, unit: str, rest: int, rest_unit: str) -> str:
    return f"{count} {unit}" + (f" {rest} {rest_unit}" if rest else "")
