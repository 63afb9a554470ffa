"""The last published frames, by ``seq``: what every client reads from and what resume resends.

One bounded ring shared by all clients: a frame is stored once, and a client is only a cursor
(the last ``seq`` it was given), so a client costs no memory per message. Pure data structure,
no I/O.
"""

from __future__ import annotations

__all__ = ["Ring"]


class Ring:
    """Frames with ``seq`` 1, 2, 3... of which the last ``capacity`` are kept.

    ``head`` is the last ``seq`` appended (0 before the first). Frames with a ``seq`` in
    ``(head - capacity, head]`` are retained.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self.head = 0
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

    def _store(self, slot: int, frames: list[bytes], channels: bytes) -> None:
        count, cap = len(frames), self.capacity
        old = bytes(self._channels[slot:slot + count])
        lost = self.head + 1 - cap  # the seq that was in ``slot`` (if positive)
        if lost + count - 1 > 0:
            for c in range(len(self.evicted)):  # the last seq of each channel overwritten
                at = old.rfind(c.to_bytes(1, "big"))
                if at >= 0 and lost + at > 0:
                    self.evicted[c] = lost + at
        self._frames[slot:slot + count] = frames
        self._channels[slot:slot + count] = channels
        self.head += count

    def window(self, after: int, upto: int) -> tuple[list[bytes], bytearray]:
        """Frames and channel indexes of ``seq`` in ``(after, upto]``, which must be retained."""
        if after < self.oldest or upto > self.head or after > upto:
            raise IndexError(f"window ({after}, {upto}] is outside ({self.oldest}, {self.head}]")
        cap, count = self.capacity, upto - after
        start = (after + 1) % cap
        if start + count <= cap:
            return self._frames[start:start + count], self._channels[start:start + count]
        stop = start + count - cap
        return (
            self._frames[start:] + self._frames[:stop],
            self._channels[start:] + self._channels[:stop],
        )
