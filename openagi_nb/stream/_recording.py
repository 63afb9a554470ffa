"""The recording of a stream (``record_to``): every message as received, one per line.

A recording that cannot be written (disk full, permission) ends; the stream goes on, says so in
``stats.last_error``, and :meth:`EventStream.stop` raises the error: never silently dropped.
Only the stream's thread writes; :meth:`Recording.close` may come from ``stop()`` once that
thread is gone.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from pathlib import Path

from ..capture import CaptureWriter
from ..exceptions import CaptureError

__all__ = ["Recording"]

log = logging.getLogger("openagi_nb.stream")


class Recording:
    """Where a stream records to (``record_to``; None: it does not), opened by :meth:`open`.

    Args:
        record_to: a capture path, or a directory for pieces.
        rotate: ``(seconds, bytes)`` after which the next piece starts.
        url: the stream's URL, for the log line of a failure.
    """

    def __init__(self, record_to: str | Path | None,
                 rotate: tuple[float | None, int | None], url: str) -> None:
        self._target, self._rotate, self._url = record_to, rotate, url
        self._writer: CaptureWriter | None = None
        self._lock = threading.Lock()
        self.error: CaptureError | None = None
        """Why the recording stopped (stop() raises it once)."""
        self.last_error: str | None = None
        """The same, for ``stats.last_error``; set when it happens."""
        self.limit: int | None = None
        """Write no more than this many events (``record(count=...)``); control messages and
        rejects are still written."""
        self.events: dict[str, int] = {}
        """Events written, per channel."""
        self._written = 0

    @property
    def active(self) -> bool:
        """Whether messages are being written."""
        return self._writer is not None

    @property
    def path(self) -> str | None:
        """The capture (or piece) being written, None when not recording."""
        writer = self._writer
        return str(writer.path) if writer is not None else None

    def open(self) -> None:
        """Open the writer (at start).

        Raises:
            CaptureError: ``record_to`` cannot be opened.
        """
        if self._target is not None:
            self._writer = CaptureWriter(self._target, rotate_every=self._rotate[0],
                                         rotate_size=self._rotate[1])

    def write(self, data: bytes, channel: str | None = None) -> bool:
        """Write one message (an event of ``channel``, or another message); False when that
        ended the recording (see :attr:`last_error`)."""
        writer = self._writer
        if writer is None:
            return True
        if channel is not None:
            if self.limit is not None and self._written >= self.limit:
                return True
            self._written += 1
            self.events[channel] = self.events.get(channel, 0) + 1
        try:
            writer.write(data)
        except OSError as exc:  # CaptureError: the disk, not the stream, has a problem
            self._failed(exc)
            return False
        except ValueError:  # junk spanning lines that is not JSON: it is in rejects already
            pass
        return True

    def flush_if_due(self) -> bool:
        """Flush if a second has passed; False when that ended the recording."""
        writer = self._writer
        return writer is None or self._guarded(writer.flush_if_due)

    def close(self) -> bool:
        """Flush and close; idempotent. False when that failed (see :attr:`last_error`)."""
        with self._lock:
            writer, self._writer = self._writer, None
        return writer is None or self._guarded(writer.close, writer)

    def _guarded(self, step: Callable[[], None], writer: CaptureWriter | None = None) -> bool:
        try:
            step()
        except OSError as exc:  # the writer raises CaptureError, an OSError
            self._failed(exc, writer)
            return False
        return True

    def _failed(self, exc: OSError, closing: CaptureError | CaptureWriter | None = None) -> None:
        log.error("%s: recording stopped: %s", self._url, exc)
        self.error = exc if isinstance(exc, CaptureError) else CaptureError(str(exc))
        self.last_error = f"recording stopped: {exc}"
        with self._lock:
            writer, self._writer = self._writer, None
        if writer is not None and writer is not closing:
            with contextlib.suppress(OSError):  # the first error is the one reported
                writer.close()
