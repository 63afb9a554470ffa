"""The stream's listeners: callbacks by message type or data event, as the example clients of
the published API have them (``stream.on("security_event", callback)``).

They run on the stream's thread, in arrival order. An exception in one is logged (the first
five, then every thousandth) and counted, never fatal: a broken callback must not stop the
stream or flood the log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

__all__ = ["Listener", "Listeners"]

log = logging.getLogger("openagi_nb.client")

Listener = Callable[[dict[str, Any]], object]


class Listeners:
    """Callbacks keyed by a message ``type`` (``"pong"``) or a data ``event``
    (``"intrusion_detected"``)."""

    def __init__(self) -> None:
        self._by_key: dict[str, list[Listener]] = {}
        self.errors = 0
        """Exceptions raised by callbacks so far."""

    def __bool__(self) -> bool:
        return bool(self._by_key)

    def add(self, key: str, callback: Listener) -> None:
        """Call ``callback(message)`` for every message whose type or event is ``key``."""
        self._by_key.setdefault(key, []).append(callback)

    def dispatch(self, message: dict[str, Any], kind: str, event: str | None = None) -> None:
        """Call the callbacks of ``kind``, then those of ``event``."""
        for key in (kind, event):
            for callback in self._by_key.get(key, ()) if key else ():
                try:
                    callback(message)
                except Exception:
                    self.errors += 1
                    if self.errors <= 5 or self.errors % 1000 == 0:
                        log.exception("listener %r for %r failed (%d so far)", callback, key,
                                      self.errors)
