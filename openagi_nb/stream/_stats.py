"""The stream's counters and what it shows of them: :class:`StreamStats` and the rejects table.

:class:`Counters` is written by the stream's thread only (plain ints, no lock: a reader may see one
counter a message ahead of another, never a torn value) and turned into an immutable
:class:`StreamStats` on demand.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Final

import pandas as pd

from ..exceptions import truncate
from ..model import CHANNELS

__all__ = ["Counters", "Rejects", "State", "StreamStats"]

RATE_SPAN: Final = 5.0
"""Seconds over which ``events_per_second`` is measured."""
REJECTS_KEPT: Final = 10_000


class State(StrEnum):
    """Where a stream is in its life."""

    NEW = "new"  # not started
    CONNECTING = "connecting"  # first connection
    LIVE = "live"  # connected and subscribed
    RECONNECTING = "reconnecting"  # lost the connection, trying again
    FAILED = "failed"  # gave up: see last_error
    STOPPING = "stopping"  # stop() was called; the thread is ending
    STOPPED = "stopped"  # stop() was called and the thread has ended


@dataclass(frozen=True)
class StreamStats:
    """A snapshot of a stream's counters.

    Attributes:
        state: see :class:`State`.
        received: accepted events per channel.
        rejected: messages that failed validation, per channel (``"other"`` for those that
            name none).
        events_per_second: accepted events per second over the last few seconds.
        lag: now minus the newest event's timestamp (None before any event).
        reconnects: connections opened after the first.
        backoff: the delay (seconds) being waited before the next attempt to connect; None
            while connected. It grows (with jitter) up to 10 s while connections keep failing,
            and starts over once one has stayed open 30 s.
        gaps: outages that may have lost events (see ``EventStream.gaps``).
        duplicates: data messages dropped because their ``seq`` was already seen.
        ignored: messages of a ``type`` this version does not know (forward compatibility).
        callback_errors: exceptions raised by listeners.
        last_error: the newest connection or protocol problem, never with a token.
        recording: the capture being written (``record_to``), None when not recording.
        batching: what was negotiated with the server (``docs/protocol.md`` section 14):
            ``arrow lz4, up to 4096 events or 50 ms``, ``json, ...``, ``off`` (``batch=False``),
            ``not offered by the server``, ``refused by the server: ...``, or ``asked``.
    """

    state: State
    received: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    events_per_second: float = 0.0
    lag: timedelta | None = None
    reconnects: int = 0
    backoff: float | None = None
    gaps: int = 0
    duplicates: int = 0
    ignored: int = 0
    callback_errors: int = 0
    last_error: str | None = None
    recording: str | None = None
    batching: str = "off"

    @property
    def total(self) -> int:
        """Accepted events on all channels."""
        return sum(self.received.values())


class Counters:
    """The running counters behind :class:`StreamStats` (the stream's thread writes them)."""

    def __init__(self) -> None:
        self.received: dict[str, int] = {c.value: 0 for c in CHANNELS}
        self.rejected: dict[str, int] = {}
        self.total = 0
        self.reconnects = 0
        self.ignored = 0
        self._samples: deque[tuple[float, int]] = deque([(time.monotonic(), 0)])

    def sample(self, now: float) -> None:
        """Note the total now (called every tick) so the rate covers the last few seconds."""
        samples = self._samples
        if now - samples[-1][0] >= 0.25:
            samples.append((now, self.total))
        while len(samples) > 2 and now - samples[1][0] >= RATE_SPAN:
            samples.popleft()

    def rate(self, now: float) -> float:
        then, count = self._samples[0]
        return (self.total - count) / (now - then) if now > then else 0.0


class Rejects:
    """The newest rejected messages: when, what (truncated), why."""

    def __init__(self, kept: int = REJECTS_KEPT) -> None:
        self._items: deque[tuple[int, str, str]] = deque(maxlen=kept)

    def add(self, raw: str | bytes, reason: str) -> None:
        self._items.append((time.time_ns(), truncate(raw), reason))

    def __len__(self) -> int:
        return len(self._items)

    def frame(self) -> pd.DataFrame:
        items = list(self._items)
        stamps = [t for t, _, _ in items]
        return pd.DataFrame({
            "received_at": pd.to_datetime(pd.Series(stamps, dtype="int64"), unit="ns", utc=True),
            "raw": pd.array([r for _, r, _ in items], dtype="string"),
            "reason": pd.array([why for _, _, why in items], dtype="string"),
        })
