"""Tokens: fetch one from a server (client side), issue and verify them (replay server side).

The API authenticates WebSocket connections with a JWT obtained from
``POST /api/v1/auth/token`` (DESIGN.md: Wire protocol). Ours are HS256 with the server's secret
and carry ``sub`` (the node id), ``iat`` and ``exp``. PyJWT's errors are translated here and only
here; a token never appears in a message, a repr or a log line.

- :func:`fetch_token` asks a server for a token with the standard library only (no ``requests``).
- :func:`issue_token` / :func:`verify_token` are what the replay server signs and checks with.
- :func:`resolve_secret` picks the server's secret: ``--secret``, else ``OPENAGI_NB_SECRET``,
  else a random one per start.
"""

from __future__ import annotations

import os
import secrets
import ssl
import time
import urllib.error
import urllib.request
from typing import Any, Final, TypedDict
from urllib.parse import urlsplit, urlunsplit

import jwt
import orjson

from .exceptions import AuthenticationFailed, ConnectionFailed, ServerConfigError

__all__ = [
    "ALGORITHM",
    "MIN_SECRET_BYTES",
    "SECRET_ENV",
    "Claims",
    "TOKEN_PATH",
    "fetch_token",
    "issue_token",
    "resolve_secret",
    "verify_token",
]

ALGORITHM: Final = "HS256"
SECRET_ENV: Final = "OPENAGI_NB_SECRET"
TOKEN_PATH: Final = "/api/v1/auth/token"
MIN_SECRET_BYTES: Final = 32
"""RFC 7518 section 3.2: an HS256 key must be at least as long as the hash output (32 bytes)."""


class Claims(TypedDict):
    """The claims of one of our tokens."""

    sub: str
    iat: int
    exp: int


# --- client side --------------------------------------------------------------------------


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
        AuthenticationFailed: the server refused (HTTP 4xx).
        ConnectionFailed: the server could not be reached or did not answer with a token.
    """
    url = token_url(base_url)
    body = orjson.dumps({"node_id": node_id, "public_key": public_key})
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=ssl_context) as response:
            payload = response.read()
    except urllib.error.HTTPError as exc:
        raise _refusal(url, exc) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise ConnectionFailed(f"cannot reach {url}: {_reason(exc)}") from exc
    return _token_from(payload, url)


def token_url(base_url: str) -> str:
    """The token endpoint of the server at ``base_url`` (see :func:`fetch_token`)."""
    parts = urlsplit(base_url.strip())
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    if scheme not in ("http", "https") or not parts.netloc:
        raise ConnectionFailed(f"not an http(s) or ws(s) url: {base_url!r}")
    root = parts.path.split("/api/v1", 1)[0].rstrip("/")
    return urlunsplit((scheme, parts.netloc, root + TOKEN_PATH, "", ""))


def _refusal(url: str, exc: urllib.error.HTTPError) -> Exception:
    detail = _error_message(exc.read() if exc.fp is not None else b"")
    exc.close()
    message = f"{url} answered {exc.code}" + (f": {detail}" if detail else "")
    if 400 <= exc.code < 500:
        return AuthenticationFailed(message)
    return ConnectionFailed(message)


def _error_message(body: bytes) -> str:
    try:
        error = orjson.loads(body)["error"]
        return f"{error['message']} ({error['details']})" if error.get("details") else str(
            error["message"]
        )
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return ""


def _token_from(payload: bytes, url: str) -> str:
    try:
        token = orjson.loads(payload)["token"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        raise ConnectionFailed(f"{url} did not answer with a token") from None
    if not isinstance(token, str) or not token:
        raise ConnectionFailed(f"{url} did not answer with a token")
    return token


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason if reason is not None else exc)


# --- server side --------------------------------------------------------------------------


def resolve_secret(secret: str | None = None) -> str:
    """The secret to sign with: ``secret``, else ``$OPENAGI_NB_SECRET``, else a random one.

    Raises:
        ServerConfigError: the secret is shorter than 32 bytes (too weak for HS256, and PyJWT
            warns on every use of such a key).
    """
    chosen = secret if secret is not None else os.environ.get(SECRET_ENV)
    if chosen is None:
        return secrets.token_urlsafe(MIN_SECRET_BYTES)
    if len(chosen.encode()) < MIN_SECRET_BYTES:
        raise ServerConfigError(
            f"secret is {len(chosen.encode())} bytes; HS256 needs at least {MIN_SECRET_BYTES}"
        )
    return chosen


def issue_token(secret: str, subject: str, ttl: float, *, now: float | None = None) -> str:
    """Sign a token for ``subject`` valid for ``ttl`` seconds from ``now`` (default: the clock)."""
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {"sub": subject, "iat": issued, "exp": issued + int(ttl)}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_token(secret: str, token: str | None) -> Claims:
    """Check a token's signature, algorithm and expiry; return its claims.

    Raises:
        AuthenticationFailed: with a reason fit for an HTTP 401 body (never the token itself):
            missing, malformed, wrong signature, another algorithm (``none`` included),
            expired, or no ``exp``/``sub``/``iat``.
    """
    if not token:
        raise AuthenticationFailed("missing token")
    try:
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM],
            options={"require": ["exp", "iat", "sub"]},
        )
    except jwt.ExpiredSignatureError:
        raise AuthenticationFailed("token expired") from None
    except jwt.MissingRequiredClaimError as exc:
        raise AuthenticationFailed(f"token has no '{exc.claim}' claim") from None
    except jwt.InvalidSignatureError:
        raise AuthenticationFailed("token signature does not match") from None
    except jwt.InvalidAlgorithmError:
        raise AuthenticationFailed(f"token algorithm is not {ALGORITHM}") from None
    except jwt.InvalidTokenError as exc:
        raise AuthenticationFailed(f"malformed token: {_jwt_reason(exc)}") from None
    return _claims(claims)


def _claims(raw: dict[str, Any]) -> Claims:
    sub, iat, exp = raw.get("sub"), raw.get("iat"), raw.get("exp")
    if not isinstance(sub, str) or not isinstance(iat, int | float) or not isinstance(
        exp, int | float
    ):
        raise AuthenticationFailed("malformed token: claims of the wrong type")
    return {"sub": sub, "iat": int(iat), "exp": int(exp)}


def _jwt_reason(exc: Exception) -> str:
    # PyJWT's messages name the part that failed and never echo the token; keep them short.
    text = str(exc).rstrip(".")
    return (text[:1].lower() + text[1:])[:120] or type(exc).__name__
