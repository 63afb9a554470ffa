"""stream/_token.py: fetch_token against the real server, and against plain HTTP servers that
fail in the ways a token endpoint can (urllib translated to TokenRefused / TokenRequestFailed)."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from openagi_nb import model
from openagi_nb.exceptions import (
    AuthenticationFailed,
    ConnectionFailed,
    TokenRefused,
    TokenRequestFailed,
)
from openagi_nb.server._tokens import verify_token
from openagi_nb.stream import _token, fetch_token
from openagi_nb.stream._token import token_url

from .conftest import write_capture


@pytest.fixture
def answering() -> Iterator[Callable[[int, bytes], str]]:
    """``answering(status, body)``: the URL of an HTTP server on 127.0.0.1 that answers every
    POST with ``status`` and ``body``."""
    servers: list[ThreadingHTTPServer] = []

    def start(status: int, body: bytes) -> str:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server calls it by this name
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(("base", "expected"), [
    ("http://127.0.0.1:8080", "http://127.0.0.1:8080/api/v1/auth/token"),
    ("http://127.0.0.1:8080/", "http://127.0.0.1:8080/api/v1/auth/token"),
    ("ws://127.0.0.1:8080/api/v1/ws", "http://127.0.0.1:8080/api/v1/auth/token"),
    ("wss://host/prefix/api/v1/ws?token=x", "https://host/prefix/api/v1/auth/token"),
])
def test_token_url_accepts_server_and_websocket_urls(base, expected):
    assert token_url(base) == expected


def test_token_url_refuses_other_schemes_without_quoting_a_token():
    with pytest.raises(TokenRequestFailed, match="not an http") as info:
        token_url("ftp://127.0.0.1/?token=secret-value")
    assert "secret-value" not in str(info.value)
    assert info.value.status is None


def test_fetch_token_gets_a_token_the_server_accepts(tmp_path, serve, connect):
    server = serve(write_capture(tmp_path / "c.jsonl", 400), speed=20.0, loop=True)
    token = fetch_token(server.ws_url, node_id="fetcher", public_key="pk")
    assert verify_token(server.secret, token)["sub"] == "fetcher"
    client = connect(server, token=token)
    client.subscribe("network_events")
    client.data(1)


def test_fetch_token_refused_by_the_server_is_token_refused(tmp_path, serve):
    server = serve(write_capture(tmp_path / "c.jsonl", 10))
    with pytest.raises(TokenRefused, match="400: invalid request") as info:
        fetch_token(server.base_url, node_id="")
    assert info.value.status == 400
    # still caught where a refusal (AuthenticationFailed) or a failed request was caught
    assert isinstance(info.value, AuthenticationFailed)
    assert isinstance(info.value, TokenRequestFailed)
    assert isinstance(info.value, ConnectionFailed)


def test_fetch_token_from_nowhere_is_token_request_failed_without_a_status():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connection refused
        with pytest.raises(TokenRequestFailed, match="cannot reach") as info:
            fetch_token(f"http://127.0.0.1:{port}", timeout=5)
    assert info.value.status is None
    assert isinstance(info.value, ConnectionFailed)
    assert not isinstance(info.value, AuthenticationFailed)


def test_fetch_token_from_a_failing_server_is_token_request_failed_with_its_status(answering):
    body = b'{"error": {"code": 503, "message": "overloaded", "details": ""}}'
    with pytest.raises(TokenRequestFailed, match="503: overloaded") as info:
        fetch_token(answering(503, body))
    assert info.value.status == 503
    assert not isinstance(info.value, TokenRefused)


@pytest.mark.parametrize("body", [b'{"token_type": "bearer"}', b'{"token": ""}', b"[]", b"<html>"])
def test_an_answer_without_a_token_is_token_request_failed(answering, body):
    with pytest.raises(TokenRequestFailed, match="did not answer with a token") as info:
        fetch_token(answering(200, body))
    assert info.value.status == 200


def test_an_error_body_of_another_shape_still_gives_the_status(answering):
    with pytest.raises(TokenRefused, match=r"answered 403$") as info:
        fetch_token(answering(403, b'{"error": "forbidden"}'))
    assert info.value.status == 403


def test_a_server_that_does_not_speak_http_is_token_request_failed():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]

        def babble() -> None:
            peer, _ = listener.accept()
            with peer:
                peer.recv(65536)
                peer.sendall(b"this is not HTTP\r\n\r\n")

        thread = threading.Thread(target=babble, daemon=True)
        thread.start()
        with pytest.raises(TokenRequestFailed, match="cannot reach") as info:
            fetch_token(f"http://127.0.0.1:{port}", timeout=5)
        thread.join(5)
    assert info.value.status is None


def test_the_client_knows_the_endpoints_the_server_serves():
    assert (_token.API_ROOT, _token.TOKEN_PATH) == (model.API_ROOT, model.TOKEN_PATH)


def test_fetching_a_token_imports_no_pandas():
    code = ("import sys; from openagi_nb import fetch_token; fetch_token; "
            "print('pandas' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False"]
