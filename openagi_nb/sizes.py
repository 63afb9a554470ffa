"""Sizes given by users (``65536``, ``"512KiB"``, ``"100MB"``), parsed one way everywhere: the
server's ``--queue-bytes`` and a recording's ``rotate=``. No I/O; errors are ``ValueError``.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["parse_size"]

_SIZE: Final = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*", re.IGNORECASE)
UNITS: Final = {
    "": 1, "b": 1,
    "k": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mib": 1 << 20, "g": 1 << 30, "gib": 1 << 30,
    "t": 1 << 40, "tib": 1 << 40,
    "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
}
"""``K``/``KiB``... are powers of 1024, ``kB``/``MB``... powers of 1000; case does not matter."""


def parse_size(text: str) -> int:
    """``text`` in bytes: ``"65536"``, ``"512KiB"``, ``"1M"`` (powers of 1024), ``"8MB"``
    (powers of 1000).

    Raises:
        ValueError: not a size, naming what was given.
    """
    match = _SIZE.fullmatch(text)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in UNITS:
        raise ValueError(f"expected a size such as 1048576, 512KiB, 1MiB or 8MB, got {text!r}")
    return int(float(match.group(1)) * UNITS[unit])
