"""Writing captures: :class:`CaptureWriter`, one file or a directory of rotated pieces.

Crash safety: every ``flush_every`` seconds (1 by default) the gzip stream gets a zlib sync flush
(``Z_SYNC_FLUSH``: the deflate block ends on a byte boundary, RFC 1951 section 3.2.3) and the file
is flushed to the OS, so a reader, or ``load_capture`` after a SIGKILL, gets every line up to
then. A sync flush, not a new gzip member per second: it keeps the compression window, so it
costs a few bytes per flush where a new member costs its header, trailer and a cold window
(``benchmarks/bench_capture.py`` measures both).
"""

from __future__ import annotations

import gzip
import math
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

import orjson

from ..exceptions import CaptureError, InvalidMessage
from ._pieces import PIECE_SUFFIXES, StrPath, piece_name

__all__ = ["CaptureWriter"]


class _File:
    """One open capture file: the OS file, and the gzip stream around it for ``.gz``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.raw: BinaryIO = open(path, "wb")  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise CaptureError(f"cannot open for writing: {exc}", path=str(path)) from exc
        self.gzip = (gzip.GzipFile(filename="", mode="wb", fileobj=self.raw, mtime=0)
                     if path.suffix == ".gz" else None)
        self.out: BinaryIO | gzip.GzipFile = self.gzip or self.raw

    def flush(self) -> None:
        self.out.flush()  # GzipFile.flush() is a zlib sync flush: what is written is readable
        self.raw.flush()

    def size(self) -> int:
        """Bytes in the file so far (less what the compressor still holds)."""
        return self.raw.tell()

    def close(self) -> None:
        try:
            if self.gzip is not None:
                self.gzip.close()  # writes the trailer; does not close the file it wraps
        finally:
            self.raw.close()


class CaptureWriter:
    """Append raw messages to a capture, one per line; gzip when the name ends in ``.gz``.

    ``path`` is a file (``.jsonl`` or ``.jsonl.gz``), or a directory (an existing one, or a path
    ending in ``/``, or any path with ``rotate_every``/``rotate_size``) to hold pieces
    ``<start time>.jsonl.gz``. A piece is closed (complete, trailer written) and the next one
    opened once it is ``rotate_every`` seconds old or ``rotate_size`` bytes large on disk (the
    compressor holds up to a second of data until the next flush, so a piece passes the size by
    at most that). One file is open at a time, and memory does not grow with the recording.

    Thread-safe. Flushes every ``flush_every`` seconds while messages come (and whenever
    :meth:`flush_if_due` is called on a timer: call it about once a second while idle), and on
    :meth:`close`, so a crash loses at most that much. The gzip header carries no time or
    name; with ``flush_every=None`` (flush only on close) the same messages always give the
    same bytes, as timed flushes change the compressed stream.

    Raises (from every method):
        CaptureError: a file cannot be opened, written or closed (its message says why: disk
            full, permission...). The writer is of no further use then.
    """

    def __init__(self, path: StrPath, *, flush_every: float | None = 1.0,
                 rotate_every: float | None = None, rotate_size: int | None = None) -> None:
        target = Path(path)
        rotating = rotate_every is not None or rotate_size is not None
        self.directory = target if (rotating or target.is_dir() or str(path).endswith(("/",
                                    "\\"))) else None
        self.flush_every = math.inf if flush_every is None else flush_every
        self.rotate_every = math.inf if rotate_every is None else rotate_every
        self.rotate_size = math.inf if rotate_size is None else rotate_size
        self._lock = threading.Lock()
        self.written = 0
        self.pieces = 0
        """Files opened so far (1 without rotation)."""
        self._file = self._open_first(target)
        self._last_flush = self._opened = time.monotonic()

    @property
    def path(self) -> Path:
        """The file being written (the current piece)."""
        return self._file.path

    def _open_first(self, target: Path) -> _File:
        if self.directory is None:
            self.pieces = 1
            return _File(target)
        if target.name.endswith(PIECE_SUFFIXES) and not target.is_dir():
            raise CaptureError("a rotated recording is a directory of pieces: give a directory",
                               path=str(target))
        try:
            target.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CaptureError(f"cannot make the directory: {exc}", path=str(target)) from exc
        return self._open_piece()

    def _open_piece(self) -> _File:
        assert self.directory is not None
        self.pieces += 1
        return _File(piece_name(self.directory, ".jsonl.gz"))

    def write(self, message: str | bytes) -> None:
        """Append one message exactly as received (re-encoded only if it spans lines)."""
        data = message.encode() if isinstance(message, str) else bytes(message)
        if b"\n" in data or b"\r" in data:
            data = _one_line(data)
        with self._lock:
            try:
                self._file.out.write(data + b"\n")
                self.written += 1
                self._maintain(time.monotonic())
            except OSError as exc:
                raise self._error("cannot write", exc) from exc

    def write_all(self, messages: Iterable[str | bytes]) -> int:
        """Append many messages; return how many."""
        count = 0
        for message in messages:
            self.write(message)
            count += 1
        return count

    def flush_if_due(self) -> None:
        """Flush (and rotate) if due; call it on a timer while no messages come."""
        with self._lock:
            if self._file.raw.closed:
                return
            try:
                self._maintain(time.monotonic())
            except OSError as exc:
                raise self._error("cannot write", exc) from exc

    def _maintain(self, now: float) -> None:
        """Under the lock: rotate when the piece is old or large enough, else flush if due."""
        if self.directory is not None and (now - self._opened >= self.rotate_every
                                           or self._file.size() >= self.rotate_size):
            self._file.close()
            self._file = self._open_piece()
            self._last_flush = self._opened = now
        elif now - self._last_flush >= self.flush_every:
            self._file.flush()
            self._last_flush = now

    def _error(self, what: str, exc: OSError) -> CaptureError:
        if isinstance(exc, CaptureError):
            return exc
        return CaptureError(f"{what}: {exc}", path=str(self._file.path))

    def close(self) -> None:
        """Flush and close; safe to call twice."""
        with self._lock:
            if self._file.raw.closed:
                return
            try:
                self._file.close()
            except OSError as exc:
                raise self._error("cannot close", exc) from exc

    def __enter__(self) -> CaptureWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<CaptureWriter {str(self.path)!r}: {self.written} messages>"


def _one_line(data: bytes) -> bytes:
    try:
        return orjson.dumps(orjson.loads(data))
    except orjson.JSONDecodeError:
        raise InvalidMessage(
            "not JSON, and spans lines: cannot be kept as one line of a capture",
            code="bad_json", raw=data,
        ) from None
