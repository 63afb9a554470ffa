"""Tokens: issue and verify (PyJWT translated to our errors), the secret, and fetch_token against
the real server."""

from __future__ import annotations

import socket
import time

import jwt
import pytest

from openagi_nb.auth import (
    SECRET_ENV,
    fetch_token,
    issue_token,
    resolve_secret,
    token_url,
    verify_token,
)
from openagi_nb.exceptions import AuthenticationFailed, ConnectionFailed, ServerConfigError

from .conftest import TEST_SECRET, write_capture

OTHER_SECRET = "another-secret-that-is-long-enough-for-hs256"


def test_issued_token_verifies_with_its_claims():
    token = issue_token(TEST_SECRET, "node_1", ttl=60, now=time.time())
    claims = verify_token(TEST_SECRET, token)
    assert claims["sub"] == "node_1"
    assert claims["exp"] - claims["iat"] == 60


@pytest.mark.parametrize(("token", "reason"), [
    (None, "missing token"),
    ("", "missing token"),
    ("nope", "malformed token"),
    (jwt.encode({"sub": "a", "iat": 1, "exp": 2}, TEST_SECRET, algorithm="HS256"),
     "token expired"),
    (jwt.encode({"sub": "a", "iat": int(time.time())}, TEST_SECRET, algorithm="HS256"),
     "no 'exp' claim"),
    (jwt.encode({"sub": "a", "iat": 1, "exp": 2**40}, OTHER_SECRET, algorithm="HS256"),
     "signature does not match"),
    (jwt.encode({"sub": "a", "iat": 1, "exp": 2**40}, None, algorithm="none"),
     "algorithm is not HS256"),
])
def test_bad_token_is_refused_with_a_reason_that_never_quotes_it(token, reason):
    with pytest.raises(AuthenticationFailed, match=reason) as info:
        verify_token(TEST_SECRET, token)
    if token:
        assert token not in str(info.value)


def test_secret_comes_from_the_option_then_the_environment_then_chance(monkeypatch):
    monkeypatch.setenv(SECRET_ENV, OTHER_SECRET)
    assert resolve_secret(TEST_SECRET) == TEST_SECRET
    assert resolve_secret(None) == OTHER_SECRET
    monkeypatch.delenv(SECRET_ENV)
    first, second = resolve_secret(None), resolve_secret(None)
    assert first != second
    assert len(first) >= 32


def test_short_secret_is_a_config_error():
    with pytest.raises(ServerConfigError, match="at least 32"):
        resolve_secret("short")


@pytest.mark.parametrize(("base", "expected"), [
    ("http://127.0.0.1:8080", "http://127.0.0.1:8080/api/v1/auth/token"),
    ("http://127.0.0.1:8080/", "http://127.0.0.1:8080/api/v1/auth/token"),
    ("ws://127.0.0.1:8080/api/v1/ws", "http://127.0.0.1:8080/api/v1/auth/token"),
    ("wss://host/prefix/api/v1/ws?token=x", "https://host/prefix/api/v1/auth/token"),
])
def test_token_url_accepts_server_and_websocket_urls(base, expected):
    assert token_url(base) == expected


def test_token_url_refuses_other_schemes():
    with pytest.raises(ConnectionFailed, match="not an http"):
        token_url("ftp://127.0.0.1/")


def test_fetch_token_gets_a_token_the_server_accepts(tmp_path, serve, connect):
    server = serve(write_capture(tmp_path / "c.jsonl", 400), speed=20.0, loop=True)
    token = fetch_token(server.ws_url, node_id="fetcher", public_key="pk")
    assert verify_token(server.secret, token)["sub"] == "fetcher"
    client = connect(server, token=token)
    client.subscribe("network_events")
    client.data(1)


def test_fetch_token_refused_by_the_server_is_authentication_failed(tmp_path, serve):
    server = serve(write_capture(tmp_path / "c.jsonl", 10))
    with pytest.raises(AuthenticationFailed, match="400: invalid request"):
        fetch_token(server.base_url, node_id="")


def test_fetch_token_from_nowhere_is_connection_failed():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connection refused
        with pytest.raises(ConnectionFailed, match="cannot reach"):
            fetch_token(f"http://127.0.0.1:{port}", timeout=5)
