"""Hand-built channel frames for the analysis tests, made through the real protocol.

Each event goes through ``model.data_message`` and ``model.flatten`` like a message off the
wire, so a test frame has exactly the declared schema; ``seq`` is the event's position.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from openagi_nb import model

T0 = pd.Timestamp("2026-01-05T09:00:00Z")
Event = tuple[float, str, dict[str, Any]]
"""``(seconds after T0, event name, data)``."""


def at(seconds: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(seconds=seconds)


def stamp(seconds: float) -> str:
    return model.format_timestamp(at(seconds).value)


def frame(channel: str, events: list[Event]) -> pd.DataFrame:
    """``channel``'s frame holding ``events`` in order."""
    rows = [
        model.flatten(dict(model.data_message(channel, event, data, stamp(sec), seq)))[1]
        for seq, (sec, event, data) in enumerate(events, 1)
    ]
    if not rows:
        return model.empty_frame(channel)
    return model.to_frame(channel, list(zip(*rows, strict=True)))
