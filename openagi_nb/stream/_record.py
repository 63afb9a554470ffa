"""Record a live stream to a capture: what ``openagi-nb record`` runs.

The recording is the messages exactly as received (``EventStream(record_to=...)``), so loading it
gives the frames the live stream had; reconnects resume by ``seq`` as they do for any stream.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from ._rotation import Rotate
from ._stats import StreamStats
from ._stream import ALL, EventStream

__all__ = ["record"]

PROGRESS_EVERY = 0.5
_KEEP_ROWS = 10_000  # frames are a by-product here: keep them small


def record(
    url: str,
    path: str | Path,
    *,
    channels: Iterable[str] = ALL,
    count: int | None = None,
    duration: float | None = None,
    token: str | None = None,
    token_provider: Callable[[], str] | None = None,
    node_id: str | None = None,
    on_progress: Callable[[StreamStats], None] | None = None,
    stop: Callable[[], bool] | None = None,
    rotate: Rotate | None = None,
) -> StreamStats:
    """Record ``channels`` of the stream at ``url`` into ``path`` (``.jsonl`` or ``.jsonl.gz``,
    or a directory of pieces ``<start time>.jsonl.gz``, with ``rotate``).

    Runs until ``count`` events were recorded (exactly that many: a batch that brings more is
    cut), ``duration`` seconds passed, or ``stop()`` says so (with
    none of them: until interrupted; a ``KeyboardInterrupt`` ends it cleanly, the recording
    closed). ``on_progress`` gets the stream's stats twice a second.

    Args:
        rotate: start a new piece when the current one is this old (``"1h"``) or large
            (``"100MB"``): for recordings of days. Every piece is closed complete.
        node_id: fetch a token for this node from the server (and a fresh one whenever the
            server refuses it), instead of passing ``token``.

    Returns:
        The stream's final stats; ``received`` (and ``total``) count the events recorded.

    Raises:
        AuthenticationFailed, ConnectionFailed: the stream gave up.
        CaptureError: ``path`` cannot be written (at the start, or later: disk full).
    """
    stream = EventStream(url, token=token, token_provider=token_provider, node_id=node_id,
                         channels=channels, window=_KEEP_ROWS, record_to=path, rotate=rotate)
    recording = stream._loop.recording
    recording.limit = count  # a batch may hold more than the count still missing
    deadline = None if duration is None else time.monotonic() + duration
    with stream, contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how an open end ends
        _run(stream, count, deadline, on_progress, stop)
    stats = dataclasses.replace(stream.stats, received=dict(recording.events))
    if on_progress is not None:
        on_progress(stats)
    return stats


def _run(
    stream: EventStream, count: int | None, deadline: float | None,
    on_progress: Callable[[StreamStats], None] | None, stop: Callable[[], bool] | None,
) -> None:
    target = count if count is not None else 1 << 62
    while stop is None or not stop():
        wait = PROGRESS_EVERY if deadline is None else min(PROGRESS_EVERY,
                                                           deadline - time.monotonic())
        try:
            if stream.wait_for(target, timeout=max(wait, 0.0)) >= target:
                return
        except TimeoutError:
            pass
        if on_progress is not None:
            on_progress(stream.stats)
        if deadline is not None and time.monotonic() >= deadline:
            return
