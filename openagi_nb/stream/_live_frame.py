"""LiveFrame: a bounded columnar buffer of one channel's events, read as pandas snapshots.

The stream's thread appends rows (``model.flatten``) or Arrow batches of rows
(:meth:`LiveFrame.extend_arrow`, encoded a column at a time by ``_stores``); notebook code and
widgets take :meth:`LiveFrame.snapshot` (the window) or :meth:`LiveFrame.since` (what is new)
from any thread.
Rows live in preallocated numpy columns laid out as a ring, in the declared schema:

- timestamps and integers as ``int64`` with ``INT64_MIN`` for NA (the NaT bit pattern);
- floats as ``float64`` (NaN for NA); booleans and category codes as ``int8`` (-1 for NA);
- strings as ``int32`` codes into a per-column dictionary (0 for NA), so a ``node_id`` repeated
  a million times costs 4 bytes a row and a snapshot converts each distinct string once;
- lists (``network_partition.nodes``) as Python objects.

Appends are batched: rows wait in a short list and are written to the columns in blocks, or as
soon as a reader asks (or an Arrow batch comes), so readers see every appended row. One lock
guards it all; a snapshot holds it only to copy the live slots, and converts to pandas after,
with ``model.from_numpy`` and ``model.assemble`` (``openagi_nb/model/_columns.py``): the
conversion a capture's frames share. :meth:`LiveFrame.arrays` copies only the rows of a time
range, found by binary search (``_ring``), as numpy columns.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa

from ..model import Channel, assemble, columns
from ._arrays import Arrays, copied, positions
from ._ring import (
    INT64_MIN,
    RingView,
    Rows,
    last_descent,
    leading_older,
    limits,
    put,
    regrown,
    time_order,
)
from ._stores import _Store
from ._window import Window, parse_window

__all__ = ["LiveFrame", "Window"]

_BATCH: Final = 1024
_FIRST_CAPACITY: Final = 4096


class LiveFrame:
    """The newest events of one channel, bounded by rows or by time, in the declared schema.

    Thread-safe: one thread (the stream's) appends, any thread reads. ``snapshot()`` and
    ``Capture.frame()`` of the same messages are equal, column for column and dtype for dtype.

    Args:
        channel: ``"monitoring_events"``...
        window: keep at most this many rows (an ``int``), or the events no older than this span
            before the newest event's timestamp (``"15min"``, a ``timedelta``).
        max_rows: with a time window, also keep at most this many rows (default: no limit).
    """

    def __init__(self, channel: str, window: Window = 1_000_000, *,
                 max_rows: int | None = None) -> None:
        self.channel = Channel(channel)
        self.window = window
        rows, self._span = parse_window(window)
        if max_rows is not None and max_rows < 1:
            raise ValueError(f"max_rows must be at least 1, got {max_rows}")
        self._max_rows = rows if rows is not None else max_rows
        self._stores = [_Store(c) for c in columns(self.channel)]
        self._width = len(self._stores)
        self._lock = threading.Lock()
        self._pending: list[tuple[Any, ...]] = []
        self._capacity = min(_FIRST_CAPACITY, self._max_rows or _FIRST_CAPACITY)
        self._data = [np.empty(self._capacity, s.dtype) for s in self._stores]
        self._head = 0  # physical slot of the oldest live row
        self._count = 0  # live rows
        self._total = 0  # rows ever appended: the version
        self._newest = INT64_MIN  # newest event timestamp seen (ns)
        self._descent, self._last_stamp = 0, INT64_MIN  # the last late row (see _ring)
        self.dropped = 0  # rows with a value a column cannot hold (never from flatten)

    # --- writing (the stream's thread) ---------------------------------------------------

    def append(self, row: tuple[Any, ...]) -> None:
        """Add one row as ``model.flatten`` gives it (one value per declared column, already
        validated: the hot path checks nothing more than the width).

        Raises:
            ValueError: the row has the wrong width; nothing is added then.
        """
        if len(row) != self._width:
            self._check_width(row)
        with self._lock:
            pending = self._pending
            pending.append(row)
            if len(pending) >= _BATCH:
                self._commit()

    def extend(self, rows: Iterable[Sequence[Any]]) -> None:
        """Add many rows (see :meth:`append`); all are checked before any is added."""
        batch = [tuple(r) for r in rows]
        for row in batch:
            self._check_width(row)
        with self._lock:
            self._pending.extend(batch)
            self._commit()

    def _check_width(self, row: Sequence[Any]) -> None:
        if len(row) != self._width:
            raise ValueError(f"{self.channel}: expected {self._width} values, got {len(row)}")

    def extend_arrow(self, batch: pa.RecordBatch | pa.Table) -> None:
        """Add the rows of an Arrow batch of this channel (``docs/protocol.md`` section 14.5):
        its columns, named as declared, are encoded whole into the frame's layout (see
        ``_stores``), with no Python object per row, and stored as :meth:`extend` stores the
        same rows, after the rows appended before. Declared columns it lacks are all NA.

        Rows a row window drops at once are not encoded, as with :meth:`extend`.

        Raises:
            ValueError: a column the schema does not declare (or twice), of an Arrow type its
                column does not take, or a category value outside its closed set; nothing is
                added then.
        """
        names = batch.schema.names
        declared = {s.column.name for s in self._stores}
        if len(set(names)) != len(names) or not declared.issuperset(names):
            wrong = sorted({n for n in names if n not in declared or names.count(n) > 1})
            raise ValueError(f"{self.channel}: columns not in the schema or repeated: {wrong}")
        appended = batch.num_rows
        if not appended:
            return
        with self._lock:
            self._commit()  # rows appended before come first
            if self._max_rows is not None and appended > self._max_rows:
                batch = batch.slice(appended - self._max_rows)
            try:
                encoded = [s.encode_arrow(batch.column(s.column.name)) if s.column.name in names
                           else np.full(batch.num_rows, s.na, s.dtype) for s in self._stores]
            except (TypeError, ValueError, OverflowError, pa.ArrowException) as error:
                raise ValueError(f"{self.channel}: {error}") from error
            self._store(encoded, appended)

    def _commit(self) -> None:
        """Write the pending rows into the columns (lock held)."""
        rows, self._pending = self._pending, []
        if not rows:
            return
        appended = len(rows)
        if self._max_rows is not None and appended > self._max_rows:
            rows = rows[-self._max_rows:]
        try:
            encoded = self._encode(rows)
        except (TypeError, ValueError, OverflowError, KeyError):  # a row not from flatten
            valid = [row for row in rows if self._encodes(row)]
            self.dropped += len(rows) - len(valid)
            appended -= len(rows) - len(valid)
            rows = valid
            encoded = self._encode(rows) if rows else []
        self._store(encoded, appended)

    def _store(self, encoded: list[np.ndarray], appended: int) -> None:
        """Write encoded rows (one array per column, no more than the row window) into the
        columns, as the newest of ``appended`` rows, evicting what leaves the window (lock
        held)."""
        self._total += appended
        m = len(encoded[0]) if encoded else 0
        if not m:
            return
        self._make_room(m)
        tail = (self._head + self._count) % self._capacity
        for data, values in zip(self._data, encoded, strict=True):
            put(data, tail, values)
        self._count += m
        self._newest = max(self._newest, int(encoded[1].max()))
        late = last_descent(encoded[1], self._last_stamp)  # range reads need to know
        self._descent = self._total - m + late if late >= 0 else self._descent
        self._last_stamp = int(encoded[1][-1])
        if self._span is not None:
            self._evict(leading_older(self._data[1], self._head, self._count,
                                          self._newest - self._span))
        self._compact_strings()

    def _encode(self, rows: list[tuple[Any, ...]]) -> list[np.ndarray]:
        cols = zip(*rows, strict=True)
        return [store.encode(values) for store, values in zip(self._stores, cols, strict=True)]

    def _encodes(self, row: tuple[Any, ...]) -> bool:
        try:  # only asked when a whole batch could not be stored
            self._encode([row])
        except (TypeError, ValueError, OverflowError, KeyError):
            return False
        return True

    def _make_room(self, m: int) -> None:
        """Grow the ring (doubling, up to the row window), else evict the oldest rows."""
        needed = self._count + m
        if needed > self._capacity and self._capacity != self._max_rows:
            capacity = max(2 * self._capacity, needed)
            if self._max_rows is not None:
                capacity = min(capacity, self._max_rows)
            self._data = [regrown(data, self._head, self._count, capacity) for data in self._data]
            self._head, self._capacity = 0, capacity
        if needed > self._capacity:
            self._evict(needed - self._capacity)

    def _evict(self, n: int) -> None:
        n = min(n, self._count)
        if n:
            for data in self._data:
                if data.dtype == object:  # let evicted lists go now, not when overwritten
                    put(data, self._head, np.full(n, None, dtype=object))
            self._head = (self._head + n) % self._capacity
            self._count -= n

    def _compact_strings(self) -> None:
        """Drop dictionary values no live row uses once they outnumber the rows well: each
        pass is O(rows) and follows at least as many new values, so appends stay O(1)."""
        for store, data in zip(self._stores, self._data, strict=True):
            strings = store.strings
            if strings is not None and len(strings.values) > 2 * self._count + 4096:
                put(data, self._head, strings.compact(self._live(data)))

    def _live(self, data: np.ndarray, skip: int = 0) -> np.ndarray:
        """A copy of the live rows of one column, oldest first, from logical row ``skip``."""
        start = (self._head + skip) % self._capacity
        n = self._count - skip
        if start + n <= self._capacity:
            return data[start:start + n].copy()
        return np.concatenate((data[start:], data[:start + n - self._capacity]))

    # --- reading (any thread) ------------------------------------------------------------

    @property
    def version(self) -> int:
        """How many rows were ever appended: compare with the last one seen to know whether a
        view needs a refresh (evictions only happen when rows are appended)."""
        with self._lock:
            self._commit()
            return self._total

    def __len__(self) -> int:
        with self._lock:
            self._commit()
            return self._count

    def snapshot(self) -> pd.DataFrame:
        """The rows in the window as a new DataFrame in the declared schema, sorted by time.

        Safe while appends continue: it sees a consistent set of whole rows.
        """
        return self.since(0)[1]

    def since(self, version: int) -> tuple[int, pd.DataFrame]:
        """The rows appended after ``version`` that are still in the window, and the version
        they bring the caller to: pass it to the next call to get only what is new."""
        with self._lock:  # held to copy only; the conversion to pandas happens after
            self._commit()
            oldest = self._total - self._count
            skip = min(max(version, oldest) - oldest, self._count)
            data = [self._live(d, skip) for d in self._data]
            strings = [None if s.strings is None else
                       (s.strings.values, s.strings.generation, len(s.strings.values))
                       for s in self._stores]
            now, newest = self._total, self._newest
        return now, self._frame(data, strings, newest)

    def _frame(self, data: list[np.ndarray], strings: list[Any], newest: int) -> pd.DataFrame:
        stamps = data[1]
        if not bool(np.all(stamps[1:] >= stamps[:-1])):
            data = self._in_order(data, newest)
        return assemble(self.channel, [
            store.decode(d, s) for store, d, s in zip(self._stores, data, strings, strict=True)
        ])

    def _in_order(self, data: list[np.ndarray], newest: int) -> list[np.ndarray]:
        """Late rows: sort as ``Capture.frame`` does (time, then seq with NA last, stable) and,
        with a time window, drop the late rows it no longer covers."""
        stamps, seq = data[1], data[0]
        order = time_order(stamps, seq)
        if self._span is not None:
            order = order[stamps[order] >= newest - self._span]
        return [d[order] for d in data]

    # --- reading a time range (any thread) -----------------------------------------------

    def arrays(self, names: Iterable[str] | None = None, *, start: int | None = None,
               end: int | None = None, last: int | None = None) -> Arrays:
        """The rows with ``start <= timestamp <= end`` (ns, None: open) or in the ``last`` ns
        of the window, in :meth:`snapshot` order, as stored numpy columns (``_arrays``).

        For each refresh of a view of part of the window: only those rows of the ``names``
        columns (None: all; ``seq``, ``timestamp`` always) are copied under the lock, found by
        binary search (``_ring``). Rows with no timestamp come only with no start or last.

        Raises:
            ValueError: an unknown column, or both ``start`` and ``last``.
        """
        if start is not None and last is not None:
            raise ValueError("give start or last, not both")
        picked = positions([s.column.name for s in self._stores], names, self.channel)
        return self._read(picked, lambda ring, bounds: ring.between(
            *limits(start, end, last, bounds)))

    def tail(self, n: int) -> pd.DataFrame:
        """The last ``n`` rows of :meth:`snapshot` (indexed from 0), converting only them: what
        a table of the newest events shows on every refresh."""
        found = self._read(range(self._width), lambda ring, _: ring.newest(n))
        return found.take(slice(max(len(found) - n, 0), None)).frame()

    def _read(self, picked: Sequence[int],
              rows: Callable[[RingView, tuple[int, int] | None], Rows]) -> Arrays:
        """Copies of the ``rows`` of the ``picked`` columns (only the copy holds the lock)."""
        with self._lock:
            self._commit()
            floor = INT64_MIN if self._span is None else max(self._newest - self._span, INT64_MIN)
            ordered = self._descent <= self._total - self._count
            ring = RingView(self._data, self._head, self._count, ordered, floor)
            bounds = ring.bounds()
            read, scanned = copied(ring, rows(ring, bounds), {i: self._stores[i] for i in picked},
                                   self._total, bounds, self._frame)
        return read if scanned is None else read.in_time_order(scanned)

    def __repr__(self) -> str:
        return (f"<LiveFrame {self.channel.value}: {self._count + len(self._pending)} rows, "
                f"window={self.window!r}>")
