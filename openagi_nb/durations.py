"""Durations given by users (``"5min"``, ``timedelta(seconds=90)``, ``pd.Timedelta``), parsed one
way everywhere: analysis arguments (``for_``, ``window``), LiveFrame time windows, plot windows
and the CLI's ``--duration``. No I/O; errors are ``ValueError`` naming the argument.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pandas as pd

__all__ = ["Duration", "duration", "positive"]

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
