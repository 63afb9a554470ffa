"""What a server offers beyond the published API: the ``features`` of ``GET /api/v1/status``
(``docs/protocol.md`` section 14.1), asked before each connection (the server may have been
restarted with other options) so that a stream takes batches from a server that offers them and
one message per frame from any other. A node of the network has no status endpoint: that is a
plain "nothing offered", not an error.
"""

from __future__ import annotations

import http.client
import socket
from collections.abc import Callable
from typing import Any, Final
from urllib.parse import urlsplit

import orjson

from ..model import BatchFormat, BatchSettings, Compression

__all__ = ["STATUS_PATH", "features", "fetch", "offer", "status_path"]

STATUS_PATH: Final = "/api/v1/status"
_API_ROOT: Final = "/api/v1"


def status_path(url: str) -> str:
    """The status endpoint's path on the server of WebSocket ``url``."""
    return urlsplit(url).path.split(_API_ROOT, 1)[0].rstrip("/") + STATUS_PATH


class _HTTP(http.client.HTTPConnection):
    """An HTTP connection over a socket opened by someone else (the stream's cancellable
    :class:`~._transport.Dial`): ``connect`` is http.client's documented hook for that."""

    def __init__(self, host: str, opened: Callable[[], socket.socket]) -> None:
        super().__init__(host)
        self.opened = opened

    def connect(self) -> None:
        self.sock = self.opened()


def fetch(url: str, opened: Callable[[], socket.socket], limit: int = 1 << 20) -> bytes | None:
    """``GET`` the status of the server of WebSocket ``url`` over the socket ``opened()``
    gives: the body of a 200 answer of at most ``limit`` bytes, else None (whatever failed:
    the connection that follows says why the server cannot be reached)."""
    connection = _HTTP(urlsplit(url).netloc, opened)
    try:
        connection.request("GET", status_path(url), headers={"Accept": "application/json"})
        response = connection.getresponse()
        body = response.read(limit + 1)
        return body if response.status == 200 and len(body) <= limit else None
    except (OSError, ValueError, http.client.HTTPException):
        return None
    finally:
        connection.close()


def features(body: bytes | None) -> dict[str, Any]:
    """The ``features`` of a status answer (``{}`` for none, or no answer)."""
    try:
        status = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return {}
    found = status.get("features") if isinstance(status, dict) else None
    return found if isinstance(found, dict) else {}


def offer(features: dict[str, Any], wanted: BatchSettings) -> BatchSettings | None:
    """What to ask of a server with ``features`` when ``wanted``: the format and compression
    wanted if offered, else ``"json"`` batches, else the server's other compressions off;
    None when it offers no batches."""
    batch = features.get("batch")
    if not isinstance(batch, dict):
        return None
    formats, codecs = _names(batch.get("formats")), _names(batch.get("compression"))
    fmt = wanted.format if wanted.format.value in formats else (
        BatchFormat.JSON if BatchFormat.JSON.value in formats else None)
    if fmt is None:
        return None
    compression = wanted.compression if (
        fmt is BatchFormat.ARROW and wanted.compression.value in codecs) else Compression.NONE
    return BatchSettings(fmt, compression, wanted.max_events, wanted.max_delay_ms)


def _names(value: Any) -> list[str]:
    """A list of names from a status (anything else: none)."""
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []
