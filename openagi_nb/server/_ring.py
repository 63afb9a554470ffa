"""The last published frames, by ``seq``: what every client reads from and what resume resends.

One bounded ring shared by all clients: a frame is stored once, and a client is only a cursor
(the last ``seq`` it was given), so a client costs no memory per message. Pure data structure,
no I/O.

Frames may be stored ready (:meth:`Ring.extend`) or described (:meth:`Ring.describe`: which
capture messages, with which replay offset) and built by the ring's ``framer`` the first time
a window reaches them, once for every client: when every client takes batches
(``_batches``), no frame of one message is ever built.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import NamedTuple

__all__ = ["Framer", "Ring"]

Framer = Callable[[int, int, int, int], list[bytes]]
"""``framer(index, count, seq, offset)``: the frames of capture messages ``index``.. with
``seq`` numbers from ``seq`` and timestamps moved by ``offset`` seconds."""


class _Segment(NamedTuple):
    first: int  # seq of the first message
    start: int  # its capture index; the others follow
    size: int
    offset: int


class Ring:
    """Frames with ``seq`` 1, 2, 3... of which the last ``capacity`` are kept.

    ``head`` is the last ``seq`` appended (0 before the first). Frames with a ``seq`` in
    ``(head - capacity, head]`` are retained.
    """

    def __init__(self, capacity: int, framer: Framer | None = None) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self.head = 0
        self._framer = framer
        self._segments: deque[_Segment] = deque()  # described, not framed yet, in seq order
        self._built = 0  # every retained seq up to this one has its frame stored
        self._frames: list[bytes] = [b""] * capacity
        self._channels = bytearray(capacity)
        self.evicted = [0, 0, 0, 0]
        """Per channel index: the greatest ``seq`` of that channel no longer retained."""

    @property
    def oldest(self) -> int:
        """The ``seq`` before the first retained one: a window starts after it."""
        return max(self.head - self.capacity, 0)

    def append(self, frame: bytes, channel: int) -> int:
        """Store the next frame; return its ``seq``."""
        self.head += 1
        slot = self.head % self.capacity
        if self.head > self.capacity:
            self.evicted[self._channels[slot]] = self.head - self.capacity
        self._frames[slot] = frame
        self._channels[slot] = channel
        if self._built == self.head - 1:
            self._built = self.head
        return self.head

    def extend(self, frames: list[bytes], channels: bytes) -> None:
        """Store frames with the next ``seq`` numbers (no more than ``capacity`` at once)."""
        count, cap = len(frames), self.capacity
        if count > cap:
            raise ValueError(f"{count} frames do not fit in a ring of {cap}")
        start = (self.head + 1) % cap
        first = min(count, cap - start)
        self._store(start, frames[:first], channels[:first])
        if first < count:
            self._store(0, frames[first:], channels[first:])
        self._built = self.head

    def describe(self, channels: bytes, index: int, offset: int) -> None:
        """Store the next ``len(channels)`` messages as capture messages ``index``.. moved by
        ``offset`` seconds, framed when first read (needs a ``framer``)."""
        count, cap = len(channels), self.capacity
        if count > cap:
            raise ValueError(f"{count} frames do not fit in a ring of {cap}")
        if not count:
            return
        segments = self._segments
        last = segments[-1] if segments else None
        if last is not None and last.first + last.size == self.head + 1 and (
                last.start + last.size == index and last.offset == offset):
            segments[-1] = last._replace(size=last.size + count)  # the capture goes on
        else:
            segments.append(_Segment(self.head + 1, index, count, offset))
        start = (self.head + 1) % cap
        first = min(count, cap - start)
        self._store(start, None, channels[:first])
        if first < count:
            self._store(0, None, channels[first:])
        oldest = self.oldest
        while segments and segments[0].first + segments[0].size - 1 <= oldest:
            segments.popleft()  # evicted before any client needed them

    def _build(self, upto: int) -> None:
        """Frame the described messages up to ``seq`` ``upto`` not framed yet."""
        done = max(self._built, self.oldest)
        if upto <= done or self._framer is None:
            return
        segments = self._segments
        while segments and segments[0].first <= upto:
            seg = segments[0]
            lo, hi = max(done, seg.first - 1), min(upto, seg.first + seg.size - 1)
            if hi > lo:
                frames = self._framer(seg.start + lo + 1 - seg.first, hi - lo, lo + 1, seg.offset)
                self._put(lo + 1, frames)
            if hi < seg.first + seg.size - 1:
                break  # the rest of it is not asked for yet
            segments.popleft()
        self._built = upto

    def _put(self, seq: int, frames: list[bytes]) -> None:
        cap = self.capacity
        start = seq % cap
        first = min(len(frames), cap - start)
        self._frames[start:start + first] = frames[:first]
        if first < len(frames):
            self._frames[:len(frames) - first] = frames[first:]

    def _store(self, slot: int, frames: list[bytes] | None, channels: bytes) -> None:
        count, cap = len(channels), self.capacity
        old = bytes(self._channels[slot:slot + count])
        lost = self.head + 1 - cap  # the seq that was in ``slot`` (if positive)
        if lost + count - 1 > 0:
            for c in range(len(self.evicted)):  # the last seq of each channel overwritten
                at = old.rfind(c.to_bytes(1, "big"))
                if at >= 0 and lost + at > 0:
                    self.evicted[c] = lost + at
        if frames is not None:
            self._frames[slot:slot + count] = frames
        self._channels[slot:slot + count] = channels
        self.head += count

    def window(self, after: int, upto: int) -> tuple[list[bytes], bytearray]:
        """Frames and channel indexes of ``seq`` in ``(after, upto]``, which must be retained."""
        if after < self.oldest or upto > self.head or after > upto:
            raise IndexError(f"window ({after}, {upto}] is outside ({self.oldest}, {self.head}]")
        self._build(upto)
        cap, count = self.capacity, upto - after
        start = (after + 1) % cap
        if start + count <= cap:
            return self._frames[start:start + count], self._channels[start:start + count]
        stop = start + count - cap
        return (
            self._frames[start:] + self._frames[:stop],
            self._channels[start:] + self._channels[:stop],
        )
