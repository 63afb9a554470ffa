"""The replay server's tokens: pick its secret, issue tokens and verify them.

The API authenticates WebSocket connections with a JWT obtained from ``POST /api/v1/auth/token``
(``docs/protocol.md`` section 2). Ours are HS256 with the server's secret and carry ``sub``
(the node id), ``iat`` and ``exp``. PyJWT's errors are translated here and only here, into
:class:`~openagi_nb.exceptions.InvalidToken`; a token never appears in a message, a repr or a
log line. (Asking a server for a token is the client's part: :mod:`openagi_nb.stream._token`.)
"""

from __future__ import annotations

import os
import secrets
import time
from typing import Any, Final, TypedDict

import jwt

from ..exceptions import InvalidToken, ServerConfigError

__all__ = [
    "ALGORITHM", "MIN_SECRET_BYTES", "SECRET_ENV", "Claims", "issue_token", "resolve_secret",
    "verify_token",
]

ALGORITHM: Final = "HS256"
SECRET_ENV: Final = "OPENAGI_NB_SECRET"
MIN_SECRET_BYTES: Final = 32
"""RFC 7518 section 3.2: an HS256 key must be at least as long as the hash output (32 bytes)."""


class Claims(TypedDict):
    """The claims of one of our tokens."""

    sub: str
    iat: int
    exp: int


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

    Call it at the WebSocket handshake; the server answers HTTP 401 with the error's message.

    Raises:
        InvalidToken: with a reason fit for an HTTP 401 body (never the token itself): missing,
            malformed, wrong signature, another algorithm (``none`` included), expired, or no
            ``exp``/``sub``/``iat``.
    """
    if not token:
        raise InvalidToken("missing token")
    return _claims(_decode(secret, token))


def _decode(secret: str, token: str) -> dict[str, Any]:
    """PyJWT's decode, its errors translated (the one place that calls PyJWT to check)."""
    try:
        return jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"require": ["exp", "iat", "sub"]},
        )
    except jwt.ExpiredSignatureError:
        raise InvalidToken("token expired") from None
    except jwt.MissingRequiredClaimError as exc:
        raise InvalidToken(f"token has no '{exc.claim}' claim") from None
    except jwt.InvalidSignatureError:
        raise InvalidToken("token signature does not match") from None
    except jwt.InvalidAlgorithmError:
        raise InvalidToken(f"token algorithm is not {ALGORITHM}") from None
    except jwt.InvalidTokenError as exc:
        raise InvalidToken(f"malformed token: {_jwt_reason(exc)}") from None


def _claims(raw: dict[str, Any]) -> Claims:
    sub, iat, exp = raw.get("sub"), raw.get("iat"), raw.get("exp")
    if not isinstance(sub, str) or not isinstance(iat, int | float) or not isinstance(
        exp, int | float
    ):
        raise InvalidToken("malformed token: claims of the wrong type")
    return {"sub": sub, "iat": int(iat), "exp": int(exp)}


def _jwt_reason(exc: Exception) -> str:
    # PyJWT's messages name the part that failed and never echo the token; keep them short.
    text = str(exc).rstrip(".")
    return (text[:1].lower() + text[1:])[:120] or type(exc).__name__
