"""``rotate=``: when a recording starts its next piece, by age (``"1h"``) or by size
(``"100MB"``). Parsed once here for ``record``, ``EventStream`` and ``openagi-nb record``."""

from __future__ import annotations

from datetime import timedelta

from ..durations import positive
from ..sizes import parse_size

__all__ = ["Rotate", "parse_rotate"]

Rotate = str | int | float | timedelta
"""A duration (``"1h"``, ``timedelta``, a number of seconds) or a size (``"100MB"``)."""


def parse_rotate(value: Rotate | None) -> tuple[float | None, int | None]:
    """``(seconds, bytes)`` of a ``rotate=`` value; one of them is None (both for None).

    Raises:
        ValueError: neither a positive duration nor a size such as ``100MB``.
    """
    if value is None:
        return None, None
    if isinstance(value, str) and value.strip().lower().endswith("b"):  # "5m" is 5 minutes
        count = parse_size(value)
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
