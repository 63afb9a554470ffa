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
import errno
import os
import select
import socket
import ssl
import threading
import time
from typing import Any, Final, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson
import websocket

from ._reconnect import Ending, Failure, Outcome
from ._token import NOBODY_THERE

__all__ = ["TICK", "Dial", "Transport", "redact", "scrub", "split_token", "with_token"]

TICK: Final = 0.25
"""Seconds a read may wait before the stream gets a chance to ping, flush and notice stop()."""
READ_SIZE: Final = 65536
_PORTS: Final = {"ws": 80, "wss": 443}
_S = TypeVar("_S", bound=socket.socket)
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

    def linger(self, seconds: float) -> None:
        """After our close frame: tell the peer we send no more (FIN) and read and drop what
        it still sends until it closes, for ``seconds`` at most. Closing with unread data
        would reset the connection, and a reset can discard our close frame before the peer
        reads it (RFC 6455 section 7.1.1: the server closes the TCP connection first)."""
        deadline = time.monotonic() + seconds
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_WR)
            while time.monotonic() < deadline and self.recv() != b"":
                pass

    def abort(self) -> None:
        """Cut the connection now, from any thread: a blocked read returns at once."""
        with contextlib.suppress(OSError):  # already gone
            self._sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        """Release the socket (the stream's thread, once it stopped reading)."""
        self._sock.close()


class _Cancelled(Exception):
    """The attempt was cancelled (stop())."""


_STOPPED: Final = Failure(Ending(Outcome.STOPPED), "stopped")


class Dial:
    """One attempt to open ``url`` with ``token``: TCP, TLS, the opening handshake.

    :meth:`run` works on the stream's thread; :meth:`cancel`, from any thread, ends it within a
    :data:`TICK` in every step (a handshake read blocked on a silent server at once), except a
    name lookup in progress, which the system resolver does not let us interrupt.
    """

    def __init__(self, url: str, token: str | None, *, timeout: float = 10.0,
                 sslopt: dict[str, Any] | None = None) -> None:
        self._url, self._token, self._timeout, self._sslopt = url, token, timeout, sslopt or {}
        self._cancelled = threading.Event()
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None

    def cancel(self) -> None:
        """End the attempt: :meth:`run` returns a ``stopped`` failure."""
        self._cancelled.set()
        with self._lock:
            sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def run(self) -> Transport | Failure:
        """A :class:`Transport`, or a :class:`Failure` saying why not (HTTP 401 is
        ``Ending(HTTP, 401)``: the token was refused)."""
        url, parts = self._url, urlsplit(self._url)
        if parts.scheme not in _PORTS or not parts.hostname:
            return Failure(Ending(Outcome.CONFIG),
                           f"invalid URL {redact(url)!r}: expected ws:// or wss://host[:port]/path")
        try:
            port = parts.port or _PORTS[parts.scheme]
            context = tls_context(self._sslopt) if parts.scheme == "wss" else None
        except (ValueError, OSError, ssl.SSLError) as exc:
            return Failure(Ending(Outcome.CONFIG), f"invalid URL or TLS options for "
                           f"{redact(url)!r}: {exc}")
        deadline = time.monotonic() + self._timeout
        try:
            sock = self._connect(parts.hostname, port, deadline)
            if context is not None:
                hostname = self._sslopt.get("server_hostname", parts.hostname)
                sock = self._tls(sock, context, hostname, deadline)
            sock.settimeout(max(deadline - time.monotonic(), TICK))
            websocket.WebSocket(skip_utf8_validation=True).connect(  # type: ignore[no-untyped-call]
                with_token(url, self._token), socket=sock, timeout=sock.gettimeout())
            sock.settimeout(TICK)
        except _Cancelled:
            self._release()
            return _STOPPED
        except (websocket.WebSocketException, OSError, ValueError) as exc:
            self._release()
            return _STOPPED if self._cancelled.is_set() else _refused(exc, url, self._token)
        return Transport(sock)

    def open(self) -> socket.socket:
        """A TCP connection to the server (TLS for ``wss``), as :meth:`run` opens it before its
        handshake: for a plain HTTP request to the same server (the status endpoint, see
        ``_features``). Cancellable alike; :meth:`release` closes it.

        Raises:
            OSError: it could not be opened, or the attempt was cancelled.
        """
        parts = urlsplit(self._url)
        if parts.scheme not in _PORTS or not parts.hostname:
            raise OSError(f"invalid URL {redact(self._url)!r}")
        host, deadline = parts.hostname, time.monotonic() + self._timeout
        try:
            sock = self._connect(host, parts.port or _PORTS[parts.scheme], deadline)
            if parts.scheme == "wss":
                sock = self._tls(sock, tls_context(self._sslopt),
                                 self._sslopt.get("server_hostname", host), deadline)
        except _Cancelled:
            raise OSError("cancelled") from None
        except (ValueError, ssl.SSLError) as exc:
            raise OSError(str(exc)) from exc
        sock.settimeout(max(deadline - time.monotonic(), TICK))
        return sock

    def release(self) -> None:
        """Close what :meth:`open` opened (idempotent)."""
        self._release()

    def _connect(self, host: str, port: int, deadline: float) -> socket.socket:
        """TCP to the first address that answers, polling for cancel while connecting."""
        error = OSError(f"no address for {host}")
        for family, kind, proto, _, address in socket.getaddrinfo(
                host, port, type=socket.SOCK_STREAM):
            sock = self._hold(socket.socket(family, kind, proto))
            try:
                sock.setblocking(False)
                code = sock.connect_ex(address)
                if code not in (0, errno.EINPROGRESS):
                    raise OSError(code, os.strerror(code))
                while not select.select([], [sock], [], TICK)[1]:
                    self._check(deadline)
                code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if code:
                    raise OSError(code, os.strerror(code))
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                return sock
            except OSError as exc:
                self._release()
                error = exc
        raise error

    def _tls(self, sock: socket.socket, context: ssl.SSLContext, hostname: str,
             deadline: float) -> ssl.SSLSocket:
        """The TLS handshake, non-blocking so that a cancel is seen within a tick."""
        tls = self._hold(context.wrap_socket(sock, server_hostname=hostname,
                                             do_handshake_on_connect=False))
        while True:
            try:
                tls.do_handshake()
                return tls
            except ssl.SSLWantReadError:
                select.select([tls], [], [], TICK)
            except ssl.SSLWantWriteError:
                select.select([], [tls], [], TICK)
            self._check(deadline)

    def _check(self, deadline: float) -> None:
        if self._cancelled.is_set():
            raise _Cancelled
        if time.monotonic() >= deadline:
            raise TimeoutError("timed out")

    def _hold(self, sock: _S) -> _S:
        """Remember the socket being opened, so that :meth:`cancel` can cut it."""
        with self._lock:
            self._sock = sock
        if self._cancelled.is_set():
            raise _Cancelled
        return sock

    def _release(self) -> None:
        with self._lock:
            sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()


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
        if code == 401:
            message = _unauthorized(_body_message(exc.resp_body), token)
        return Failure(Ending(Outcome.HTTP, code), scrub(message, token))
    if isinstance(exc, ssl.SSLCertVerificationError):  # retrying will not make it trusted
        message = f"cannot connect to {redact(url)}: {exc.verify_message or exc}"
        return Failure(Ending(Outcome.CONFIG), message)
    message = f"cannot connect to {redact(url)}: {_reason(exc)}"
    if isinstance(exc, ConnectionRefusedError):
        message += NOBODY_THERE
    return Failure(Ending(Outcome.NETWORK), scrub(message, token))


def _unauthorized(reason: str, token: str | None) -> str:
    """What a 401 means to the user: the token they gave was refused (and why, when the server
    said), or they gave none."""
    if not token:
        return (f"server refused the connection without a token: HTTP 401{reason}; pass "
                "token=, or node_id= to fetch one from the server's token endpoint")
    return f"server refused the token: HTTP 401{reason or ' (it gave no reason)'}"


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
        details = error.get("details")
        return f" ({error['message']}: {details})" if details else f" ({error['message']})"
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return ""


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
