"""Batches cut once for every batched client (``docs/protocol.md`` section 14.3).

The hub hands each publication pass to :meth:`BatchLog.add`; per channel, events wait in an
open batch that is closed when it holds ``max_events`` events or when its oldest event has
waited ``max_delay`` seconds (:meth:`BatchLog.cut_due`, on the hub's timer). A closed
:class:`Batch` knows its events (``seq``, capture index, replay offset) and encodes itself in
a format on first demand, framed and cached: every client that receives it shares those bytes.
Closed batches are kept while their events are in the ring, for resends. Pure bookkeeping:
time is passed in, encoding is a callable.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable

import numpy as np

from ..model import CHANNELS, BatchFormat, BatchSettings, Compression

__all__ = ["Batch", "BatchLog", "Encode"]

Encode = Callable[["Batch", BatchFormat, Compression], bytes]
"""Builds a batch's frame (header and payload) in a format: the hub's encoder."""


class Batch:
    """Events of one channel, in ``seq`` order, cut together."""

    __slots__ = ("_frames", "channel", "indices", "offsets", "opened", "seqs")

    def __init__(self, channel: int, seqs: np.ndarray, indices: np.ndarray,
                 offsets: np.ndarray, opened: float) -> None:
        self.channel, self.seqs, self.indices, self.offsets = channel, seqs, indices, offsets
        self.opened = opened
        self._frames: dict[tuple[BatchFormat, Compression], bytes] = {}

    @property
    def first(self) -> int:
        return int(self.seqs[0])

    @property
    def last(self) -> int:
        return int(self.seqs[-1])

    def __len__(self) -> int:
        return len(self.seqs)

    def frame(self, fmt: BatchFormat, compression: Compression, encode: Encode) -> bytes:
        """This batch as one frame, built on first demand and kept."""
        key = (fmt, compression)
        frame = self._frames.get(key)
        if frame is None:
            frame = self._frames[key] = encode(self, fmt, compression)
        return frame

    def after(self, seq: int) -> Batch:
        """The events with a greater ``seq`` (a resend or a subscription starting inside the
        batch): a batch of its own, not shared."""
        k = int(np.searchsorted(self.seqs, seq, side="right"))
        return Batch(self.channel, self.seqs[k:], self.indices[k:], self.offsets[k:],
                     self.opened)


class _Open:
    """The events of one channel waiting for their batch to close."""

    __slots__ = ("count", "indices", "offsets", "opened", "seqs")

    def __init__(self) -> None:
        self.seqs: list[np.ndarray] = []
        self.indices: list[np.ndarray] = []
        self.offsets: list[np.ndarray] = []
        self.count = 0
        self.opened = 0.0

    def add(self, seqs: np.ndarray, indices: np.ndarray, offset: int, now: float) -> None:
        if not self.count:
            self.opened = now
        self.seqs.append(seqs)
        self.indices.append(indices)
        self.offsets.append(np.full(len(seqs), offset, dtype=np.int64))
        self.count += len(seqs)

    def take(self, channel: int, most: int) -> list[Batch]:
        """Close everything as batches of at most ``most`` events."""
        seqs, indices, offsets = (np.concatenate(x) for x in (self.seqs, self.indices,
                                                              self.offsets))
        self.seqs, self.indices, self.offsets, self.count = [], [], [], 0
        return [Batch(channel, seqs[k:k + most], indices[k:k + most], offsets[k:k + most],
                      self.opened) for k in range(0, len(seqs), most)]


class BatchLog:
    """The open and closed batches of every channel, cut by the smallest bounds asked.

    Args:
        max_events: the server's bound on events per batch (``--batch-max-events``).
        max_delay: the server's bound, in seconds, on an event's wait (``--batch-max-delay``).
    """

    def __init__(self, max_events: int, max_delay: float) -> None:
        self.limit_events, self.limit_delay = max_events, max_delay
        self.max_events, self.max_delay = max_events, max_delay
        """The bounds batches are cut by now: the smallest asked by a client, or the server's."""
        self._asked: dict[object, tuple[int, float]] = {}
        self._open = [_Open() for _ in CHANNELS]
        self.closed: list[list[Batch]] = [[] for _ in CHANNELS]
        self._lasts: list[list[int]] = [[] for _ in CHANNELS]  # closed[c][k].last, for bisect

    # --- who asks for what ----------------------------------------------------------------

    def grant(self, client: object, asked: BatchSettings) -> BatchSettings:
        """Register ``client``'s bounds; return what it gets (no more than asked or allowed)."""
        events, delay = self.limit_events, self.limit_delay
        if asked.max_events is not None:
            events = min(events, asked.max_events)
        if asked.max_delay_ms is not None:
            delay = min(delay, asked.max_delay_ms / 1000)
        self._asked[client] = (events, delay)
        self._bounds()
        return BatchSettings(asked.format, asked.compression, events, delay * 1000)

    def release(self, client: object) -> None:
        """``client`` is gone: its bounds no longer apply."""
        if self._asked.pop(client, None) is not None:
            self._bounds()

    def _bounds(self) -> None:
        asked = self._asked.values()
        self.max_events = min((e for e, _ in asked), default=self.limit_events)
        self.max_delay = min((d for _, d in asked), default=self.limit_delay)

    # --- the hub's side -------------------------------------------------------------------

    def add(self, first_seq: int, index: int, kinds: bytes, offset: int, now: float) -> None:
        """Events ``first_seq``.. (capture indexes ``index``.., channel indexes ``kinds``) were
        published now with ``offset``: add them to their channels' open batches, closing those
        that are full."""
        codes = np.frombuffer(kinds, dtype=np.uint8)
        for c, pending in enumerate(self._open):
            where = np.flatnonzero(codes == c)
            if len(where):
                pending.add(where + first_seq, where + index, offset, now)
                if pending.count >= self.max_events:
                    self._close(c)

    def deadline(self) -> float | None:
        """When the oldest open batch must close (None: none open)."""
        opened = [p.opened for p in self._open if p.count]
        return min(opened) + self.max_delay if opened else None

    def cut_due(self, now: float) -> bool:
        """Close the open batches whose oldest event has waited ``max_delay``; say if any."""
        cut = False
        for c, pending in enumerate(self._open):
            if pending.count and now - pending.opened >= self.max_delay:
                self._close(c)
                cut = True
        return cut

    def flush(self) -> bool:
        """Close every open batch (the capture ended, or the publisher waits for clients that
        wait for these); say if there was any."""
        flushed = False
        for c, pending in enumerate(self._open):
            if pending.count:
                self._close(c)
                flushed = True
        return flushed

    def _close(self, c: int) -> None:
        for batch in self._open[c].take(c, self.max_events):
            self.closed[c].append(batch)
            self._lasts[c].append(batch.last)

    def forget(self, oldest: int) -> None:
        """Drop the closed batches whose events are all older than ``oldest`` + 1 (evicted
        from the ring)."""
        for c, lasts in enumerate(self._lasts):
            k = bisect_right(lasts, oldest)
            if k:
                del lasts[:k], self.closed[c][:k]

    # --- the subscribers' side ------------------------------------------------------------

    def next_after(self, c: int, seq: int) -> Batch | None:
        """The first closed batch of channel ``c`` with events after ``seq``, cut to them."""
        k = bisect_right(self._lasts[c], seq)
        if k == len(self._lasts[c]):
            return None
        batch = self.closed[c][k]
        return batch if batch.first > seq else batch.after(seq)

    def first_after(self, c: int, seq: int) -> int | None:
        """The first published ``seq`` of channel ``c`` after ``seq``, in a closed batch or the
        open one (None: none yet)."""
        k = bisect_right(self._lasts[c], seq)
        if k < len(self._lasts[c]):
            seqs = self.closed[c][k].seqs
        else:
            pending = self._open[c]
            if not pending.count or int(pending.seqs[-1][-1]) <= seq:
                return None
            seqs = next(s for s in pending.seqs if int(s[-1]) > seq)
        return int(seqs[np.searchsorted(seqs, seq, side="right")])
