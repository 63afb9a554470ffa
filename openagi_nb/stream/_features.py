"""What a server offers beyond the published API: the ``features`` of ``GET /api/v1/status``
(``docs/protocol.md`` section 14.1), asked before each connection so that a stream takes
batches from a server that offers them and one message per frame from any other (a node of the
network has no status endpoint: that is a plain "nothing offered", not an error)."""

from __future__ import annotations

import http.client
import logging
import ssl
import urllib.error
import urllib.request
from typing import Any, Final

import orjson

from ..exceptions import TokenRequestFailed
from ..model import BatchFormat, BatchSettings, Compression
from ._token import api_url
from ._transport import tls_context

__all__ = ["STATUS_PATH", "batch_to_ask", "fetch_features", "offer"]

log = logging.getLogger("openagi_nb.client")

STATUS_PATH: Final = "/api/v1/status"


def fetch_features(url: str, *, timeout: float,
                   ssl_context: ssl.SSLContext | None = None) -> dict[str, Any]:
    """The ``features`` object of the status of the server at ``url`` (its WebSocket URL or
    root); ``{}`` when it has none, has no status endpoint, or cannot be asked (the connection
    that follows will say why it cannot be reached)."""
    try:
        status = api_url(url, STATUS_PATH)
        with urllib.request.urlopen(status, timeout=timeout, context=ssl_context) as response:
            body = orjson.loads(response.read())
    except (TokenRequestFailed, urllib.error.URLError, http.client.HTTPException, OSError,
            ValueError) as exc:  # HTTPError (a 404: a node) is a URLError
        log.debug("no features from %s: %s", url.split("?", 1)[0], exc)
        return {}
    features = body.get("features") if isinstance(body, dict) else None
    return features if isinstance(features, dict) else {}


def offer(features: dict[str, Any], wanted: BatchSettings) -> BatchSettings | None:
    """What to ask of a server with ``features`` when ``wanted``: the format and compression
    wanted if offered, else ``"json"`` batches, else the server's other compressions off;
    None when it offers no batches."""
    batch = features.get("batch")
    if not isinstance(batch, dict):
        return None
    formats, codecs = batch.get("formats") or [], batch.get("compression") or []
    fmt = wanted.format if wanted.format.value in formats else (
        BatchFormat.JSON if BatchFormat.JSON.value in formats else None)
    if fmt is None:
        return None
    compression = wanted.compression if (
        fmt is BatchFormat.ARROW and wanted.compression.value in codecs) else Compression.NONE
    return BatchSettings(fmt, compression, wanted.max_events, wanted.max_delay_ms)


def batch_to_ask(url: str, wanted: BatchSettings | None, sslopt: dict[str, Any] | None,
                 timeout: float) -> BatchSettings | None:
    """What to ask of the server at ``url`` when ``wanted`` (None: nothing), from its status."""
    if wanted is None:
        return None
    try:
        context = tls_context(sslopt or {}) if url.startswith("wss") else None
    except (ValueError, OSError):
        context = None  # the connection will say what is wrong with the TLS options
    return offer(fetch_features(url, timeout=timeout, ssl_context=context), wanted)
