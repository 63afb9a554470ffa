"""What a server offers beyond the published API: the ``features`` of ``GET /api/v1/status``
(``docs/protocol.md`` section 14.1), asked before each connection (the server may have been
restarted with other options) so that a stream takes batches from a server that offers them and
one message per frame from any other. A node of the network has no status endpoint: that is a
plain "nothing offered", not an error.
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import urlsplit

import orjson

from ..model import BatchFormat, BatchSettings, Compression

__all__ = ["STATUS_PATH", "features", "offer", "status_path"]

STATUS_PATH: Final = "/api/v1/status"
_API_ROOT: Final = "/api/v1"


def status_path(url: str) -> str:
    """The status endpoint's path on the server of WebSocket ``url``."""
    return urlsplit(url).path.split(_API_ROOT, 1)[0].rstrip("/") + STATUS_PATH


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
