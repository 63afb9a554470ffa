"""What :meth:`LiveFrame.arrays <openagi_nb.stream.LiveFrame.arrays>` returns: some columns of
the rows in a time range, copied as the frame stores them, with what their codes stand for."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np
import pandas as pd

from ..model import Column, Kind
from ._ring import INT64_MIN, RingView, Rows, time_order

__all__ = ["Arrays", "Convert", "Dictionary", "Stored", "copied", "positions"]

Dictionary = tuple[list[str | None], int, int]
"""A string column's dictionary as read under the frame's lock: its values (code 0 is NA), its
generation, and how many of the values the codes read may use."""
Convert = Callable[[list[np.ndarray], list[Dictionary | None], int], pd.DataFrame]
"""How the frame turns every column of some rows into its declared DataFrame."""


class Stored(Protocol):
    """How a frame holds one column: its declaration, and its dictionary if it holds strings
    (``values`` with NA at 0, ``generation`` bumped when recoded)."""

    column: Column
    strings: Any


@dataclass(frozen=True)
class Arrays:
    """Columns of the rows of a LiveFrame's window in a time range, in :meth:`snapshot` order.

    ``arrays["value"]`` is a numpy array as stored: timestamps and integers ``int64`` with
    ``INT64_MIN`` for NA; floats ``float64`` with NaN; categories and booleans ``int8`` codes with
    -1 for NA; strings ``int32`` codes into the column's dictionary (:meth:`factor` gives them
    with -1 for NA and the values they stand for); lists as objects. Decode only what you show.

    Attributes:
        version: the frame's version when read (``LiveFrame.version``).
        bounds: the oldest and newest known timestamp (ns) of the whole window, not only of
            the rows read; None when the window has none. Views place their window with it.
        data: column name -> array, ``seq`` and ``timestamp`` always among them.
        columns: the declared column of each name in ``data``, in schema order.
        dictionaries: the dictionary of each string column in ``data``.
    """

    version: int
    bounds: tuple[int, int] | None
    data: dict[str, np.ndarray]
    columns: dict[str, Column]
    dictionaries: dict[str, Dictionary] = field(default_factory=dict)
    convert: Convert | None = field(default=None, repr=False, compare=False)
    """Set when every column was read: then :meth:`frame` can build the declared frame."""

    def __len__(self) -> int:
        return len(self.data["timestamp"])

    def __getitem__(self, name: str) -> np.ndarray:
        return self.data[name]

    def factor(self, name: str) -> tuple[np.ndarray, list[Any]]:
        """Codes of a string, category or boolean column with -1 for NA, and the value each
        code >= 0 stands for (a new array of codes: the caller may change it).

        Raises:
            ValueError: ``name`` holds another kind of values.
        """
        labels = self.labels(name)
        codes = self.data[name]
        return (codes - 1 if self.columns[name].kind is Kind.STRING else codes.copy()), labels

    def labels(self, name: str) -> list[Any]:
        """The value each code of ``factor(name)`` stands for.

        Raises:
            ValueError: ``name`` holds another kind of values.
        """
        column = self.columns[name]
        if column.kind is Kind.STRING:
            values, _, n = self.dictionaries[name]
            return values[1:n]
        if column.kind is Kind.CATEGORY:
            return list(column.categories)
        if column.kind is Kind.BOOL:
            return [False, True]
        raise ValueError(f"column {name!r} holds {column.kind.value} values, not codes")

    def notna(self, name: str) -> np.ndarray:
        """Which rows have a value in column ``name`` (a boolean mask)."""
        kind, data = self.columns[name].kind, self.data[name]
        mask: np.ndarray
        if kind is Kind.FLOAT:
            mask = ~np.isnan(data)
        elif kind is Kind.LIST:
            mask = np.fromiter((v is not None for v in data), bool, len(data))
        elif kind is Kind.INT or kind is Kind.TIMESTAMP:
            mask = data != INT64_MIN
        else:
            mask = data != 0 if kind is Kind.STRING else data >= 0
        return mask

    def code(self, name: str, value: Any) -> int:
        """The code of ``value`` in ``factor(name)`` (-1 when no row read holds it)."""
        try:
            return self.labels(name).index(value)
        except ValueError:
            return -1

    def take(self, rows: Rows) -> Arrays:
        """These ``rows`` only (positions or a slice of the rows read)."""
        return replace(self, data={name: a[rows] for name, a in self.data.items()})

    def in_time_order(self, rows: np.ndarray | None = None) -> Arrays:
        """These ``rows`` (positions; None: all) sorted as :meth:`LiveFrame.snapshot` sorts a
        window holding late rows."""
        stamps, seq = self.data["timestamp"], self.data["seq"]
        if rows is None or len(rows) == len(self):  # every row: no need to pick them first
            return self.take(time_order(stamps, seq))
        return self.take(rows[time_order(stamps[rows], seq[rows])])

    def frame(self) -> pd.DataFrame:
        """The rows as a DataFrame in the declared schema (``snapshot()`` cut to them).

        Raises:
            ValueError: not every column was read (``LiveFrame.arrays(names=None)``).
        """
        if self.convert is None:
            raise ValueError("a frame needs every column: read them with names=None")
        names = list(self.columns)
        newest = self.bounds[1] if self.bounds is not None else 0
        return self.convert([self.data[n] for n in names],
                            [self.dictionaries.get(n) for n in names], newest)


def positions(declared: Sequence[str], names: Iterable[str] | None, channel: str) -> Sequence[int]:
    """Where the columns ``names`` are in ``declared`` (a channel's schema), with ``seq`` and
    ``timestamp`` (the first two), in schema order; None: every column.

    Raises:
        ValueError: a name is not a column of ``channel``.
    """
    if names is None:
        return range(len(declared))
    position = {name: i for i, name in enumerate(declared)}
    wanted = list(names)
    unknown = [name for name in wanted if name not in position]
    if unknown:
        raise ValueError(f"{channel} has no column {unknown[0]!r}")
    return sorted({0, 1, *(position[name] for name in wanted)})


def copied(ring: RingView, rows: Rows, stores: dict[int, Stored], version: int,
           bounds: tuple[int, int] | None, convert: Convert | None
           ) -> tuple[Arrays, np.ndarray | None]:
    """Copies of ``rows`` of the columns at the positions ``stores`` names, with what their
    codes mean (and ``convert``, if that is every column): what ``LiveFrame.arrays`` does under
    the frame's lock.

    Rows a scan found (positions, not a range) are copied as the range they lie in, and
    returned too, relative to it: picking and sorting them can wait for the lock's release
    (``Arrays.in_time_order``), and one copy of a range is faster than a gather.
    """
    scanned = None
    if not isinstance(rows, slice):
        start = int(rows[0]) if len(rows) else 0
        scanned, rows = rows - start, slice(start, int(rows[-1]) + 1 if len(rows) else 0)
    return Arrays(
        version, bounds,
        {s.column.name: ring.copy(i, rows) for i, s in stores.items()},
        {s.column.name: s.column for s in stores.values()},
        {s.column.name: (s.strings.values, s.strings.generation, len(s.strings.values))
         for s in stores.values() if s.strings is not None},
        convert if len(stores) == len(ring.data) else None,
    ), scanned
