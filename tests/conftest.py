"""Shared fixtures: small captures, the REAL replay server on 127.0.0.1:0, WebSocket clients and
the cutting TCP proxy.

- ``write_capture(path, count)``: a deterministic capture cycling through the four channels,
  10 ms apart, with timestamps inside ``data`` too (``data.timestamp``, ``executed_at``,
  ``expired_at``).
- ``capture``: such a capture of 400 messages in ``tmp_path``.
- ``serve(capture, **options)``: start a replay server (a :class:`BackgroundServer`: its own
  thread and event loop) with ``ServeOptions`` overrides; stopped at teardown. ``server.ws_url``,
  ``server.base_url``, ``server.secret``, ``server.token(node_id)``.
- ``connect(server_or_url, token=None)``: a blocking :class:`WsClient`; closed at teardown.
- ``cutting_proxy(port, cut_every=None)``: a :class:`CuttingProxy` in front of a server.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import websocket

from openagi_nb.capture import CaptureWriter
from openagi_nb.model import data_message, encode, format_timestamp
from openagi_nb.server import BackgroundServer, ServeOptions

from .tcp_proxy import CuttingProxy

TEST_SECRET = "test-secret-for-the-replay-server-0123456789"
T0_NS = 1_672_531_200_000_000_000  # 2023-01-01T00:00:00Z
STEP_NS = 10_000_000
CHANNEL_CYCLE = ("network_events", "consensus_events", "security_events", "monitoring_events")
DATA_TYPES = {"network_event", "consensus_event", "security_event", "monitoring_event"}


def make_message(i: int, ns: int) -> dict[str, Any]:
    """Message ``i`` of a test capture, at ``ns``: the channel cycles with ``i``."""
    ts = format_timestamp(ns)
    channel = CHANNEL_CYCLE[i % 4]
    if channel == "network_events":
        data: dict[str, Any] = {"node_id": f"node_{i % 25}", "address": f"n{i % 25}.onion",
                                "timestamp": ts}
        return dict(data_message(channel, "node_joined", data, ts))
    if channel == "consensus_events":
        data = {"proposal_id": f"proposal_{i}", "executed_at": ts,
                "decision": {"action": "update_parameter", "parameter": "lr", "value": 0.01}}
        return dict(data_message(channel, "decision_executed", data, ts))
    if channel == "security_events":
        data = {"node_id": f"node_{i % 25}", "expired_at": ts, "severity": "high"}
        return dict(data_message(channel, "certificate_expired", data, ts))
    data = {"node_id": f"node_{i % 25}", "metric": "cpu_usage", "value": float(i % 100),
            "threshold": 80.0, "status": "ok"}
    return dict(data_message(channel, "metric_update", data, ts))


def write_capture(
    path: Path, count: int = 400, *, start_ns: int = T0_NS, step_ns: int = STEP_NS,
    extra_lines: tuple[str, ...] = (),
) -> Path:
    """Write ``count`` test messages (then ``extra_lines`` verbatim) as a capture at ``path``."""
    with CaptureWriter(path) as writer:
        for i in range(count):
            writer.write(encode(make_message(i, start_ns + i * step_ns)))
        for line in extra_lines:
            writer.write(line)
    return path


@pytest.fixture
def capture(tmp_path: Path) -> Path:
    """A 400-message test capture (100 per channel, 10 ms apart)."""
    return write_capture(tmp_path / "capture.jsonl", 400)


@pytest.fixture
def serve() -> Iterator[Callable[..., BackgroundServer]]:
    """Factory: ``serve(capture, **options)`` starts a real server on 127.0.0.1:0."""
    started: list[BackgroundServer] = []

    def start(capture: Path | str, **options: Any) -> BackgroundServer:
        settings = {"host": "127.0.0.1", "port": 0, "secret": TEST_SECRET, **options}
        server = BackgroundServer(ServeOptions(str(capture), **settings)).start()
        started.append(server)
        return server

    yield start
    for server in reversed(started):
        server.stop()


class WsClient:
    """A blocking WebSocket client for tests (websocket-client), one JSON object per frame."""

    def __init__(self, url: str, timeout: float = 10.0, **options: Any) -> None:
        self.ws = websocket.create_connection(url, timeout=timeout, **options)
        self.timeout = timeout

    def send(self, message: dict[str, Any] | str | bytes) -> None:
        """Send a dict as JSON text, a str as text, bytes as a binary frame."""
        if isinstance(message, dict):
            self.ws.send(orjson.dumps(message).decode())
        elif isinstance(message, bytes):
            self.ws.send_binary(message)
        else:
            self.ws.send(message)

    def subscribe(self, channel: str, since: int | None = None) -> None:
        message: dict[str, Any] = {"type": "subscribe", "channel": channel}
        if since is not None:
            message["since"] = since
        self.send(message)

    def recv(self) -> dict[str, Any]:
        """The next message (raises websocket exceptions on close or timeout)."""
        frame = self.ws.recv()
        return orjson.loads(frame)

    def recv_until(self, accept: Callable[[dict[str, Any]], bool], limit: int = 100_000
                   ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Read until a message ``accept`` s; return it and everything read before it."""
        before = []
        for _ in range(limit):
            message = self.recv()
            if accept(message):
                return message, before
            before.append(message)
        raise AssertionError(f"no accepted message in {limit}")

    def reply(self, kind: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Read until a message of type ``kind``; return it and the messages before it."""
        return self.recv_until(lambda m: m.get("type") == kind)

    def data(self, count: int) -> list[dict[str, Any]]:
        """The next ``count`` data messages (control replies in between are skipped)."""
        out: list[dict[str, Any]] = []
        while len(out) < count:
            message = self.recv()
            if message.get("type") in DATA_TYPES:
                out.append(message)
        return out

    def close_status(self) -> int | None:
        """Read until the server closes; return its close code."""
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            frame = self.ws.recv_frame()  # unlike recv(), does not answer the close itself
            if frame.opcode == websocket.ABNF.OPCODE_CLOSE:
                data = frame.data
                return int.from_bytes(data[:2], "big") if len(data) >= 2 else None
        raise AssertionError("the server did not close")

    def close(self) -> None:
        """Close handshake if still open, and the socket in any case."""
        with contextlib.suppress(OSError, websocket.WebSocketException):
            self.ws.close(timeout=1)
        self.ws.shutdown()


@pytest.fixture
def connect() -> Iterator[Callable[..., WsClient]]:
    """Factory: ``connect(server, token=None)`` or ``connect(url_with_token)``."""
    clients: list[WsClient] = []

    def open_(target: BackgroundServer | str, token: str | None = None, **options: Any
              ) -> WsClient:
        if isinstance(target, BackgroundServer):
            target = f"{target.ws_url}?token={token or target.token('tester')}"
        client = WsClient(target, **options)
        clients.append(client)
        return client

    yield open_
    for client in clients:
        client.close()


@pytest.fixture
def cutting_proxy() -> Iterator[Callable[..., CuttingProxy]]:
    """Factory: ``cutting_proxy(port, cut_every=None)`` forwards 127.0.0.1:port, cutting."""
    proxies: list[CuttingProxy] = []

    def start(port: int, cut_every: int | None = None) -> CuttingProxy:
        proxy = CuttingProxy(("127.0.0.1", port), cut_every=cut_every).start()
        proxies.append(proxy)
        return proxy

    yield start
    for proxy in proxies:
        proxy.close()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, made with the openssl command."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    return cert, key
