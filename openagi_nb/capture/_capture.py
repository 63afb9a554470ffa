"""Captures: the messages exactly as received, one JSON object per line, and their Parquet form.

- :func:`load_capture` reads ``.jsonl``, ``.jsonl.gz`` or a Parquet dataset directory (written
  by :func:`convert`) into a :class:`Capture` whose frames have the declared schema of their
  channel, the same as the live stream's.
- :class:`CaptureWriter` appends raw messages (gzip when the name ends in ``.gz``), flushing at
  least once a second and on close, so a crashed recording loses at most a second.
- :func:`iter_lines` yields the raw lines with their numbers, for the replay server.

A bad line never stops a load: it lands in ``Capture.rejects`` with its line number.

Frames are made in ``openagi_nb/model/_columns.py``, as the live stream's are: blocks the Arrow
bulk reader takes (``_bulk.py``) and Parquet files through ``model.arrow_frame``, blocks read line
by line through ``model.to_frame``.
"""

from __future__ import annotations

import gzip
import io
import math
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from types import TracebackType
from typing import IO, Any, BinaryIO, Final

import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..exceptions import CaptureError, InvalidMessage
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

__all__ = ["Capture", "CaptureWriter", "convert", "iter_lines", "load_capture"]

StrPath = str | PathLike[str]
REJECT_COLUMNS: Final = ("line", "raw", "reason")
REJECTS_FILE: Final = "_rejects.parquet"
"""Where :func:`convert` keeps the rejects; the ``_`` prefix hides it from dataset readers."""
_CHUNK: Final = 1 << 20
_BLOCK: Final = 4 << 20


def iter_lines(path: StrPath) -> Iterator[tuple[int, bytes]]:
    """Yield ``(line_number, raw_line)`` for every non-blank line of a ``.jsonl[.gz]`` capture.

    Line numbers start at 1 and count blank lines too, so they match an editor's.
    """
    for first, block in iter_blocks(path):
        for number, line in enumerate(block.split(b"\n"), first):
            stripped = line.strip()
            if stripped:
                yield number, stripped


def iter_blocks(path: StrPath) -> Iterator[tuple[int, bytes]]:
    """Yield ``(first_line_number, block)``: the capture's bytes in blocks of whole lines."""
    try:
        with _open_read(Path(path)) as f:
            first, rest = 1, b""
            while chunk := f.read(_BLOCK):
                chunk = rest + chunk
                cut = chunk.rfind(b"\n") + 1
                block, rest = chunk[:cut], chunk[cut:]
                if block:
                    yield first, block[:-1]
                    first += block.count(b"\n")
            if rest:
                yield first, rest
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise CaptureError(f"cannot read capture: {exc}", path=str(path)) from exc


def _open_read(path: Path) -> IO[bytes]:
    if path.suffix == ".gz":
        return io.BufferedReader(gzip.GzipFile(path, "rb"), _CHUNK)
    return open(path, "rb", buffering=_CHUNK)


@dataclass(frozen=True)
class Capture:
    """A loaded capture: per-channel frames in the declared schema, sorted by time.

    Frames are returned as shallow copies: with pandas' copy-on-write a caller may modify what it
    gets without changing the capture.
    """

    path: str
    frames: dict[Channel, pd.DataFrame]
    rejects: pd.DataFrame
    control_messages: int = 0

    @property
    def channels(self) -> tuple[Channel, ...]:
        """The channels that have at least one event in this capture."""
        return tuple(c for c in CHANNELS if len(self.frames[c]))

    def frame(self, channel: str) -> pd.DataFrame:
        """The events of ``channel`` (``"monitoring_events"``...) in its declared schema."""
        try:
            return self.frames[Channel(channel)].copy(deep=False)
        except ValueError:
            raise ValueError(f"unknown channel {channel!r}") from None

    def __len__(self) -> int:
        return sum(len(f) for f in self.frames.values())

    def __repr__(self) -> str:
        counts = ", ".join(f"{c.value}={len(self.frames[c])}" for c in self.channels)
        return f"<Capture {self.path!r}: {counts or 'empty'}; {len(self.rejects)} rejects>"


def load_capture(path: StrPath, *, progress: Callable[[int], None] | None = None) -> Capture:
    """Load a capture from ``.jsonl``, ``.jsonl.gz`` or a Parquet dataset directory.

    Args:
        path: the file or directory.
        progress: called now and then with the number of bytes read so far (for a progress bar).

    Raises:
        CaptureError: the path cannot be read at all (missing, not gzip, unreadable Parquet).
            A bad *line* is not an error: it goes to ``Capture.rejects``.
    """
    p = Path(path)
    if p.is_dir():
        return _load_parquet(p)
    if not p.exists():
        raise CaptureError("no such file", path=str(p))
    parts: dict[Channel, list[pa.Table | pd.DataFrame]] = {c: [] for c in CHANNELS}
    rejects: list[tuple[int, str, str]] = []
    control = done = 0
    for first, block in iter_blocks(p):
        decoded = decode_block(block)
        if decoded is None:
            decoded, control = _decode_lines(block, first, rejects, control)
        for channel, part in decoded.items():
            if len(part):
                parts[channel].append(part)
        done += len(block) + 1
        if progress is not None:
            progress(done)
    return Capture(str(p), {c: _joined(parts[c], c) for c in CHANNELS},
                   _rejects_frame(rejects), control)


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


def _joined(parts: list[pa.Table | pd.DataFrame], channel: Channel) -> pd.DataFrame:
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
    return _sorted(frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True))


def _transpose(rows: list[tuple[Any, ...]], channel: Channel) -> list[tuple[Any, ...]]:
    return list(zip(*rows, strict=True)) if rows else [() for _ in columns(channel)]


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    if df["timestamp"].is_monotonic_increasing:
        return df
    return df.sort_values(["timestamp", "seq"], kind="stable", na_position="last").reset_index(
        drop=True
    )


def _rejects_frame(rejects: Iterable[tuple[int, str, str]]) -> pd.DataFrame:
    cols = list(zip(*rejects, strict=True)) or [(), (), ()]
    return pd.DataFrame({
        "line": pd.array(cols[0], dtype="Int64"),
        "raw": pd.array(cols[1], dtype="string"),
        "reason": pd.array(cols[2], dtype="string"),
    })


# --- Parquet ------------------------------------------------------------------------------


def convert(capture: StrPath | Capture, out_dir: StrPath) -> Path:
    """Write a capture as a Hive-partitioned Parquet dataset: ``out_dir/channel=<name>/``.

    Each channel's directory holds one file in that channel's schema, readable by pyarrow, DuckDB
    or Dask without our code; the rejects go to ``_rejects.parquet``, which dataset readers skip.
    :func:`load_capture` of ``out_dir`` gives frames equal to those of the source.
    """
    cap = capture if isinstance(capture, Capture) else load_capture(capture)
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        for channel in CHANNELS:
            part = out / f"channel={channel.value}"
            part.mkdir(exist_ok=True)
            table = pa.Table.from_pandas(cap.frames[channel], preserve_index=False)
            pq.write_table(table, part / "part-0.parquet", compression="zstd")
        pq.write_table(
            pa.Table.from_pandas(cap.rejects, preserve_index=False), out / REJECTS_FILE
        )
    except OSError as exc:
        raise CaptureError(f"cannot write Parquet dataset: {exc}", path=str(out)) from exc
    return out


def _load_parquet(directory: Path) -> Capture:
    frames: dict[Channel, pd.DataFrame] = {}
    try:
        for channel in CHANNELS:
            part = directory / f"channel={channel.value}"
            files = sorted(part.glob("*.parquet")) if part.is_dir() else []
            if not files:
                frames[channel] = empty_frame(channel)
                continue
            table = pa.concat_tables([pq.read_table(f) for f in files])
            frames[channel] = _sorted(arrow_frame(channel, table))
        rejects_path = directory / REJECTS_FILE
        rejects = (
            pq.read_table(rejects_path).to_pandas() if rejects_path.exists()
            else _rejects_frame([])
        )
    except (OSError, pa.ArrowException, ValueError) as exc:
        raise CaptureError(f"cannot read Parquet dataset: {exc}", path=str(directory)) from exc
    if not any(len(f) for f in frames.values()) and not any(directory.glob("channel=*")):
        raise CaptureError("not a capture: no channel=<name> directories", path=str(directory))
    return Capture(str(directory), frames, rejects)


# --- writing ------------------------------------------------------------------------------


class CaptureWriter:
    """Append raw messages to a capture, one per line; gzip when the name ends in ``.gz``.

    Thread-safe. Flushes every ``flush_every`` seconds while messages come (and whenever
    :meth:`flush_if_due` is called on a timer) and on :meth:`close`, so a crash loses at most
    that much. The gzip header carries no time or name; with ``flush_every=None`` (flush only on
    close) the same messages always give the same bytes, as timed flushes change the compressed
    stream.
    """

    def __init__(self, path: StrPath, *, flush_every: float | None = 1.0) -> None:
        self.path = Path(path)
        self.flush_every = math.inf if flush_every is None else flush_every
        self._lock = threading.Lock()
        self._last_flush = time.monotonic()
        self.written = 0
        try:
            self._raw: BinaryIO = open(self.path, "wb")  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise CaptureError(f"cannot open for writing: {exc}", path=str(self.path)) from exc
        self._gzip = (
            gzip.GzipFile(filename="", mode="wb", fileobj=self._raw, mtime=0)
            if self.path.suffix == ".gz" else None
        )
        self._out: BinaryIO | gzip.GzipFile = self._gzip or self._raw

    def write(self, message: str | bytes) -> None:
        """Append one message exactly as received (re-encoded only if it spans lines)."""
        data = message.encode() if isinstance(message, str) else bytes(message)
        if b"\n" in data or b"\r" in data:
            try:
                data = orjson.dumps(orjson.loads(data))
            except orjson.JSONDecodeError:
                raise InvalidMessage(
                    "not JSON, and spans lines: cannot be kept as one line of a capture",
                    code="bad_json", raw=data,
                ) from None
        with self._lock:
            self._out.write(data + b"\n")
            self.written += 1
            if time.monotonic() - self._last_flush >= self.flush_every:
                self._flush()

    def write_all(self, messages: Iterable[str | bytes]) -> int:
        """Append many messages; return how many."""
        count = 0
        for message in messages:
            self.write(message)
            count += 1
        return count

    def flush_if_due(self) -> None:
        """Flush if the last flush is ``flush_every`` old; call it on a timer while idle."""
        with self._lock:
            if not self._raw.closed and time.monotonic() - self._last_flush >= self.flush_every:
                self._flush()

    def _flush(self) -> None:
        self._out.flush()  # GzipFile.flush() is a zlib sync flush: what is written is readable
        self._raw.flush()
        self._last_flush = time.monotonic()

    def close(self) -> None:
        """Flush and close; safe to call twice."""
        with self._lock:
            if self._raw.closed:
                return
            if self._gzip is not None:
                self._gzip.close()  # writes the gzip trailer; does not close the file it wraps
            self._raw.close()

    def __enter__(self) -> CaptureWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<CaptureWriter {str(self.path)!r}: {self.written} messages>"


def summarize(cap: Capture) -> dict[str, Any]:
    """What ``openagi-nb inspect`` shows: counts per channel and event, span, nodes, rejects."""
    events: dict[str, dict[str, int]] = {}
    starts, ends = [], []
    nodes: set[str] = set()
    for channel in cap.channels:
        df = cap.frames[channel]
        events[channel.value] = {
            str(k): int(v) for k, v in df["event"].value_counts(sort=False).items() if v
        }
        starts.append(df["timestamp"].min())
        ends.append(df["timestamp"].max())
        if "node_id" in df:
            nodes.update(df["node_id"].dropna().unique())
    return {
        "path": cap.path,
        "messages": len(cap),
        "events": events,
        "start": min(starts) if starts else None,
        "end": max(ends) if ends else None,
        "nodes": sorted(nodes),
        "rejects": len(cap.rejects),
        "control_messages": cap.control_messages,
        "first_rejects": [
            (int(line), str(reason))
            for line, reason in zip(cap.rejects["line"][:5], cap.rejects["reason"][:5], strict=True)
        ],
    }
