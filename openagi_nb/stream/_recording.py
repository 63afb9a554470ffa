"""The recording of a stream (``record_to``): opening its writer, and what a failure means.

A recording that cannot be written (disk full, permission) ends; the stream goes on, says so in
``stats.last_error``, and :meth:`EventStream.stop` raises the error: never silently dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from ..capture import CaptureWriter
from ..exceptions import CaptureError

__all__ = ["failure", "guarded", "open_writer"]

log = logging.getLogger("openagi_nb.stream")


def open_writer(record_to: str | Path | None, rotate: tuple[float | None, int | None]
                ) -> CaptureWriter | None:
    """The writer of ``record_to`` (None: not recording); ``rotate`` is ``(seconds, bytes)``."""
    if record_to is None:
        return None
    return CaptureWriter(record_to, rotate_every=rotate[0], rotate_size=rotate[1])


def guarded(step: Callable[[], None]) -> OSError | None:
    """Run a step of the recording (a write, a timed flush, the close); return its error."""
    try:
        step()
    except OSError as exc:  # the writer raises CaptureError, an OSError
        return exc
    return None


def failure(exc: OSError, url: str) -> tuple[CaptureError, str]:
    """The error stop() raises and the ``last_error`` of a recording that failed."""
    log.error("%s: recording stopped: %s", url, exc)
    error = exc if isinstance(exc, CaptureError) else CaptureError(str(exc))
    return error, f"recording stopped: {exc}"
