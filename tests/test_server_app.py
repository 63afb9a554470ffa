"""The HTTP side: the token and status endpoints, handshake refusals (401, 503) with the REST
HTTP error body, TLS, and shutdown on SIGTERM."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request

import jwt
import orjson
import pytest
import websocket

from openagi_nb import cli
from openagi_nb.exceptions import ServerConfigError
from openagi_nb.server._tokens import verify_token
from openagi_nb.stream import fetch_token

from .conftest import TEST_SECRET, WsClient, write_capture


@pytest.fixture
def server(tmp_path, serve):
    return serve(write_capture(tmp_path / "c.jsonl", 800), speed=20.0, loop=True)


def post(url: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, orjson.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, orjson.loads(exc.read())


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, orjson.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, orjson.loads(exc.read())


def assert_error_body(body: dict, code: int) -> None:
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]


def handshake_refusal(url: str) -> websocket.WebSocketBadStatusException:
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        websocket.create_connection(url, timeout=10)
    return info.value


def test_token_endpoint_issues_a_bearer_token_for_the_node(server):
    status, body = post(server.base_url + "/api/v1/auth/token",
                        b'{"node_id": "node_7", "public_key": "pk"}')
    assert status == 200
    assert set(body) == {"token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    claims = verify_token(TEST_SECRET, body["token"])
    assert claims["sub"] == "node_7"
    assert claims["exp"] - claims["iat"] == 3600


def test_token_endpoint_accepts_an_empty_public_key_unchecked(server):
    status, body = post(server.base_url + "/api/v1/auth/token",
                        b'{"node_id": "node_8", "public_key": ""}')
    assert status == 200
    assert verify_token(TEST_SECRET, body["token"])["sub"] == "node_8"


def test_token_endpoint_refuses_a_body_that_is_not_json(server):
    status, reply = post(server.base_url + "/api/v1/auth/token", b"{nope")
    assert status == 400
    assert_error_body(reply, 400)
    assert reply["error"]["message"] == "invalid JSON body"


@pytest.mark.parametrize(("body", "named"), [
    (b"[]", "object"),
    (b'{"public_key": ""}', "'node_id'"),
    (b'{"node_id": "", "public_key": ""}', "'node_id'"),
    (b'{"node_id": 7, "public_key": ""}', "'node_id'"),
    (b'{"node_id": "' + b"n" * 257 + b'", "public_key": ""}', "'node_id'"),
    (b'{"node_id": "n"}', "'public_key'"),
    (b'{"node_id": "n", "public_key": null}', "'public_key'"),
    (b'{"node_id": "n", "public_key": 1}', "'public_key'"),
])
def test_token_endpoint_refuses_a_bad_request_naming_the_field(server, body, named):
    status, reply = post(server.base_url + "/api/v1/auth/token", body)
    assert status == 400
    assert_error_body(reply, 400)
    assert reply["error"]["message"] == "invalid request"
    assert named in reply["error"]["details"]


def test_unknown_path_gets_a_json_404(server):
    status, body = get(server.base_url + "/api/v1/nothing")
    assert status == 404
    assert_error_body(body, 404)


def test_status_reports_clients_messages_capture_position_and_speed(server, connect):
    client = connect(server)
    client.subscribe("network_events")
    client.data(5)
    status, body = get(server.base_url + "/api/v1/status")
    assert status == 200
    assert body["uptime"] >= 0
    assert body["clients"] == 1
    assert body["subscribers"] == 1
    assert body["messages_published"] >= 17
    assert body["capture"] == {"path": str(server.server.options.capture), "messages": 800,
                               "rejected": 0}
    assert body["replay"]["started"] is True
    assert body["replay"]["loop"] >= 0
    assert 0 <= body["replay"]["position"] < 800
    assert body["speed"] == 20.0
    assert (body["queue"], body["queue_bytes"]) == (50_000, 1024 * 1024)
    assert 0 <= body["queued_bytes"] <= body["queued_bytes_peak"] <= body["queue_bytes"]


def forged(payload: dict, key: str = TEST_SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(payload, key, algorithm=algorithm)


def alg_none(payload: dict) -> str:
    def part(obj: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(payload)}."


NOW = int(time.time())
BAD_TOKENS = {
    "missing": "",
    "malformed": "not-a-jwt",
    "garbage segments": "a.b.c",
    "wrong signature": forged({"sub": "x", "iat": NOW, "exp": NOW + 600}, key="x" * 40),
    "alg none": alg_none({"sub": "x", "iat": NOW, "exp": NOW + 600}),
    "other algorithm": forged({"sub": "x", "iat": NOW, "exp": NOW + 600}, key="k" * 64,
                              algorithm="HS512"),
    "expired": forged({"sub": "x", "iat": NOW - 600, "exp": NOW - 300}),
    "no exp": forged({"sub": "x", "iat": NOW}),
    "no sub": forged({"iat": NOW, "exp": NOW + 600}),
}


@pytest.mark.parametrize("kind", list(BAD_TOKENS))
def test_bad_token_is_refused_at_the_handshake_with_401_and_a_json_body(server, connect, kind):
    token = BAD_TOKENS[kind]
    refusal = handshake_refusal(f"{server.ws_url}?token={token}")
    assert refusal.status_code == 401
    body = orjson.loads(refusal.resp_body)
    assert_error_body(body, 401)
    assert body["error"]["details"]
    if token:
        assert token not in refusal.resp_body.decode()
    client = connect(server)  # a good client is still served
    client.subscribe("network_events")
    client.data(2)


def test_token_in_an_authorization_header_is_accepted(server):
    client = WsClient(server.ws_url, header=[f"Authorization: Bearer {server.token()}"])
    try:
        client.subscribe("network_events")
        client.data(1)
    finally:
        client.close()


def test_token_in_the_query_wins_over_the_authorization_header(server):
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        websocket.create_connection(f"{server.ws_url}?token=not-a-jwt", timeout=10,
                                    header=[f"Authorization: Bearer {server.token()}"])
    assert info.value.status_code == 401
    client = WsClient(f"{server.ws_url}?token={server.token()}",
                      header=["Authorization: Bearer not-a-jwt"])
    try:
        client.send({"type": "ping"})
        client.reply("pong")
    finally:
        client.close()


def test_connections_beyond_the_cap_get_503_and_a_json_body(tmp_path, serve, connect):
    server = serve(write_capture(tmp_path / "c.jsonl", 400), speed=20.0, loop=True,
                   max_clients=2)
    first, _second = connect(server), connect(server)
    refusal = handshake_refusal(f"{server.ws_url}?token={server.token()}")
    assert refusal.status_code == 503
    assert_error_body(orjson.loads(refusal.resp_body), 503)
    first.close()
    deadline = time.monotonic() + 10
    while server.status()["clients"] > 1:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    third = connect(server)
    third.subscribe("network_events")
    third.data(1)


def test_tls_serves_https_and_wss(tmp_path, serve, certificate):
    cert, key = certificate
    server = serve(write_capture(tmp_path / "c.jsonl", 400), speed=20.0, loop=True,
                   certfile=str(cert), keyfile=str(key))
    assert server.base_url.startswith("https://")
    assert server.ws_url.startswith("wss://")
    context = ssl.create_default_context(cafile=str(cert))
    token = fetch_token(server.base_url, node_id="tls-node", ssl_context=context)
    client = WsClient(f"{server.ws_url}?token={token}", sslopt={"ca_certs": str(cert)})
    try:
        client.subscribe("security_events")
        assert client.data(3)[0]["type"] == "security_event"
    finally:
        client.close()


def test_cli_serve_prints_its_url_and_on_sigterm_closes_clients_with_1001_and_exits_0(tmp_path):
    capture = write_capture(tmp_path / "c.jsonl", 400)
    process = subprocess.Popen(
        [sys.executable, "-m", "openagi_nb.cli", "serve", str(capture), "--port", "0",
         "--speed", "20", "--loop", "--secret", TEST_SECRET],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ},
    )
    clients: list[WsClient] = []
    try:
        line = process.stdout.readline()
        url = re.search(r"(http://127\.0\.0\.1:\d+)", line).group(1)
        token = fetch_token(url, node_id="doomed")
        clients = [WsClient(f"{url.replace('http', 'ws')}/api/v1/ws?token={token}")
                   for _ in range(2)]
        for client in clients:
            client.subscribe("network_events")
            client.data(1)
        process.send_signal(signal.SIGTERM)
        assert [client.close_status() for client in clients] == [1001, 1001]
        assert process.wait(30) == 0
        log = process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()
        for client in clients:
            client.close()
    assert log.count("'doomed'") == 3  # the token line and one line per connection
    assert token not in log


@pytest.mark.parametrize("form", ["{root}", "{ws}", "{ws}/api/v1/ws"])
def test_cli_token_prints_a_token_the_server_accepts(server, capsys, form):
    ws = server.base_url.replace("http", "ws", 1)
    assert cli.main(["token", form.format(root=server.base_url, ws=ws), "--node-id",
                     "cli-node"]) == 0
    token = capsys.readouterr().out.strip()
    assert verify_token(TEST_SECRET, token)["sub"] == "cli-node"


def test_cli_token_refuses_what_is_not_a_server_url(capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["token", "127.0.0.1:8080"])
    assert exited.value.code == 2
    assert "the scheme must be http, https, ws or wss" in capsys.readouterr().err


def test_cli_serve_with_a_missing_capture_fails_with_one_line(tmp_path, capsys):
    assert cli.main(["serve", str(tmp_path / "missing.jsonl"), "--port", "0"]) == 1
    err = capsys.readouterr().err
    assert "no such file" in err
    assert err.count("\n") == 1


def test_port_in_use_is_a_config_error(tmp_path, serve):
    first = serve(write_capture(tmp_path / "c.jsonl", 10))
    with pytest.raises(ServerConfigError, match="cannot listen"):
        serve(tmp_path / "c.jsonl", port=first.port)


def test_unusable_tls_files_are_a_config_error(tmp_path, serve):
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    with pytest.raises(ServerConfigError, match="certfile"):
        serve(write_capture(tmp_path / "c.jsonl", 10), certfile=str(junk), keyfile=str(junk))


def test_short_secret_is_a_config_error_at_start(tmp_path, serve):
    with pytest.raises(ServerConfigError, match="at least 32"):
        serve(write_capture(tmp_path / "c.jsonl", 10), secret="too-short")
