"""The HTTP API's shapes (``docs/protocol.md`` section 3), shared by the app and the WebSocket
handshake: JSON bodies, and the error body ``{"error": {"code", "message", "details"}}`` for
every HTTP refusal, aiohttp's own (404, 405, 413...) included.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

__all__ = ["error_response", "json_errors", "json_response"]

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_response(body: Any, status: int = 200) -> web.Response:
    """``body`` as JSON (orjson)."""
    return web.json_response(body, status=status, dumps=_dumps)


def error_response(status: int, message: str, details: str = "") -> web.Response:
    """The HTTP error body (``docs/protocol.md`` section 3.3) with HTTP ``status``."""
    return json_response({"error": {"code": status, "message": message, "details": details}},
                         status)


@web.middleware
async def json_errors(request: web.Request, handler: _Handler) -> web.StreamResponse:
    """aiohttp's own refusals (404, 405, 413...) in the HTTP error body."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(exc.status, exc.reason, exc.text or "")


def _dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()
