"""The stream's counters and what it shows of them: :class:`StreamStats` and the rejects table.

:class:`Counters` is written by the stream's thread only (plain ints, no lock: a reader may see one
counter a message ahead of another, never a torn value) and turned into an immutable
:class:`StreamStats` on demand. A :class:`StreamStats` reads as one line (``str()``, its repr in a
notebook), from the same parts the dashboard's status line shows (:meth:`StreamStats.parts`).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from pathlib import PurePath
from typing import Any, Final

import pandas as pd

from ..durations import readable
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


@dataclass(frozen=True, repr=False)
class StreamStats:
    """A snapshot of a stream's counters; ``str()`` and its notebook repr are one line::

        live · 12,345 events (monitoring 10,000, security 1,200, consensus 900, network 245) ·
        250 events/s · lag 0.3 s · reconnects 0 · gaps 0 · rejected 0 · batches arrow lz4

    Attributes:
        state: see :class:`State`.
        received: accepted events per channel.
        rejected: messages that failed validation, per channel (``"other"`` for those that
            name none).
        events_per_second: accepted events per second over the last few seconds.
        lag: how far the newest event received (any channel) is behind the server's clock,
            in event time (None before any event; never negative). The clock is the one the
            server states (a replay's runs at its speed: ``docs/protocol.md`` section 5.6),
            else the wall clock. A quiet stream reads as lag too: it cannot be told from a
            stalled one.
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

    def parts(self) -> dict[str, str]:
        """The line's parts in order, by name (``state``, ``events``, ``rate``, ``lag``,
        ``reconnects``, ``gaps``, ``rejected``, ``batches``, then only when set or not zero:
        ``duplicates``, ``ignored``, ``callback_errors``, ``recording``, ``last_error``), as
        plain text. ``str()`` joins them; the dashboard escapes and styles them."""
        parts = {
            "state": str(self.state), "events": self._events(),
            "rate": f"{_number(self.events_per_second)} events/s",
            "lag": f"lag {readable(self.lag)}", "reconnects": f"reconnects {self.reconnects}",
            "gaps": f"gaps {self.gaps}", "rejected": f"rejected {sum(self.rejected.values())}",
            "batches": f"batches {_batches(self.batching)}",
        }
        for name, count in (("duplicates", self.duplicates), ("ignored", self.ignored),
                            ("callback_errors", self.callback_errors)):
            if count:
                parts[name] = f"{name.replace('_', ' ')} {count:,}"
        if self.recording is not None:
            parts["recording"] = f"recording {PurePath(self.recording).name}"
        if self.last_error:
            parts["last_error"] = f"last error: {self.last_error}"
        return parts

    def _events(self) -> str:
        counts = sorted(((n, c) for c, n in self.received.items() if n),
                        key=lambda item: -item[0])
        each = ", ".join(f"{c.removesuffix('_events')} {n:,}" for n, c in counts)
        return f"{self.total:,} events" + (f" ({each})" if each else "")

    def __str__(self) -> str:
        return " · ".join(self.parts().values())

    def __repr__(self) -> str:
        return f"<StreamStats {self}>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """IPython's display: the line alone."""
        printer.text(str(self))


def _number(value: float) -> str:
    """A rate as people read it: ``250``, ``12,345``; one decimal below 10 (``1.5``)."""
    return f"{value:,.0f}" if value >= 10 else f"{value:.1f}"


def _batches(batching: str) -> str:
    """What was negotiated, in a word or two: ``arrow lz4``, ``json``, ``off``, ``not offered``,
    ``refused``, ``asked`` (``StreamStats.batching`` has the details)."""
    return batching.split(",", 1)[0].replace(" by the server", "").split(":", 1)[0]


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
