"""Parquet datasets partitioned by channel and by time, written as they grow, read lazily.

Layout (Hive partitioning, readable by pyarrow, DuckDB, Spark or Dask without our code)::

    out/channel=monitoring_events/hour=2026-01-05T09/part-0-0.parquet
    out/channel=monitoring_events/hour=2026-01-05T10/part-0-0.parquet
    out/_rejects.parquet

- **By time**: one directory per hour (``period="hour"``) or per day (``"day"``) of the events'
  timestamps, so a time range reads only its directories.
- **Within a file** rows are sorted by the channel's node column (:data:`NODE_COLUMNS`), then
  time, and written in row groups of :data:`ROW_GROUP` rows: the row groups' statistics then
  let a reader of a few nodes skip all but a few row groups.
- **Appendable**: a writer adds files ``part-<part>-<k>.parquet`` and never touches the others;
  ``convert`` adds the pieces of a recording as a new part.

:func:`open_dataset` gives a lazy view (:class:`~._open.Dataset`). No analysis here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..exceptions import CaptureError
from ..model import Channel

__all__ = [
    "NODE_COLUMNS", "PERIODS", "ROW_GROUP", "DatasetWriter", "Period", "period_in", "period_of",
]

Period = Literal["hour", "day"]
PERIODS: Final[dict[str, str]] = {"hour": "%Y-%m-%dT%H", "day": "%Y-%m-%d"}
"""How a period's directory is named (``hour=2026-01-05T09``, ``day=2026-01-05``); both sort
lexically in time order."""
_UNITS: Final[dict[str, Literal["h", "D"]]] = {"hour": "h", "day": "D"}
ROW_GROUP: Final = 16_384
"""Rows per row group: a node's hour of monitoring events (about 1,800 rows at 5 metrics every
10 s) fits one, so reading one node of 500 touches about 2% of a file."""
NODE_COLUMNS: Final[dict[Channel, str]] = {
    Channel.MONITORING: "node_id", Channel.NETWORK: "node_id", Channel.SECURITY: "node_id",
    Channel.CONSENSUS: "proposer",
}
"""The column ``nodes=`` filters on, and files are sorted by, per channel."""


def period_of(stamps: pa.ChunkedArray | pa.Array, period: Period) -> np.ndarray:
    """The period directory value of each timestamp (``"2026-01-05T09"``); NA stays ``""``."""
    ns = pc.fill_null(stamps.cast(pa.int64()), 0).to_numpy()
    floored = ns.astype("datetime64[ns]").astype(f"datetime64[{_UNITS[period]}]")
    text: np.ndarray = np.asarray(np.datetime_as_string(floored, unit=_UNITS[period]))
    return text


def period_in(out: Path) -> Period | None:
    """The period of the dataset at ``out`` (None: none yet, or the layout before periods)."""
    for directory in out.glob("channel=*/*=*"):
        key = directory.name.split("=", 1)[0]
        if key == "hour":
            return "hour"
        if key == "day":
            return "day"
    return None


class DatasetWriter:
    """Adds files to the dataset at ``out``, one per channel and period per :meth:`write`.

    Args:
        out: the dataset's directory (created).
        part: the number of this writer's files (``part-<part>-<k>``): one above the dataset's
            highest for an append (:func:`next_part`).
        period: ``"hour"`` or ``"day"`` directories.
        row_group: rows per row group.
    """

    def __init__(self, out: Path, part: int = 0, *, period: Period = "hour",
                 row_group: int = ROW_GROUP) -> None:
        if period not in PERIODS:
            raise ValueError(f"period must be 'hour' or 'day', got {period!r}")
        self.out, self.part, self.period, self.row_group = out, part, period, row_group
        self._written: dict[tuple[Channel, str], int] = {}

    def write(self, channel: Channel, table: pa.Table) -> None:
        """Write ``table`` (a channel's rows with its declared columns, as Arrow) into its
        periods' directories, a new file in each.

        Raises:
            CaptureError: a file cannot be written.
        """
        if not table.num_rows:
            return
        periods = period_of(table.column("timestamp"), self.period)
        values = np.unique(periods).tolist()
        for value in values:
            rows = table if len(values) == 1 else table.filter(pa.array(periods == value))
            self._file(channel, value, _sorted(channel, rows))

    def write_frame(self, channel: Channel, frame: pd.DataFrame) -> None:
        """:meth:`write` for a frame of the declared schema."""
        self.write(channel, pa.Table.from_pandas(frame, preserve_index=False))

    def _file(self, channel: Channel, value: str, table: pa.Table) -> None:
        key = (channel, value)
        k = self._written.get(key, 0)
        self._written[key] = k + 1
        directory = self.out / f"channel={channel.value}" / f"{self.period}={value}"
        try:
            directory.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, directory / f"part-{self.part}-{k}.parquet",
                           compression="zstd", row_group_size=self.row_group)
        except OSError as exc:
            raise CaptureError(f"cannot write Parquet dataset: {exc}", path=str(self.out)) from exc


def _sorted(channel: Channel, table: pa.Table) -> pa.Table:
    """By node, then time, then ``seq`` (nulls last), for row-group statistics that prune."""
    keys = [(name, "ascending", "at_end") for name in (NODE_COLUMNS[channel], "timestamp", "seq")
            if name in table.column_names]
    return table.take(pc.sort_indices(table, sort_keys=keys))
