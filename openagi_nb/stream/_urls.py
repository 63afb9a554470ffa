"""What a user may give as a server's URL, made into the API's WebSocket URL.

Users copy whatever they have at hand: the server's root as ``openagi-nb serve`` prints it
(``http://127.0.0.1:8080``), the WebSocket root (``ws://host:8080``), or the API's own URL as
the published spec writes it (``ws://localhost:8080/api/v1/ws``), with or without
``?token=``. All of them name the same endpoint; anything else is refused with what was not
understood, before any connection is tried.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import urlsplit, urlunsplit

__all__ = ["websocket_url"]

# model.API_ROOT and model.WS_PATH, not imported: this module must not import pandas
API_ROOT: Final = "/api/v1"
WS_PATH: Final = "/api/v1/ws"
_SCHEMES: Final = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}


def websocket_url(url: str) -> str:
    """The WebSocket URL of the API at ``url`` (a server root, a WebSocket root or the full
    ``.../api/v1/ws`` URL; ``http`` becomes ``ws``, ``https`` ``wss``); its query is kept.

    Raises:
        ValueError: not an http(s) or ws(s) URL with a host, or another path of the API; the
            message quotes the URL without its query (a token may be there).
    """
    parts = urlsplit(url.strip())
    scheme = _SCHEMES.get(parts.scheme.lower())
    shown = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    if scheme is None:
        raise ValueError(f"cannot use {shown!r} as a server URL: the scheme must be http, https, "
                         "ws or wss (e.g. http://127.0.0.1:8080 or ws://host:8080/api/v1/ws)")
    if not parts.hostname:
        raise ValueError(f"cannot use {shown!r} as a server URL: it names no host")
    path = parts.path.rstrip("/")
    if not path.endswith(WS_PATH):
        root, api, rest = path.partition(API_ROOT)
        if api and rest:  # another endpoint of the API: a mistake, not a root
            raise ValueError(f"cannot use {shown!r} as a server URL: {API_ROOT}{rest} is not the "
                             f"WebSocket endpoint {WS_PATH}")
        path = root + WS_PATH
    return urlunsplit((scheme, parts.netloc, path, parts.query, ""))
