"""What the stream remembers across connections so a cut costs no event and duplicates none.

:class:`Resume` is fed every accepted data message's channel, ``seq`` and timestamp, and told when
a connection ends and a new one starts. It answers what to subscribe with (``since`` = the last
``seq`` seen per channel) and which messages are duplicates, and it records a :class:`Gap` for
every outage it cannot bridge: a server that sends no ``seq``, history the server no longer
holds, or a server whose sequence restarted. Pure bookkeeping, no I/O: tested on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd

from ..model import CHANNELS, Channel

__all__ = ["Gap", "Resume"]

NO_SEQ: Final = -1


@dataclass(frozen=True, slots=True)
class Gap:
    """Events of ``channel`` may be missing between ``start`` and ``end`` (event times, UTC):
    the newest event before the outage and the first one after it (None when there was none)."""

    channel: Channel
    start: pd.Timestamp | None
    end: pd.Timestamp | None
    reason: str


class Resume:
    """Per-channel resume state of one stream. Only the stream's thread calls it."""

    def __init__(self) -> None:
        # keyed by channel name: the hot path passes plain strings (cheaper to hash)
        self.last_seq: dict[str, int] = {c.value: NO_SEQ for c in CHANNELS}
        self.newest: dict[str, int | None] = dict.fromkeys(c.value for c in CHANNELS)
        self.max_seq = NO_SEQ
        self.gaps: list[Gap] = []
        self.duplicates = 0
        self._open: dict[str, tuple[int | None, str]] = {}
        self._fresh: set[str] = set()

    def since(self, channel: Channel) -> int | None:
        """The ``since`` to subscribe ``channel`` with: its last ``seq``, or the newest of any
        channel (the server numbers all channels in one sequence), or None before any."""
        last = self.last_seq[channel]
        if last != NO_SEQ:
            return last
        return self.max_seq if self.max_seq != NO_SEQ else None

    def subscribed(self, channel: str, seq: int) -> None:
        """The server acknowledged a subscribe sent without ``since``, live after ``seq``: a
        channel that has seen nothing yet resumes from there if the connection ends early."""
        if channel in self.last_seq and self.last_seq[channel] == NO_SEQ:
            self.last_seq[channel] = seq

    def disconnected(self, channels: tuple[Channel, ...]) -> None:
        """A connection ended: channels that cannot be resumed by ``seq`` get an open gap."""
        for channel in channels:
            if self.since(channel) is None and channel not in self._open:
                self._open[channel] = (self.newest[channel], "no seq to resume from")
        self._fresh = set(channels)

    def truncated(self, channels: tuple[Channel, ...]) -> None:
        """The server said part of the history asked for is gone (``history_truncated``)."""
        for channel in channels:
            self._open.setdefault(channel, (self.newest[channel], "history no longer retained"))

    def accept(self, channel: str, seq: int | None, ns: int) -> bool:
        """Record a data message; False if it is a duplicate to drop."""
        if seq is not None:
            last = self.last_seq[channel]
            if seq <= last:
                if channel not in self._fresh:
                    self.duplicates += 1
                    return False
                # the first message after a reconnect is older than what we had: the
                # server's sequence restarted (it was restarted), so resume cannot vouch
                self._open.setdefault(channel, (self.newest[channel], "server sequence restarted"))
            self.last_seq[channel] = seq
            if seq > self.max_seq:
                self.max_seq = seq
        self._fresh.discard(channel)
        if self._open:
            self._close(channel, ns)
        newest = self.newest[channel]
        if newest is None or ns > newest:
            self.newest[channel] = ns
        return True

    def accept_batch(self, channel: str, seqs: np.ndarray, stamps: np.ndarray) -> np.ndarray | None:
        """Record a batch of data messages (``seqs`` with ``NO_SEQ`` for none, ``stamps`` in
        ns, in arrival order): :meth:`accept` for each, at once. Returns which to keep, or None
        when all are (the usual case)."""
        if not len(seqs):
            return None
        has = seqs >= 0
        last = self.last_seq[channel]
        if channel in self._fresh and has[0] and int(seqs[0]) <= last:  # as accept() row 0
            self._open.setdefault(channel, (self.newest[channel], "server sequence restarted"))
            last = NO_SEQ  # as accept(): the first message after a reconnect vouches for itself
        running = np.maximum.accumulate(np.where(has, seqs, NO_SEQ))
        before = np.concatenate(([last], np.maximum(running[:-1], last)))
        keep = ~has | (seqs > before)
        kept = int(keep.sum())
        self.duplicates += len(seqs) - kept
        if has.any():
            top = int(running[-1])
            self.last_seq[channel] = max(top, last)
            self.max_seq = max(self.max_seq, top)
        if not kept:
            return keep
        self._fresh.discard(channel)
        shown = stamps if kept == len(seqs) else stamps[keep]
        if self._open:
            self._close(channel, int(shown[0]))
        newest = self.newest[channel]
        top_ns = int(shown.max())
        if newest is None or top_ns > newest:
            self.newest[channel] = top_ns
        return None if kept == len(seqs) else keep

    def _close(self, channel: str, ns: int) -> None:
        opened = self._open.pop(channel, None)
        if opened is not None:
            start, reason = opened
            self.gaps.append(Gap(Channel(channel), _stamp(start), _stamp(ns), reason))

    def newest_ns(self) -> int | None:
        """The newest event's time on any channel, ns (None before any event)."""
        newest = [ns for ns in list(self.newest.values()) if ns is not None]
        return max(newest) if newest else None

    def pending(self) -> list[Gap]:
        """The gaps still open (no event since the outage), with ``end`` None."""
        return [Gap(Channel(c), _stamp(start), None, reason)
                for c, (start, reason) in self._open.items()]


def _stamp(ns: int | None) -> pd.Timestamp | None:
    return None if ns is None else pd.Timestamp(ns, unit="ns", tz="UTC")
