"""Reading a ``.jsonl[.gz]`` capture as blocks of whole lines, keeping everything before damage.

A recording cut short (a SIGKILL, a full disk, an interrupted copy) ends inside a gzip member;
a damaged one holds bytes that are not deflate data. :class:`GzipChunks` decompresses member
after member with :mod:`zlib` and, instead of raising, stops at the damage and says where
(``damage``): what came before it is kept. The writer sync-flushes once a second, so a cut file
holds every line written up to the last flush (RFC 1951 section 3.2.3: a sync flush ends on a
byte boundary, everything before it decodable).

:class:`Blocks` cuts the decompressed bytes into blocks of whole lines; a line the damage cut
in two is not a line: it becomes the one reject that reports the damage.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final

from ..exceptions import CaptureError

__all__ = ["Blocks", "Damage", "GzipChunks", "iter_blocks"]

CHUNK: Final = 1 << 18
"""Compressed bytes read at a time."""
BLOCK: Final = 4 << 20
"""Decompressed bytes per block handed to the decoders (about)."""
RAW_SHOWN: Final = 200
_GZIP: Final = zlib.MAX_WBITS | 16  # a gzip header and trailer around the deflate stream


@dataclass(frozen=True)
class Damage:
    """Where a capture stops being readable: ``kind`` is ``"truncated"`` or ``"corrupt"``,
    ``offset`` the byte of the file where it starts."""

    kind: str
    offset: int
    detail: str

    def reason(self) -> str:
        """The reject's reason: names the damage and the byte it starts at."""
        if self.kind == "truncated":
            return (f"truncated: the file ends at byte {self.offset:,} inside a gzip member "
                    f"({self.detail}); every whole line before it is loaded")
        return (f"corrupt: bad gzip data from byte {self.offset:,} ({self.detail}); "
                f"the rest of the file is skipped")


class GzipChunks:
    """The decompressed bytes of a gzip file (any number of members), up to its first damage.

    Iterate it; afterwards ``damage`` is None for a sound file. A file whose very first bytes
    are not gzip raises :class:`CaptureError`: it is not a damaged capture but a wrong file.
    """

    def __init__(self, f: BinaryIO, path: str) -> None:
        self._f, self._path = f, path
        self.damage: Damage | None = None

    def __iter__(self) -> Iterator[bytes]:
        d = zlib.decompressobj(_GZIP)
        offset = 0  # file offset of ``data``
        started = False  # the current member has had bytes
        pending = b""
        while data := pending or self._f.read(CHUNK):
            pending = b""
            if not started and not data.strip(b"\0"):
                offset += len(data)  # zero padding after a member: gzip(1) ignores it too
                continue
            if offset == 0 and not b"\x1f\x8b".startswith(data[:2]):
                raise CaptureError("not a gzip file (it does not start with 1f 8b)",
                                   path=self._path)
            saved = d.copy()
            try:
                out = d.decompress(data)
            except zlib.error as exc:
                bad = _first_bad(saved, data)
                self._corrupt(offset + bad, exc)
                yield saved.decompress(data[:bad])
                return
            started = True
            if out:
                yield out
            if d.eof:
                pending = d.unused_data
                offset += len(data) - len(pending)
                d, started = zlib.decompressobj(_GZIP), False
            else:
                offset += len(data)
        if started:
            yield d.flush()
            self.damage = Damage("truncated", offset, "no end-of-stream marker and trailer")

    def _corrupt(self, offset: int, exc: zlib.error) -> None:
        self.damage = Damage("corrupt", offset, str(exc).removeprefix("Error -3 while "))


def _first_bad(saved: zlib._Decompress, data: bytes) -> int:
    """The index in ``data`` of the byte zlib refuses, by bisection on copies of the state
    before ``data``: zlib raises as soon as it is fed that byte, never before."""
    lo, hi = 0, len(data)  # feeding data[:lo] is fine; feeding data[:hi] raises
    while hi - lo > 1:
        mid = (lo + hi) // 2
        try:
            saved.copy().decompress(data[:mid])
        except zlib.error:
            hi = mid
        else:
            lo = mid
    return lo


class Blocks:
    """The blocks of whole lines of one capture file, as ``(first_line_number, block)``.

    Iterate once; afterwards ``reject`` is ``(line, raw, reason)`` when the file is damaged
    (the line the damage cut, or the one after the last whole line), else None.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.reject: tuple[int, str, str] | None = None
        self.read = 0  # decompressed bytes so far, for progress

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        try:
            with open(self.path, "rb") as f:
                yield from self._blocks(f)
        except OSError as exc:
            if isinstance(exc, CaptureError):
                raise
            raise CaptureError(f"cannot read capture: {exc}", path=str(self.path)) from exc

    def _blocks(self, f: BinaryIO) -> Iterator[tuple[int, bytes]]:
        gz = GzipChunks(f, str(self.path)) if self.path.suffix == ".gz" else None
        chunks = iter(gz) if gz is not None else iter(lambda: f.read(BLOCK), b"")
        first, held, size = 1, [], 0
        for chunk in chunks:
            held.append(chunk)
            size += len(chunk)
            self.read += len(chunk)
            if size >= BLOCK:
                data = b"".join(held)
                cut = data.rfind(b"\n") + 1
                held, size = [data[cut:]], len(data) - cut
                if cut:
                    yield first, data[:cut - 1]
                    first += data.count(b"\n", 0, cut)
        rest = b"".join(held)
        cut = rest.rfind(b"\n") + 1
        if cut:
            yield first, rest[:cut - 1]
            first += rest.count(b"\n", 0, cut)
        if gz is not None and gz.damage is not None:
            partial = rest[cut:].decode(errors="replace")[:RAW_SHOWN]
            self.reject = (first, partial, gz.damage.reason())
        elif rest[cut:]:
            yield first, rest[cut:]


def iter_blocks(path: Path) -> Iterator[tuple[int, bytes]]:
    """The blocks of whole lines of ``path``, ignoring damage at its end (for callers that only
    need the lines, such as the replay server)."""
    yield from Blocks(path)
