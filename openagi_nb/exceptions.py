"""The one exception tree of openagi-nb.

Every error the package raises on purpose is an :class:`OpenAGIError`; errors of the libraries we
call (websocket-client, aiohttp, PyJWT, pyarrow) are translated where we call them, with
``raise X(...) from exc``::

    OpenAGIError
    ├── InvalidMessage        (also ValueError)  a frame that is not a valid API message
    ├── CaptureError          (also OSError)     a capture that cannot be read or written
    ├── StreamError                              the live stream
    │   ├── ConnectionFailed                     could not connect, or gave up reconnecting
    │   │   ├── ProtocolError                    the server broke RFC 6455 or the API's protocol
    │   │   └── TokenRequestFailed               the token endpoint failed or gave no token
    │   │       └── TokenRefused  (also AuthenticationFailed)  ... with HTTP 4xx
    │   ├── AuthenticationFailed                 the server refused the token
    │   └── StreamTimeout     (also TimeoutError) wait_for ran out of time
    ├── InvalidToken          (also ValueError)  the server's check of a token failed
    ├── ServerConfigError     (also ValueError)  the replay server was configured wrongly
    ├── ScenarioError         (also ValueError)  the scenario generator was asked the impossible
    └── ReportError                              a report was asked wrongly (unknown notebook or
        │                                        parameter, nowhere to write it)
        └── NotebookFailed                       ... or its notebook failed: a cell raised or ran
                                                 out of time, or the kernel died

Messages are lower-case fragments that name the bad value (``unknown channel 'nope_events'``) and
never contain a token.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "AuthenticationFailed",
    "CaptureError",
    "ConnectionFailed",
    "ErrorCode",
    "InvalidMessage",
    "InvalidToken",
    "NotebookFailed",
    "OpenAGIError",
    "ProtocolError",
    "ReportError",
    "ScenarioError",
    "ServerConfigError",
    "StreamError",
    "StreamTimeout",
    "TokenRefused",
    "TokenRequestFailed",
]

RAW_LIMIT = 1024
"""How much of a rejected frame is kept (characters): enough to see what was wrong, bounded."""


def truncate(raw: str | bytes, limit: int = RAW_LIMIT) -> str:
    """Return ``raw`` as text cut to ``limit`` characters, marking the cut."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes | bytearray) else raw
    return text if len(text) <= limit else text[:limit] + "…"


class ErrorCode(StrEnum):
    """The ``code`` of an ``error`` reply, and of :class:`InvalidMessage`."""

    BAD_JSON = "bad_json"
    NOT_OBJECT = "not_object"
    MISSING_TYPE = "missing_type"
    UNKNOWN_TYPE = "unknown_type"
    UNKNOWN_CHANNEL = "unknown_channel"
    UNKNOWN_EVENT = "unknown_event"
    BAD_FIELD = "bad_field"
    TOO_LARGE = "too_large"
    BINARY_FRAME = "binary_frame"
    RATE_LIMITED = "rate_limited"
    HISTORY_TRUNCATED = "history_truncated"
    SLOW_CONSUMER = "slow_consumer"


class OpenAGIError(Exception):
    """Root of every error openagi-nb raises on purpose."""


class InvalidMessage(OpenAGIError, ValueError):
    """A frame that is not a valid message of the API.

    Attributes:
        reason: what is wrong, naming the field (``field 'data.value': expected a number``).
        code: a short machine-readable kind (``bad_json``, ``unknown_type``, ``bad_field``...),
            the same codes the replay server sends back in its ``error`` messages.
        raw: the offending frame as text, truncated to 1 KB.
    """

    def __init__(self, reason: str, *, code: str = "bad_field", raw: str | bytes = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.raw = truncate(raw)


class CaptureError(OpenAGIError, OSError):
    """A capture that cannot be read or written; says which file and, for a bad line, which line."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        where = f"{path}:{line}: " if path and line else f"{path}: " if path else ""
        super().__init__(where + message)
        self.path = path
        self.line = line


class StreamError(OpenAGIError):
    """Something went wrong with a live stream."""


class ConnectionFailed(StreamError):
    """The stream could not connect, or gave up reconnecting."""


class ProtocolError(ConnectionFailed):
    """The server broke the WebSocket framing (RFC 6455) or the API's protocol: the connection
    cannot go on (the stream reconnects).

    Attributes:
        close_code: what to close the connection with (RFC 6455 section 7.4.1): 1002 for
            broken framing, 1009 for a message over the limit, 1007 for text that is not UTF-8.
    """

    def __init__(self, message: str, *, close_code: int = 1002) -> None:
        super().__init__(message)
        self.close_code = close_code


class AuthenticationFailed(StreamError):
    """The server refused the token (HTTP 401 at the handshake, or close code 4001)."""


class TokenRequestFailed(ConnectionFailed):
    """``POST /api/v1/auth/token`` could not be reached, failed, or answered without a token.

    Attributes:
        status: the HTTP status of the answer (None when none came).
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class TokenRefused(TokenRequestFailed, AuthenticationFailed):
    """The token endpoint refused to issue a token (HTTP 4xx): asking again will not help."""


class StreamTimeout(StreamError, TimeoutError):
    """``EventStream.wait_for`` ran out of time; the message says what the stream was doing."""


class InvalidToken(OpenAGIError, ValueError):
    """A token the replay server does not accept: missing, malformed, forged, of another
    algorithm, or expired. The message is fit for an HTTP 401 body and never holds the token."""


class ServerConfigError(OpenAGIError, ValueError):
    """The replay server was given options it cannot run with."""


class ScenarioError(OpenAGIError, ValueError):
    """The scenario generator was given arguments it cannot generate from (too few nodes, too
    short a duration...)."""


class ReportError(OpenAGIError):
    """A report (``openagi_nb.pages.report``) that cannot be made as asked: an unknown notebook
    name, a parameter the notebook does not have, an output directory that does not exist."""


class NotebookFailed(ReportError):
    """The notebook of a report failed while it ran: a cell raised, a cell ran out of time, or
    the kernel died or did not start. The message names the notebook, the cell and the error,
    without the traceback (the executed notebook, when kept, holds it).

    Attributes:
        notebook: the notebook's file name.
        cell: the failing cell's execution count (``In [n]``), None when no cell was running.
        ename: the exception's class name in the kernel (``KeyError``), or ``"timeout"``,
            ``"dead kernel"``.
        evalue: the exception's message.
    """

    def __init__(self, message: str, *, notebook: str, cell: int | None = None,
                 ename: str = "", evalue: str = "") -> None:
        super().__init__(message)
        self.notebook = notebook
        self.cell = cell
        self.ename = ename
        self.evalue = evalue
