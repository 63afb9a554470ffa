"""``rotate=``: when a recording starts its next piece, by age (``"1h"``) or by size
(``"100MB"``). Parsed once here for ``record``, ``EventStream`` and ``openagi-nb record``."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Final

from ..durations import positive

__all__ = ["Rotate", "parse_rotate"]

Rotate = str | int | float | timedelta
"""A duration (``"1h"``, ``timedelta``, a number of seconds) or a size (``"100MB"``)."""
_SIZE: Final = re.compile(r"(?i)\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b)\s*")
_UNITS: Final = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
                 "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}


def parse_rotate(value: Rotate | None) -> tuple[float | None, int | None]:
    """``(seconds, bytes)`` of a ``rotate=`` value; one of them is None (both for None).

    Raises:
        ValueError: neither a positive duration nor a size such as ``100MB``.
    """
    if value is None:
        return None, None
    if isinstance(value, str) and (size := _SIZE.fullmatch(value)):
        unit = _UNITS.get(size[2].lower())
        count = int(float(size[1]) * unit) if unit else 0
        if count <= 0:
            raise ValueError(f"rotate: not a size: {value!r} (try 100MB, 1GiB)")
        return None, count
    if isinstance(value, str) and value.strip().replace(".", "", 1).isdigit():
        value = float(value)  # a plain number counts seconds, as --duration's do
    try:
        if isinstance(value, bool):
            raise ValueError
        span = timedelta(seconds=value) if isinstance(value, int | float) else value
        return positive(span, "rotate").total_seconds(), None
    except ValueError:
        raise ValueError(f"rotate: expected a duration (1h, 30min) or a size (100MB), got "
                         f"{value!r}") from None
