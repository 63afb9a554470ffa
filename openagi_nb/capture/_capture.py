"""The loaded capture: :class:`Capture`, and the frame helpers its readers share."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import pandas as pd

from ..model import CHANNELS, Channel

__all__ = ["REJECT_COLUMNS", "Capture", "rejects_frame", "sorted_frame"]

REJECT_COLUMNS: Final = ("line", "raw", "reason")


@dataclass(frozen=True)
class Capture:
    """A loaded capture: per-channel frames in the declared schema, sorted by time.

    Frames are returned as shallow copies: with pandas' copy-on-write a caller may modify what it
    gets without changing the capture.

    Attributes:
        path: the file, directory or glob it was loaded from.
        rejects: lines that were not valid messages (``line``, ``raw``, ``reason``), and the
            damage of a cut or corrupt file, as one reject at the line it cut.
        pieces: how many files it was loaded from.
    """

    path: str
    frames: dict[Channel, pd.DataFrame]
    rejects: pd.DataFrame
    control_messages: int = 0
    pieces: int = 1

    @property
    def channels(self) -> tuple[Channel, ...]:
        """The channels that have at least one event in this capture."""
        return tuple(c for c in CHANNELS if len(self.frames[c]))

    def frame(self, channel: str) -> pd.DataFrame:
        """The events of ``channel`` (``"monitoring_events"``...) in its declared schema."""
        return self.frames[Channel(channel)].copy(deep=False)

    def __len__(self) -> int:
        return sum(len(f) for f in self.frames.values())

    def __repr__(self) -> str:
        counts = ", ".join(f"{c.value}={len(self.frames[c])}" for c in self.channels)
        return f"<Capture {self.path!r}: {counts or 'empty'}; {len(self.rejects)} rejects>"


def sorted_frame(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` in time order (then ``seq``), untouched when it already is."""
    if df["timestamp"].is_monotonic_increasing:
        return df
    return df.sort_values(["timestamp", "seq"], kind="stable", na_position="last").reset_index(
        drop=True
    )


def rejects_frame(rejects: Iterable[tuple[int, str, str]]) -> pd.DataFrame:
    """The rejects table from ``(line, raw, reason)`` tuples."""
    cols = list(zip(*rejects, strict=True)) or [(), (), ()]
    return pd.DataFrame({
        "line": pd.array(cols[0], dtype="Int64"),
        "raw": pd.array(cols[1], dtype="string"),
        "reason": pd.array(cols[2], dtype="string"),
    })
