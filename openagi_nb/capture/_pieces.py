"""What a capture path names: one file, a directory of pieces, a glob, or a Parquet dataset.

A long recording is written as pieces ``DIR/<start time>.jsonl.gz`` (see ``_write.py``); their
names sort in time order, so the pieces of a directory or a glob are taken sorted by name.
"""

from __future__ import annotations

import glob
from datetime import UTC, datetime
from os import PathLike
from pathlib import Path
from typing import Final

from ..exceptions import CaptureError

__all__ = ["PIECE_SUFFIXES", "StrPath", "is_dataset", "piece_name", "pieces"]

StrPath = str | PathLike[str]
PIECE_SUFFIXES: Final = (".jsonl", ".jsonl.gz")
_GLOB: Final = frozenset("*?[")


def is_dataset(path: Path) -> bool:
    """Whether ``path`` is a Parquet dataset directory written by ``convert``."""
    return path.is_dir() and any(path.glob("channel=*"))


def pieces(path: StrPath) -> list[Path]:
    """The capture files ``path`` names, in time order: itself, the ``.jsonl[.gz]`` files of a
    directory, or the matches of a glob (``"rec/2026-01-0*.jsonl.gz"``).

    Raises:
        CaptureError: nothing there, or a directory or glob with no capture files.
    """
    p = Path(path)
    if p.is_file():
        return [p]
    if p.is_dir():
        found = [f for f in p.iterdir() if f.is_file() and f.name.endswith(PIECE_SUFFIXES)]
        if not found:
            raise CaptureError("not a capture: no .jsonl(.gz) pieces and no channel=<name> "
                               "directories", path=str(p))
        return sorted(found)
    if _GLOB & set(str(path)):
        found = [Path(f) for f in glob.glob(str(path)) if Path(f).is_file()]
        if not found:
            raise CaptureError("no capture files match", path=str(path))
        return sorted(found)
    raise CaptureError("no such file", path=str(p))


def piece_name(directory: Path, suffix: str, now: datetime | None = None) -> Path:
    """A new piece's path: its start time (UTC, sortable, no ``:`` for Windows), made unique."""
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H-%M-%S.%fZ")
    path = directory / f"{stamp}{suffix}"
    n = 1
    while path.exists():
        path = directory / f"{stamp}-{n}{suffix}"
        n += 1
    return path
