"""The stream's bytes: open a connection (TCP, TLS, the opening handshake), read, write, close.

This is the one place that touches sockets and calls websocket-client, and the one place their
errors become a :class:`~._reconnect.Failure`. The socket is ours: we connect it and wrap it in
TLS with the standard library, and hand it to websocket-client's documented ``socket=`` option,
which does the HTTP Upgrade handshake (RFC 6455 section 4) over it. Everything after the
handshake is read and written here in big chunks and framed by :mod:`openagi_nb.model`'s
framing, through the sans-I/O :class:`~._session.ClientSession`; websocket-client's own frame
reader costs several times more per frame (``docs/protocol.md`` section 12).
"""

from __future__ import annotations

import contextlib
import socket
import ssl
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson
import websocket

from ._reconnect import Ending, Failure, Outcome

__all__ = ["TICK", "Transport", "dial", "redact", "scrub", "split_token", "with_token"]

TICK: Final = 0.25
"""Seconds a read may wait before the stream gets a chance to ping, flush and notice stop()."""
READ_SIZE: Final = 65536
_PORTS: Final = {"ws": 80, "wss": 443}
_SSLOPT_KEYS: Final = frozenset({
    "context", "ca_certs", "ca_cert_path", "cert_reqs", "check_hostname", "certfile", "keyfile",
    "password", "server_hostname",
})


class Transport:
    """One open connection, after the handshake: a socket that reads with a :data:`TICK`
    timeout. Only the stream's thread reads and writes it; :meth:`abort` may come from any."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def recv(self) -> bytes | None:
        """What arrived (``b""`` once the peer closed), or None after :data:`TICK` of nothing.

        Raises:
            OSError: the connection broke.
        """
        try:
            return self._sock.recv(READ_SIZE)
        except TimeoutError:
            return None

    def send(self, data: bytes) -> None:
        """Write all of ``data`` (raises OSError if the connection broke)."""
        self._sock.sendall(data)

    def abort(self) -> None:
        """Cut the connection now, from any thread: a blocked read returns at once."""
        with contextlib.suppress(OSError):  # already gone
            self._sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        """Release the socket (the stream's thread, once it stopped reading)."""
        self._sock.close()


def dial(
    url: str, token: str | None, *, timeout: float = 10.0, sslopt: dict[str, Any] | None = None
) -> Transport | Failure:
    """Open ``url`` with ``token``: a :class:`Transport`, or a :class:`Failure` saying why not
    (HTTP 401 is ``Ending(HTTP, 401)``: the token was refused)."""
    parts = urlsplit(url)
    if parts.scheme not in _PORTS or not parts.hostname:
        return Failure(Ending(Outcome.CONFIG),
                       f"invalid URL {redact(url)!r}: expected ws:// or wss://host[:port]/path")
    try:
        port = parts.port or _PORTS[parts.scheme]
        context = tls_context(sslopt or {}) if parts.scheme == "wss" else None
    except (ValueError, OSError, ssl.SSLError) as exc:
        return Failure(Ending(Outcome.CONFIG), f"invalid URL or TLS options for "
                       f"{redact(url)!r}: {exc}")
    sock: socket.socket | None = None
    try:
        sock = socket.create_connection((parts.hostname, port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if context is not None:
            hostname = (sslopt or {}).get("server_hostname", parts.hostname)
            sock = context.wrap_socket(sock, server_hostname=hostname)
        websocket.WebSocket(skip_utf8_validation=True).connect(
            with_token(url, token), socket=sock, timeout=timeout)  # type: ignore[no-untyped-call]
        sock.settimeout(TICK)
    except (websocket.WebSocketException, OSError, ValueError) as exc:
        if sock is not None:
            sock.close()
        return _refused(exc, url, token)
    return Transport(sock)


def tls_context(sslopt: dict[str, Any]) -> ssl.SSLContext:
    """The TLS context for ``wss://`` from websocket-client's ``sslopt`` keys: ``context``
    (used as it is), or ``ca_certs``/``ca_cert_path``, ``cert_reqs``, ``check_hostname``,
    ``certfile``/``keyfile``/``password`` on the system's defaults.

    Raises:
        ValueError: a key this stream does not support.
    """
    unknown = sorted(set(sslopt) - _SSLOPT_KEYS)
    if unknown:
        raise ValueError(f"unsupported sslopt keys {unknown}; supported: {sorted(_SSLOPT_KEYS)}")
    if "context" in sslopt:
        context: ssl.SSLContext = sslopt["context"]
        return context
    context = ssl.create_default_context(
        cafile=sslopt.get("ca_certs"), capath=sslopt.get("ca_cert_path"))
    cert_reqs = sslopt.get("cert_reqs", ssl.CERT_REQUIRED)
    context.check_hostname = bool(sslopt.get("check_hostname", cert_reqs != ssl.CERT_NONE))
    context.verify_mode = cert_reqs
    if "certfile" in sslopt:
        context.load_cert_chain(sslopt["certfile"], sslopt.get("keyfile"),
                                sslopt.get("password"))
    return context


def _refused(exc: websocket.WebSocketException | OSError | ValueError, url: str,
             token: str | None) -> Failure:
    """The one translation of a failed connect (socket, TLS or websocket-client error)."""
    if isinstance(exc, websocket.WebSocketBadStatusException):
        code = int(exc.status_code)
        message = f"server refused the connection: HTTP {code}{_body_message(exc.resp_body)}"
        return Failure(Ending(Outcome.HTTP, code), scrub(message, token))
    if isinstance(exc, ssl.SSLCertVerificationError):  # retrying will not make it trusted
        message = f"cannot connect to {redact(url)}: {exc.verify_message or exc}"
        return Failure(Ending(Outcome.CONFIG), message)
    message = f"cannot connect to {redact(url)}: {_reason(exc)}"
    return Failure(Ending(Outcome.NETWORK), scrub(message, token))


def split_token(url: str) -> tuple[str, str | None]:
    """``(url without its token, the token or None)``: a token in the query counts as given."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    tokens = [v for k, v in query if k == "token"]
    rest = urlencode([(k, v) for k, v in query if k != "token"])
    return urlunsplit(parts._replace(query=rest)), (tokens[-1] if tokens else None)


def with_token(url: str, token: str | None) -> str:
    """``url`` with ``?token=...`` added (the API's way to authenticate)."""
    if not token:
        return url
    return url + ("&" if urlsplit(url).query else "?") + urlencode({"token": token})


def redact(url: str) -> str:
    """``url`` without its token: what reprs, logs and errors show."""
    return split_token(url)[0]


def scrub(text: str, secret: str | None) -> str:
    """``text`` with ``secret`` (a token) blanked out, should a library have quoted it."""
    return text.replace(secret, "***") if secret else text


def _body_message(body: bytes | None) -> str:
    """The ``error.message`` of a JSON error body (the REST API's shape), if there is one."""
    try:
        error = orjson.loads(body or b"")["error"]
        return f" ({error['message']})"
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return ""


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
