"""A TCP proxy for tests that cuts connections: resume and reconnect are tested through it.

It listens on ``127.0.0.1:0`` and forwards every connection to a target, byte for byte, until it
is told to cut: :meth:`CuttingProxy.cut` closes every open connection now, and
``cut_every=N`` cuts each connection once N bytes have gone from the server to the client (so
cuts land in the middle of frames, as real ones do). A cut is abrupt on both sides (RST, no
close handshake). New connections are forwarded as before. Real sockets only, no mock.

    with CuttingProxy(("127.0.0.1", server_port), cut_every=50_000) as proxy:
        url = f"ws://127.0.0.1:{proxy.port}/api/v1/ws"
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import struct
import threading
from types import TracebackType

__all__ = ["CuttingProxy"]

_LINGER_RST = struct.pack("ii", 1, 0)


class CuttingProxy:
    """Forward TCP connections to ``target``; cut them on demand or every ``cut_every`` bytes.

    Attributes:
        connections: connections accepted so far.
        cuts: connections cut by the proxy (not closed by either end).
    """

    def __init__(self, target: tuple[str, int], *, cut_every: int | None = None) -> None:
        self.target = target
        self.cut_every = cut_every
        self.connections = 0
        self.cuts = 0
        self._lock = threading.Lock()
        self._links: set[_Link] = set()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port: int = self._listener.getsockname()[1]
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="cutting-proxy", daemon=True)

    def start(self) -> CuttingProxy:
        """Start accepting; return self."""
        self._thread.start()
        return self

    def cut(self) -> int:
        """Cut every open connection now; return how many were cut."""
        with self._lock:
            links = list(self._links)
        for link in links:
            link.cut()
        return len(links)

    def close(self) -> None:
        """Stop accepting and cut what is still open."""
        self._stopping.set()
        self._thread.join(5.0)
        self._listener.close()
        self.cut()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5.0)
            except OSError:
                client.close()
                continue
            link = _Link(self, client, upstream)
            with self._lock:
                self.connections += 1
                self._links.add(link)
            link.start()

    def _done(self, link: _Link, was_cut: bool) -> None:
        with self._lock:
            self._links.discard(link)
            self.cuts += was_cut

    def __enter__(self) -> CuttingProxy:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class _Link:
    """One proxied connection: a thread moving bytes both ways until an end closes or a cut."""

    def __init__(self, proxy: CuttingProxy, client: socket.socket, upstream: socket.socket) -> None:
        self.proxy, self.client, self.upstream = proxy, client, upstream
        self.down = 0  # bytes server -> client
        self._cut = threading.Event()
        self._thread = threading.Thread(target=self._run, name="proxy-link", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def cut(self) -> None:
        self._cut.set()

    def _run(self) -> None:
        for sock in (self.client, self.upstream):
            sock.setblocking(False)
        peer = {self.client: self.upstream, self.upstream: self.client}
        was_cut = False
        with selectors.DefaultSelector() as sel:
            for sock in peer:
                sel.register(sock, selectors.EVENT_READ)
            while not was_cut:
                if self._cut.is_set():
                    was_cut = True
                    break
                events = sel.select(0.05)
                if any(not self._pass(key.fileobj, peer[key.fileobj])  # type: ignore[index,arg-type]
                       for key, _ in events):
                    break
                was_cut = self._cut.is_set()
        self._close(abrupt=was_cut)
        self.proxy._done(self, was_cut)

    def _pass(self, src: socket.socket, dst: socket.socket) -> bool:
        """Move what ``src`` has to ``dst``; False when an end closed."""
        try:
            data = src.recv(65536)
        except BlockingIOError:
            return True
        except OSError:
            return False
        if not data:
            return False
        if src is self.upstream and self.proxy.cut_every is not None:
            room = self.proxy.cut_every - self.down
            if len(data) >= room:
                data = data[:room]
                self._cut.set()  # forward up to the limit, then cut
            self.down += len(data)
        try:
            dst.settimeout(10.0)  # a client that stops reading ends the link, not the test
            dst.sendall(data)
            dst.setblocking(False)
        except OSError:
            return False
        return True

    def _close(self, abrupt: bool) -> None:
        for sock in (self.client, self.upstream):
            if abrupt:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
            sock.close()
