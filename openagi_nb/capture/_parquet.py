"""Parquet datasets of captures, as ``convert`` writes and ``load_capture`` reads them: the
channels' files in the layout of :mod:`._dataset` (by channel, then hour) and
``_rejects[-<n>].parquet`` (the ``_`` hides it from dataset readers).

A dataset grows by parts: :func:`write_parts` adds part ``n`` without touching the others, which
is how ``convert`` appends the new pieces of a recording. Datasets written before the hour
directories (``channel=<name>/part-<n>.parquet``) are read alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..exceptions import CaptureError
from ..model import CHANNELS, Channel, arrow_frame, empty_frame
from ._capture import Capture, rejects_frame, sorted_frame
from ._dataset import DatasetWriter, Period

__all__ = ["REJECTS_FILE", "known_seqs", "next_part", "read_dataset", "write_parts"]

REJECTS_FILE: Final = "_rejects.parquet"
"""Where part 0 keeps the rejects; part ``n`` uses ``_rejects-<n>.parquet``."""


def write_parts(frames: dict[Channel, pd.DataFrame], rejects: pd.DataFrame, out: Path,
                part: int, period: Period = "hour") -> None:
    """Write ``frames`` and ``rejects`` as part ``part`` of the dataset at ``out``.

    Raises:
        CaptureError: the directory or a file cannot be written.
    """
    writer = DatasetWriter(out, part, period=period)
    try:
        out.mkdir(parents=True, exist_ok=True)
        for channel in CHANNELS:
            (out / f"channel={channel.value}").mkdir(exist_ok=True)  # even with no rows
            writer.write_frame(channel, frames[channel])
        name = REJECTS_FILE if part == 0 else f"_rejects-{part}.parquet"
        pq.write_table(pa.Table.from_pandas(rejects, preserve_index=False), out / name)
    except OSError as exc:
        raise CaptureError(f"cannot write Parquet dataset: {exc}", path=str(out)) from exc


def next_part(out: Path) -> int:
    """The number of the next part of the dataset at ``out`` (0 for a new one)."""
    numbers = [int(number) for f in out.glob("channel=*/**/part-*.parquet")
               if (number := f.stem.removeprefix("part-").split("-")[0]).isdigit()]
    return max(numbers, default=-1) + 1


def known_seqs(out: Path, channel: Channel) -> pd.Series:
    """The ``seq`` column of ``channel`` in the dataset at ``out`` (read alone: cheap)."""
    files = _parts(out, channel)
    if not files:
        return pd.Series([], dtype="Int64")
    table = pa.concat_tables([pq.read_table(f, columns=["seq"]) for f in files])
    return pd.Series(table.column("seq").to_numpy(zero_copy_only=False), dtype="Int64")


def _parts(out: Path, channel: Channel) -> list[Path]:
    directory = out / f"channel={channel.value}"
    return sorted(directory.rglob("*.parquet")) if directory.is_dir() else []


def read_dataset(directory: Path) -> Capture:
    """Load the dataset at ``directory`` into a :class:`Capture`."""
    frames: dict[Channel, pd.DataFrame] = {}
    try:
        for channel in CHANNELS:
            files = _parts(directory, channel)
            if not files:
                frames[channel] = empty_frame(channel)
                continue
            table = pa.concat_tables([pq.read_table(f) for f in files])
            frames[channel] = sorted_frame(arrow_frame(channel, table))
        found = sorted(directory.glob("_rejects*.parquet"))
        rejects = (
            pd.concat([pq.read_table(f).to_pandas() for f in found], ignore_index=True)
            if found else rejects_frame([])
        )
    except (OSError, pa.ArrowException, ValueError) as exc:
        raise CaptureError(f"cannot read Parquet dataset: {exc}", path=str(directory)) from exc
    return Capture(str(directory), frames, rejects)
