"""Loading captures: :func:`load_capture` of one file, a directory of pieces, a glob or a Parquet
dataset, and :func:`iter_lines` for the replay server.

A bad line never stops a load: it lands in ``Capture.rejects`` with its line number, and so does
the damage of a cut or corrupt ``.jsonl.gz`` (one reject; every whole line before it loads).

Frames are made in ``openagi_nb/model/_columns.py``, as the live stream's are: blocks the Arrow
bulk reader takes (``_bulk.py``) and Parquet files through ``model.arrow_frame``, blocks read line
by line through ``model.to_frame``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pyarrow as pa

from ..exceptions import InvalidMessage
from ..model import (
    CHANNEL_OF_TYPE,
    CHANNELS,
    Channel,
    arrow_frame,
    columns,
    decode,
    empty_frame,
    flatten,
    parse,
    to_frame,
)
from ._bulk import decode_block
from ._capture import Capture, rejects_frame, sorted_frame
from ._parquet import read_dataset
from ._pieces import StrPath, is_dataset, pieces
from ._read import Blocks

__all__ = ["iter_lines", "load_capture", "load_files"]

Parts = dict[Channel, list[pa.Table | pd.DataFrame]]


def iter_lines(path: StrPath) -> Iterator[tuple[int, bytes]]:
    """Yield ``(line_number, raw_line)`` for every non-blank whole line of a capture (a file,
    a directory of pieces or a glob), skipping damage at the end of a file.

    Line numbers start at 1 in each file and count blank lines too, so they match an editor's.
    Of pieces, a message with a ``seq`` an earlier piece had is yielded once.
    """
    files = pieces(path)
    seen: set[int] | None = set() if len(files) > 1 else None
    for file in files:
        for first, block in Blocks(file):
            for number, line in enumerate(block.split(b"\n"), first):
                stripped = line.strip()
                if stripped and (seen is None or _first_time(stripped, seen)):
                    yield number, stripped


def _first_time(line: bytes, seen: set[int]) -> bool:
    try:
        seq = orjson.loads(line).get("seq")
    except (orjson.JSONDecodeError, AttributeError):
        return True
    if not isinstance(seq, int):
        return True
    if seq in seen:
        return False
    seen.add(seq)
    return True


def load_capture(path: StrPath, *, progress: Callable[[int], None] | None = None) -> Capture:
    """Load a capture: ``.jsonl``, ``.jsonl.gz``, a directory of such pieces (or a glob of
    them), or a Parquet dataset directory.

    Pieces load in time order (by name, which is their start time) as one capture; a message
    with the ``seq`` of one already loaded from another piece (a restarted recorder overlaps)
    is dropped.

    Args:
        path: the file, directory or glob.
        progress: called now and then with the number of bytes read so far (for a progress bar).

    Raises:
        CaptureError: the path cannot be read at all (missing, not gzip, unreadable Parquet).
            A bad *line* is not an error, nor is damage at the end of a ``.jsonl.gz`` (a cut
            recording): they go to ``Capture.rejects``.
    """
    p = Path(path)
    if is_dataset(p):
        return read_dataset(p)
    return load_files(pieces(path), str(path), progress)


def load_files(
    files: Sequence[Path], label: str, progress: Callable[[int], None] | None = None
) -> Capture:
    """Load ``files`` (in this order) as one capture named ``label``."""
    parts: Parts = {c: [] for c in CHANNELS}
    rejects: list[tuple[int, str, str]] = []
    control = done = 0
    for file in files:
        blocks = Blocks(file)
        found: list[tuple[int, str, str]] = []
        for first, block in blocks:
            control += _add_block(block, first, parts, found)
            done += len(block) + 1
            if progress is not None:
                progress(done)
        if blocks.reject is not None:
            found.append(blocks.reject)
        if len(files) > 1:
            found = [(line, raw, f"{file.name}: {reason}") for line, raw, reason in found]
        rejects += found
    frames = {c: _joined(parts[c], c, dedupe=len(files) > 1) for c in CHANNELS}
    return Capture(label, frames, rejects_frame(rejects), control, len(files))


def _add_block(block: bytes, first: int, parts: Parts, rejects: list[tuple[int, str, str]]
               ) -> int:
    """Decode one block into ``parts``; return the control messages it held."""
    decoded = decode_block(block)
    control = 0
    if decoded is None:
        decoded, control = _decode_lines(block, first, rejects, 0)
    for channel, part in decoded.items():
        if len(part):
            parts[channel].append(part)
    return control


def _decode_lines(
    block: bytes, first: int, rejects: list[tuple[int, str, str]], control: int
) -> tuple[dict[Channel, pd.DataFrame], int]:
    """Decode a block message by message; bad lines go to ``rejects`` with their numbers."""
    rows: dict[Channel, list[tuple[Any, ...]]] = {c: [] for c in CHANNELS}
    for number, line in enumerate(block.split(b"\n"), first):
        raw = line.strip()
        if not raw:
            continue
        try:
            obj = decode(raw)
            kind = obj.get("type")
            if not isinstance(kind, str) or kind not in CHANNEL_OF_TYPE:
                parse(raw)  # a control line (a recorded ack or pong) must still be valid
                control += 1
                continue
            channel, row = flatten(obj, raw)
        except InvalidMessage as exc:
            rejects.append((number, exc.raw, exc.reason))
            continue
        rows[channel].append(row)
    return {c: to_frame(c, _transpose(rows[c], c)) for c in CHANNELS}, control


def _joined(parts: list[pa.Table | pd.DataFrame], channel: Channel, *, dedupe: bool = False
            ) -> pd.DataFrame:
    """One frame from the parts of the blocks, in file order: runs of Arrow tables from the
    fast way are converted together, frames from the line-by-line way as they are."""
    frames: list[pd.DataFrame] = []
    run: list[pa.Table] = []
    for part in [*parts, None]:
        if isinstance(part, pa.Table):
            run.append(part)
            continue
        if run:
            frames.append(arrow_frame(channel, pa.concat_tables(run)))
            run = []
        if part is not None:
            frames.append(part)
    if not frames:
        return empty_frame(channel)
    df = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    return sorted_frame(drop_repeated(df) if dedupe else df)


def drop_repeated(df: pd.DataFrame, known: pd.Series | None = None) -> pd.DataFrame:
    """``df`` without the rows whose ``seq`` an earlier row (or ``known``) has; rows without a
    ``seq`` are all kept."""
    seq = df["seq"]
    repeated = seq.duplicated() & seq.notna()
    if known is not None:
        repeated |= seq.isin(known.dropna())
    return df[~repeated].reset_index(drop=True) if repeated.any() else df


def _transpose(rows: list[tuple[Any, ...]], channel: Channel) -> list[tuple[Any, ...]]:
    return list(zip(*rows, strict=True)) if rows else [() for _ in columns(channel)]
