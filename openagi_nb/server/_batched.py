"""A batched client's place in the shared batches (``docs/protocol.md`` section 14.3).

Per channel it remembers the last ``seq`` the client was given (or after which it wants the
channel); what it is owed is every closed batch of its channels past that point, sent oldest
first across channels, each batch's shared frame as it is (a batch that starts before that
point is cut: a resend, a subscription made inside a batch). A resend is only moving that point
back: the closed batches are kept as long as the ring keeps their events.
"""

from __future__ import annotations

import sys
from typing import Final

from ..model import CHANNELS, BatchFormat, BatchSettings, Compression
from ._batches import Batch, BatchLog, Encode

__all__ = ["BatchCursor"]

NEVER: Final = sys.maxsize
"""The channel is not subscribed."""


class BatchCursor:
    """Where one client is in the :class:`~._batches.BatchLog`, and the frames it is owed."""

    def __init__(self, log: BatchLog, settings: BatchSettings, encode: Encode) -> None:
        self.log, self.settings, self._encode = log, settings, encode
        self._format: BatchFormat = settings.format
        self._compression: Compression = settings.compression
        self.after = [NEVER] * len(CHANNELS)
        """Per channel index: the ``seq`` after which the client wants it (NEVER: not
        subscribed)."""

    def want(self, c: int, after: int) -> None:
        """Send channel ``c`` after ``seq`` ``after`` (from there if that is earlier than what
        it was sent: a resend)."""
        self.after[c] = min(self.after[c], after)

    def drop(self, c: int) -> None:
        """Stop sending channel ``c``."""
        self.after[c] = NEVER

    def position(self, head: int) -> int:
        """The ``seq`` before the oldest event this client still needs (``head``: none). Only
        what was published since counts: a quiet channel does not hold the others back."""
        log, owed = self.log, []
        for c, after in enumerate(self.after):
            if after != NEVER and (first := log.first_after(c, after)) is not None:
                owed.append(first - 1)
        return min(owed, default=head)

    def idle(self) -> bool:
        """Whether no closed batch is owed."""
        return self._next() is None

    def collect(self, room: int, out: list[bytes]) -> int:
        """Append to ``out`` the frames owed, oldest batch first, at most ``room`` bytes of them
        (at least one); return how many events they hold."""
        sent = 0
        if room <= 0:
            return 0
        while (found := self._next()) is not None:
            c, batch = found
            frame = batch.frame(self._format, self._compression, self._encode)
            if len(frame) > room and sent:
                break
            out.append(frame)
            room -= len(frame)
            self.after[c] = batch.last
            sent += len(batch)
            if room <= 0:
                break
        return sent

    def _next(self) -> tuple[int, Batch] | None:
        best: tuple[int, Batch] | None = None
        for c, after in enumerate(self.after):
            if after == NEVER:
                continue
            batch = self.log.next_after(c, after)
            if batch is not None and (best is None or batch.first < best[1].first):
                best = (c, batch)
        return best
