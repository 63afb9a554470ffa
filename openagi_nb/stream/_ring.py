"""Where a time range lies in a LiveFrame's ring of columns, and copies of just those rows.

A :class:`~._live_frame.LiveFrame` keeps each column in a preallocated numpy array used as a
ring: the live rows run from physical slot ``head`` for ``count`` slots, wrapping at the end of
the array, oldest appended first. Their timestamps are in time order too unless late rows
arrived, and the frame knows whether its window holds such a row (:func:`last_descent`). In
order, a range is found by binary search on the ring's two physical segments (O(log n)) and only
its rows are copied; out of order, by comparing the window's timestamps with the range's ends
(O(n) comparisons), and the stretch of rows that holds those found is copied (late rows are few
and recent), to be picked and sorted once the lock is released. Only the columns asked for are.

:class:`RingView` reads arrays the receive thread writes: use it under the frame's lock only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

import numpy as np

__all__ = [
    "INT64_MAX", "INT64_MIN", "STAMPS", "RingView", "Rows", "last_descent", "leading_older",
    "limits", "put", "regrown", "time_order",
]

INT64_MIN: Final = int(np.iinfo(np.int64).min)
"""NA of int64 columns (the NaT bit pattern): sorts before every timestamp."""
INT64_MAX: Final = int(np.iinfo(np.int64).max)
STAMPS: Final = 1
"""The timestamp column's position in every channel's schema (``seq`` is 0)."""

Rows = slice | np.ndarray
"""Rows of a window by position, 0 being the oldest appended: a range, or positions in
increasing order."""


def last_descent(stamps: np.ndarray, previous: int) -> int:
    """The position in ``stamps`` of the last timestamp older than the one before it (the first
    is compared with ``previous``, the stamp appended before them), or -1 if they are in order.

    A window is in time order exactly when no such row lies in it after its oldest row, so the
    frame remembers only the last one.
    """
    older = np.flatnonzero(stamps[1:] < stamps[:-1])
    if len(older):
        return int(older[-1]) + 1
    return 0 if len(stamps) and int(stamps[0]) < previous else -1


def put(data: np.ndarray, start: int, values: np.ndarray) -> None:
    """Write ``values`` into the ring ``data`` from physical slot ``start``, wrapping at the end."""
    first = min(len(values), len(data) - start)
    data[start:start + first] = values[:first]
    data[:len(values) - first] = values[first:]


def regrown(data: np.ndarray, head: int, count: int, capacity: int) -> np.ndarray:
    """A ring of ``capacity`` slots holding the ``count`` rows of ``data`` from slot ``head``,
    the oldest in slot 0."""
    out = np.empty(capacity, data.dtype)
    first = min(count, len(data) - head)
    out[:first] = data[head:head + first]
    out[first:count] = data[:count - first]
    return out


def leading_older(stamps: np.ndarray, head: int, count: int, cutoff: int) -> int:
    """How many of the oldest of ``count`` rows from slot ``head`` are older than ``cutoff``:
    probes grow geometrically, so the cost follows the number evicted, not the window."""
    k, step, capacity = 0, 64, len(stamps)
    while k < count:
        start = (head + k) % capacity
        chunk = stamps[start:start + min(step, count - k, capacity - start)]
        older = chunk < cutoff
        if not older.all():
            return k + int(np.argmin(older))
        k += len(chunk)
        step *= 2
    return k


def time_order(stamps: np.ndarray, seq: np.ndarray) -> np.ndarray:
    """The order ``Capture.frame`` and ``LiveFrame.snapshot`` give rows: by time, then ``seq``
    (NA last), then as appended."""
    return np.lexsort((np.where(seq == INT64_MIN, INT64_MAX, seq), stamps))


@dataclass(frozen=True, slots=True)
class RingView:
    """The live rows of a frame's columns where the ring holds them (valid under its lock).

    Attributes:
        data: the ring arrays, one per column of the channel's schema.
        head: physical slot of the oldest row.
        count: how many rows are live.
        ordered: whether their timestamps never decrease from the oldest row to the newest.
        floor: rows with an older timestamp are not in the window (the late rows a time window
            no longer covers; ``INT64_MIN`` for a row window).
    """

    data: list[np.ndarray]
    head: int
    count: int
    ordered: bool
    floor: int = INT64_MIN

    def segments(self, column: int) -> tuple[np.ndarray, np.ndarray]:
        """The live rows of ``column`` as two views, oldest first: the second is empty unless
        the rows wrap around the end of the array."""
        data = self.data[column]
        first = min(self.count, len(data) - self.head)
        return data[self.head:self.head + first], data[:self.count - first]

    def bounds(self) -> tuple[int, int] | None:
        """The oldest and the newest known timestamp of the window, or None if it has none."""
        least = max(self.floor, INT64_MIN + 1)
        if self.ordered:
            first = self._search(least, "left")
            return None if first == self.count else (self._stamp(first), self._stamp(-1))
        known = [s for s in self.segments(STAMPS) if len(s)]
        if known and min(int(k.min()) for k in known) < least:  # NA or expired rows: skip them
            known = [k for k in (s[s >= least] for s in known) if len(k)]
        if not known:
            return None
        return min(int(k.min()) for k in known), max(int(k.max()) for k in known)

    def between(self, lo: int, hi: int) -> Rows:
        """The rows of the window with ``lo <= timestamp <= hi`` (NA is ``INT64_MIN``)."""
        lo = max(lo, self.floor)
        if self.ordered:
            start = self._search(lo, "left")
            return slice(start, max(start, self._search(hi, "right")))
        older, newer = self.segments(STAMPS)
        return np.concatenate((np.flatnonzero((older >= lo) & (older <= hi)),
                               np.flatnonzero((newer >= lo) & (newer <= hi)) + len(older)))

    def newest(self, n: int) -> Rows:
        """At least the ``n`` newest rows of the window in time order: every row as new as the
        ``n``-th newest (more when several share its time)."""
        if self.ordered:
            return self.between(self._stamp(-n) if 0 < n < self.count else INT64_MIN, INT64_MAX)
        stamps = np.concatenate(self.segments(STAMPS))
        kept = stamps[stamps >= self.floor]
        if not 0 < n < len(kept):
            return self.between(INT64_MIN, INT64_MAX)
        return self.between(int(np.partition(kept, len(kept) - n)[len(kept) - n]), INT64_MAX)

    def copy(self, column: int, rows: Rows) -> np.ndarray:
        """A copy of ``rows`` of ``column``, in the order of ``rows``."""
        data = self.data[column]
        capacity = len(data)
        if isinstance(rows, slice):
            start, n = (self.head + rows.start) % capacity, rows.stop - rows.start
            if start + n <= capacity:
                return data[start:start + n].copy()
            return np.concatenate((data[start:], data[:start + n - capacity]))
        slots = rows + self.head
        slots[slots >= capacity] -= capacity
        out: np.ndarray = data[slots]
        return out

    def _stamp(self, row: int) -> int:
        """The timestamp of one row (negative: counted from the newest)."""
        stamps = self.data[STAMPS]
        return int(stamps[(self.head + row % self.count) % len(stamps)])

    def _search(self, value: int, side: Literal["left", "right"]) -> int:
        """``np.searchsorted`` over the live timestamps as one array (they must be in order)."""
        older, newer = self.segments(STAMPS)
        if len(newer) and (value > older[-1] or (side == "right" and value == older[-1])):
            return len(older) + int(np.searchsorted(newer, value, side))
        return int(np.searchsorted(older, value, side))


def limits(start: int | None, end: int | None, last: int | None,
           bounds: tuple[int, int] | None) -> tuple[int, int]:
    """The ``(lo, hi)`` of ``LiveFrame.arrays(start=, end=, last=)`` in int64 range: ``last``
    counts back from the newest timestamp of the window (``bounds``; none: an empty range)."""
    if last is not None:
        if bounds is None:
            return INT64_MAX, INT64_MIN
        start = bounds[1] - last
    lo = INT64_MIN if start is None else start
    hi = INT64_MAX if end is None else end
    return min(max(lo, INT64_MIN), INT64_MAX), min(max(hi, INT64_MIN), INT64_MAX)
