"""``convert``: a capture to a Parquet dataset; the pieces of a recording appended as they come.

Converting a directory (or glob) of pieces records in ``_pieces.json`` which pieces, at which
size, the dataset holds. Converting the directory again adds only the pieces that are new or
have grown since (the one being recorded), as a new part; the messages of a grown piece that
the dataset has already (by ``seq``) are dropped, so nothing is rewritten and nothing doubled.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Final

from ..exceptions import CaptureError
from ..model import CHANNELS
from ._capture import Capture
from ._dataset import PERIODS, Period, period_in
from ._load import drop_repeated, load_capture, load_files
from ._parquet import known_seqs, next_part, write_parts
from ._pieces import StrPath, is_dataset, pieces

__all__ = ["MANIFEST", "convert"]

MANIFEST: Final = "_pieces.json"


def convert(capture: StrPath | Capture, out_dir: StrPath, *, period: Period = "hour") -> Path:
    """Write a capture as a Hive-partitioned Parquet dataset:
    ``out_dir/channel=<name>/hour=<YYYY-MM-DDTHH>/`` (``period="day"``: ``day=<YYYY-MM-DD>``).

    Each channel's directory holds files in that channel's schema, readable by pyarrow, DuckDB
    or Dask without our code (layout: :mod:`._dataset`); the rejects go to
    ``_rejects*.parquet``, which dataset readers skip. :func:`load_capture` and
    :func:`open_dataset` of ``out_dir`` give frames equal to those of the source.

    A file or a :class:`Capture` replaces what ``out_dir`` held. A directory or glob of pieces
    appends, to a dataset made from those pieces before, only the pieces it does not hold yet
    (in the dataset's own period).

    Raises:
        CaptureError: the source cannot be read, or ``out_dir`` written.
    """
    out = Path(out_dir)
    if period not in PERIODS:
        raise ValueError(f"period must be 'hour' or 'day', got {period!r}")
    if isinstance(capture, Capture):
        return _replace(capture, out, None, period)
    source = Path(capture)
    if source.is_file() or is_dataset(source):
        return _replace(load_capture(source), out, None, period)
    files = pieces(capture)
    held = _manifest(out)
    if held is None:
        return _replace(load_files(files, str(capture)), out, _sizes(files), period)
    new = [f for f in files if held.get(f.name) != f.stat().st_size]
    if new:
        cap = load_files(new, str(capture))
        frames = {c: drop_repeated(cap.frames[c], known_seqs(out, c)) for c in CHANNELS}
        write_parts(frames, cap.rejects, out, next_part(out), period_in(out) or period)
        _write_manifest(out, {**held, **_sizes(new)})
    return out


def _replace(cap: Capture, out: Path, sizes: dict[str, int] | None, period: Period) -> Path:
    """Write ``cap`` as the whole dataset at ``out``: the parts it had are removed."""
    try:
        for old in [*out.glob("channel=*/**/part-*.parquet"), *out.glob("_rejects*.parquet"),
                    out / MANIFEST]:
            old.unlink(missing_ok=True)
        for empty in sorted(out.glob("channel=*/*=*"), reverse=True):
            if empty.is_dir() and not any(empty.iterdir()):
                empty.rmdir()
    except OSError as exc:
        raise CaptureError(f"cannot replace Parquet dataset: {exc}", path=str(out)) from exc
    write_parts(cap.frames, cap.rejects, out, 0, period)
    if sizes is not None:
        _write_manifest(out, sizes)
    return out


def _sizes(files: list[Path]) -> dict[str, int]:
    return {f.name: f.stat().st_size for f in files}


def _manifest(out: Path) -> dict[str, int] | None:
    path = out / MANIFEST
    if not (is_dataset(out) and path.is_file()):
        return None
    try:
        held = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CaptureError(f"cannot read {MANIFEST}: {exc}", path=str(out)) from exc
    return {str(k): int(v) for k, v in held.items()}


def _write_manifest(out: Path, sizes: dict[str, int]) -> None:
    try:
        (out / MANIFEST).write_text(json.dumps(sizes, indent=1, sort_keys=True))
    except OSError as exc:
        raise CaptureError(f"cannot write {MANIFEST}: {exc}", path=str(out)) from exc
