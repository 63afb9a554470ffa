"""Write a generated scenario of any size: as a capture (``.jsonl``, ``.jsonl.gz``) or, when the
path ends in ``/`` or ``.parquet`` (or is a directory), as a Parquet dataset in the layout
``convert`` writes (by channel, then hour).

Window by window (:class:`~._stream.Generation`): only the current window's events are ever in
memory, whatever the duration. A dataset gets one file per channel per hour (one
:meth:`~openagi_nb.capture._dataset.DatasetWriter.write` per channel per window); a capture
gets the windows' events merged by ``seq`` and written a chunk at a time. Both outputs hold the
same data for the same seed and size: :func:`~openagi_nb.capture.load_capture` gives equal
frames. A classic scenario written as JSONL is exactly :func:`~._generate.write`'s bytes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import numpy as np

from ..capture import CaptureWriter, StrPath
from ..capture._dataset import DatasetWriter
from ..exceptions import CaptureError
from ..model import CHANNELS, encode, messages_of
from ._generate import DEFAULT_START, write
from ._stream import Engine, Generation, Window

__all__ = ["CHUNK", "export", "is_dataset_path", "lines"]

CHUNK: Final = 65_536
"""Events turned into JSON lines at a time (a capture is written in these)."""


def is_dataset_path(path: StrPath) -> bool:
    """Whether ``path`` names a Parquet dataset: it ends in ``/`` or ``.parquet``, or is a
    directory."""
    text = os.fspath(path)
    return text.endswith(("/", os.sep)) or Path(text).suffix == ".parquet" or Path(text).is_dir()


def export(
    path: StrPath, *, seed: int = 7, duration: float = 3600.0, nodes: int = 25,
    start: datetime = DEFAULT_START, engine: Engine = "auto", window: float = 3600.0,
    progress: Callable[[int], None] | None = None,
) -> Generation:
    """Generate a scenario and write it at ``path`` (see the module), streaming.

    ``engine`` and ``window``: see :class:`~._stream.Generation` (``"auto"`` generates up to
    100 node-hours as :func:`~._generate.generate` does, and larger ones window by window).
    ``progress`` is called with the number of events written so far, after each window (and
    each chunk of a capture).

    Returns:
        the generation: its ``incidents`` (ground truth), ``counts`` and ``engine``.

    Raises:
        ScenarioError: too small a scenario, a bad engine or window.
        CaptureError: ``path`` cannot be written, or is a dataset directory that is not empty.
    """
    gen = Generation(seed=seed, duration=duration, nodes=nodes, start=start, window=window,
                     engine=engine)
    if is_dataset_path(path):
        _dataset(gen, Path(path), progress)
    elif gen.engine == "classic" and start == DEFAULT_START:
        scenario = write(path, seed=seed, duration=duration, nodes=nodes, progress=progress)
        gen.incidents, gen.counts = list(scenario.incidents), scenario.counts()
    else:
        _capture(gen, path, progress)
    return gen


def _dataset(gen: Generation, out: Path, progress: Callable[[int], None] | None) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise CaptureError("exists and is not an empty directory: not overwritten",
                           path=str(out))
    try:
        for channel in CHANNELS:
            (out / f"channel={channel.value}").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CaptureError(f"cannot write Parquet dataset: {exc}", path=str(out)) from exc
    writer, done = DatasetWriter(out, 0, period="hour"), 0
    for w in gen.windows():
        for channel, table in w.tables.items():
            writer.write(channel, table)
        done += w.events
        if progress is not None:
            progress(done)


def _capture(gen: Generation, path: StrPath, progress: Callable[[int], None] | None) -> None:
    done = 0
    # no timed flushes: they would make the compressed bytes depend on the wall clock
    with CaptureWriter(path, flush_every=None) as writer:
        for w in gen.windows():
            for chunk in lines(w):
                done += writer.write_all(chunk)
                if progress is not None:
                    progress(done)


def lines(window: Window, chunk: int = CHUNK) -> Iterator[list[bytes]]:
    """The window's events as JSON lines in ``seq`` order, ``chunk`` events at a time."""
    tables = [(c, t, t.column("seq").to_numpy()) for c, t in window.tables.items()
              if t.num_rows]
    if not tables:
        return
    lo = min(int(s[0]) for _, _, s in tables)
    hi = max(int(s[-1]) for _, _, s in tables)
    for a in range(lo, hi + 1, chunk):
        messages: list[dict[str, Any]] = []
        for channel, table, seqs in tables:
            i, j = (int(x) for x in np.searchsorted(seqs, [a, a + chunk]))
            if j > i:
                messages += messages_of(channel, table.slice(i, j - i))
        messages.sort(key=lambda m: int(m["seq"]))
        yield [encode(m) for m in messages]

