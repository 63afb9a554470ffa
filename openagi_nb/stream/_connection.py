"""The one place that calls websocket-client: open a connection, read its frames fast, close it,
and turn every websocket-client or socket error into an :class:`~.reconnect.Ending`.

websocket-client opens the connection (handshake, TLS, proxies), sends and closes; frames are read
by ``client_wire.FrameReader`` from 64 KiB reads, several times cheaper per frame than
websocket-client's reader. UTF-8 is not checked here: ``orjson`` checks it when it decodes, and
websocket-client's own check is pure Python (PERF_NOTES).
"""

from __future__ import annotations

import contextlib
import ssl
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson
import websocket

from ..exceptions import ConnectionFailed
from ..model import BINARY, CLOSE, PING, TEXT, FrameReader
from ._reconnect import Ending, Outcome

__all__ = ["Connection", "Failure", "open_connection", "redact", "split_token", "with_token"]

_UNSENDABLE: Final = frozenset({1005, 1006, 1015})
TICK: Final = 0.25
"""Seconds a read may wait before the stream gets a chance to ping, flush and notice stop()."""



@dataclass(frozen=True, slots=True)
class Failure:
    """Why a connection could not be opened or ended: the ending for the policy, and a message
    for ``last_error`` (no token in it)."""

    ending: Ending
    message: str


def split_token(url: str) -> tuple[str, str | None]:
    """``(url without its token, the token or None)``: a token in the query counts as given."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    tokens = [v for k, v in query if k == "token"]
    rest = urlencode([(k, v) for k, v in query if k != "token"])
    return urlunsplit(parts._replace(query=rest)), (tokens[-1] if tokens else None)


def with_token(url: str, token: str | None) -> str:
    """``url`` with ``?token=...`` added (the spec's way to authenticate)."""
    if not token:
        return url
    return url + ("&" if urlsplit(url).query else "?") + urlencode({"token": token})


def redact(url: str) -> str:
    """``url`` without its token: what reprs, logs and errors show."""
    return split_token(url)[0]


def scrub(text: str, secret: str | None) -> str:
    """``text`` with ``secret`` (a token) blanked out, should a library have quoted it."""
    return text.replace(secret, "***") if secret else text


class Connection:
    """One open websocket: read frames on the stream's thread, send from any thread."""

    def __init__(self, ws: websocket.WebSocket, token: str | None) -> None:
        self._ws = ws
        self._token = token

    def run(
        self,
        on_text: Callable[[bytes], None],
        on_binary: Callable[[bytes], None],
        on_tick: Callable[[], Failure | None],
        tick_every: int = 1024,
    ) -> Failure:
        """Read messages until the connection ends; return how it ended.

        ``on_text`` gets each text message's raw bytes, ``on_binary`` each binary one;
        ``on_tick`` runs when nothing came for :data:`TICK` seconds and every ``tick_every``
        messages, and ends the session by returning a :class:`Failure`.
        """
        ws, count = self._ws, 0
        # websocket-client's own socket read: timeouts, TLS and closed sockets handled as it does
        read = FrameReader(lambda n: ws._recv(n)).next  # type: ignore[no-untyped-call]
        try:
            while True:
                try:
                    opcode, data = read()
                except websocket.WebSocketTimeoutException:
                    failure = on_tick()
                    if failure is not None:
                        return failure
                    continue
                if opcode == TEXT:
                    on_text(data)
                elif opcode == BINARY:
                    on_binary(data)
                elif opcode == CLOSE:
                    failure = _closed(data)
                    self._answer_close(failure.ending.code)
                    return failure
                elif opcode == PING:
                    ws.pong(data)
                count += 1
                if count >= tick_every:
                    count = 0
                    failure = on_tick()
                    if failure is not None:
                        return failure
        except (websocket.WebSocketException, OSError, ConnectionFailed) as exc:
            return Failure(Ending(Outcome.NETWORK), scrub(f"connection lost: {_reason(exc)}",
                                                          self._token))

    def _answer_close(self, code: int | None) -> None:
        """RFC 6455 §5.5.1: answer the peer's close frame, echoing its code when it may be
        sent (§7.4.1: not 1005, 1006 or 1015)."""
        sendable = code is not None and 1000 <= code < 5000 and code not in _UNSENDABLE
        echo = code if sendable and code is not None else 1000
        with contextlib.suppress(websocket.WebSocketException, OSError, ValueError):
            self._ws.send_close(echo)

    def send(self, text: str) -> bool:
        """Send a text message; False if the connection is gone (the reader will see why)."""
        try:
            self._ws.send(text)
        except (websocket.WebSocketException, OSError):
            return False
        return True

    def send_all(self, texts: list[str]) -> bool:
        """Send several text messages in one write, so the server reads them together (a
        subscription set arrives as one, not spread over the first events)."""
        ws = self._ws
        data = b"".join(websocket.ABNF.create_frame(t, TEXT).format() for t in texts)
        try:
            with ws.lock:
                if ws.sock is None:
                    return False
                ws.sock.sendall(data)
        except OSError:
            return False
        return True

    def close(self, code: int = 1000) -> None:
        """Start the closing handshake; the reader returns when the server answers."""
        try:
            self._ws.send_close(code)
        except (websocket.WebSocketException, OSError):
            self.abort()

    def abort(self) -> None:
        """Cut the socket now: a blocked read returns at once."""
        self._ws.abort()  # type: ignore[no-untyped-call]

    def shutdown(self) -> None:
        """Release the socket (after :meth:`run` has returned)."""
        self._ws.shutdown()  # type: ignore[no-untyped-call]


def open_connection(
    url: str, token: str | None, *, timeout: float = 10.0, sslopt: dict[str, Any] | None = None
) -> Connection | Failure:
    """Open ``url`` with ``token``; a :class:`Connection`, or a :class:`Failure` saying why not
    (HTTP 401 is ``Ending(HTTP, 401)``: the token was refused)."""
    ws = websocket.WebSocket(skip_utf8_validation=True, enable_multithread=True, sslopt=sslopt)
    try:
        ws.connect(with_token(url, token), timeout=timeout)  # type: ignore[no-untyped-call]
        ws.settimeout(TICK)
    except websocket.WebSocketBadStatusException as exc:
        code = int(exc.status_code)
        message = f"server refused the connection: HTTP {code}{_body_message(exc.resp_body)}"
        return Failure(Ending(Outcome.HTTP, code), scrub(message, token))
    except ValueError as exc:  # websocket-client's word for a URL it cannot use
        return Failure(Ending(Outcome.CONFIG), f"invalid URL {redact(url)!r}: {exc}")
    except ssl.SSLCertVerificationError as exc:  # retrying will not make it trusted
        message = f"cannot connect to {redact(url)}: {exc.verify_message or exc}"
        return Failure(Ending(Outcome.CONFIG), message)
    except (websocket.WebSocketException, OSError) as exc:
        message = f"cannot connect to {redact(url)}: {_reason(exc)}"
        return Failure(Ending(Outcome.NETWORK), scrub(message, token))
    return Connection(ws, token)


def _closed(data: bytes) -> Failure:
    code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else 1005
    reason = data[2:].decode("utf-8", "replace")
    text = f"server closed the connection: {code}" + (f" {reason}" if reason else "")
    return Failure(Ending(Outcome.CLOSED, code), text)


def _body_message(body: bytes | None) -> str:
    """The ``error.message`` of a JSON error body (the REST spec's shape), if there is one."""
    try:
        error = orjson.loads(body or b"")["error"]
        return f" ({error['message']})"
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return ""


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
