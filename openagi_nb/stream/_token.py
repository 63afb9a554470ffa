"""Asking a server for a token: ``POST /api/v1/auth/token`` (``docs/protocol.md`` section 2).

The standard library only (no ``requests``); urllib's errors are translated here and only here:
:class:`~openagi_nb.exceptions.TokenRefused` when the server says no (HTTP 4xx: asking again will
not help), :class:`~openagi_nb.exceptions.TokenRequestFailed` when it cannot be reached, fails
(5xx) or answers without a token. A token never appears in a message. (Issuing and checking
tokens is the server's part: :mod:`openagi_nb.server._tokens`.)
"""

from __future__ import annotations

import http.client
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Final
from urllib.parse import urlsplit, urlunsplit

import orjson

from ..exceptions import TokenRefused, TokenRequestFailed

__all__ = ["NOBODY_THERE", "TOKEN_PATH", "api_url", "fetch_token", "token_fetcher", "token_url"]

# model.TOKEN_PATH and model.API_ROOT, not imported: fetching a token must not import pandas
# (tests/test_token.py holds them equal).
API_ROOT: Final = "/api/v1"
TOKEN_PATH: Final = "/api/v1/auth/token"
NOBODY_THERE: Final = (" (no server listens there: check the host and port, or start a replay "
                       "of a capture with `openagi-nb serve CAPTURE`)")
"""Added to a refused connection's message: the likeliest cause and its remedy."""


def fetch_token(
    base_url: str,
    *,
    node_id: str = "openagi-nb",
    public_key: str = "",
    timeout: float = 10.0,
    ssl_context: ssl.SSLContext | None = None,
) -> str:
    """Ask a server for a token: ``POST {base_url}/api/v1/auth/token``.

    Call it before opening a stream; fetch a new one when the server closes the stream with
    4001 (token expired).

    Args:
        base_url: the server's root (``http://127.0.0.1:8080``); an ``https``, ``ws`` or ``wss``
            URL, or one that already has an ``/api/v1/...`` path, is accepted too.
        node_id: who asks (becomes the token's ``sub``).
        public_key: the node's public key, if the server wants one.
        timeout: seconds for the whole request.
        ssl_context: for ``https`` servers with a certificate the system does not trust.

    Raises:
        TokenRefused: the server refused (HTTP 4xx); also an AuthenticationFailed.
        TokenRequestFailed: the server could not be reached, failed (its ``status`` says how,
            None when no answer came) or did not answer with a token; also a ConnectionFailed.
    """
    url = token_url(base_url)
    body = orjson.dumps({"node_id": node_id, "public_key": public_key})
    status, payload = _post(url, body, timeout, ssl_context)
    return _token_from(payload, url, status)


def token_fetcher(
    base_url: str, node_id: str, ssl_context: ssl.SSLContext | None = None
) -> Callable[[], str]:
    """A ``token_provider`` that asks the server at ``base_url`` for a token for ``node_id``
    (what ``EventStream(url, node_id=...)`` and ``record(url, node_id=...)`` use)."""
    def fetch() -> str:
        return fetch_token(base_url, node_id=node_id, ssl_context=ssl_context)

    return fetch


def token_url(base_url: str) -> str:
    """The token endpoint of the server at ``base_url`` (see :func:`fetch_token`).

    Raises:
        TokenRequestFailed: ``base_url`` is not an http(s) or ws(s) URL.
    """
    return api_url(base_url, TOKEN_PATH)


def api_url(base_url: str, path: str) -> str:
    """The HTTP URL of ``path`` on the server at ``base_url`` (its root, its WebSocket URL, or
    any of its API URLs, ``ws`` becoming ``http``), without query.

    Raises:
        TokenRequestFailed: ``base_url`` is not an http(s) or ws(s) URL.
    """
    parts = urlsplit(base_url.strip())
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    if scheme not in ("http", "https") or not parts.netloc:
        # without its query: a ws URL may carry ?token=
        shown = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        raise TokenRequestFailed(f"not an http(s) or ws(s) url: {shown!r}")
    root = parts.path.split(API_ROOT, 1)[0].rstrip("/")
    return urlunsplit((scheme, parts.netloc, root + path, "", ""))


def _post(
    url: str, body: bytes, timeout: float, ssl_context: ssl.SSLContext | None
) -> tuple[int, bytes]:
    """POST ``body`` as JSON; return the status and the answer. The one place urllib is called."""
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=ssl_context) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        raise _refusal(url, exc) from None
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        hint = NOBODY_THERE if isinstance(getattr(exc, "reason", exc),
                                          ConnectionRefusedError) else ""
        raise TokenRequestFailed(f"cannot reach {url}: {_reason(exc)}{hint}") from exc


def _refusal(url: str, exc: urllib.error.HTTPError) -> TokenRequestFailed:
    try:
        detail = _error_message(exc.read() if exc.fp is not None else b"")
    except (http.client.HTTPException, OSError):
        detail = ""  # the status says enough
    finally:
        exc.close()
    message = f"{url} answered {exc.code}" + (f": {detail}" if detail else "")
    kind = TokenRefused if 400 <= exc.code < 500 else TokenRequestFailed
    return kind(message, status=exc.code)


def _error_message(body: bytes) -> str:
    try:
        error = orjson.loads(body)["error"]
        return f"{error['message']} ({error['details']})" if error.get("details") else str(
            error["message"]
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
        return ""  # not the HTTP API's error body


def _token_from(payload: bytes, url: str, status: int) -> str:
    try:
        token = orjson.loads(payload)["token"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        token = None
    if not isinstance(token, str) or not token:
        raise TokenRequestFailed(f"{url} did not answer with a token", status=status)
    return token


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason if reason is not None else exc)
