"""One connection's inbound side: every refused input gets an ``error`` and the connection goes
on; limits (size, binary, rate); token expiry; the per-connection log line."""

from __future__ import annotations

import logging
import time

import pytest
import websocket

from openagi_nb.server._tokens import issue_token

from .conftest import write_capture


@pytest.fixture
def server(tmp_path, serve):
    """A server looping a small capture at 20x (2,000 messages/s): events keep coming."""
    return serve(write_capture(tmp_path / "c.jsonl", 800), speed=20.0, loop=True)


def log_line(caplog, node: str) -> str:
    """The one log line of the connection of ``node``, once the connection has ended."""
    deadline = time.monotonic() + 10
    while not any(repr(node) in r.getMessage() for r in caplog.records):
        assert time.monotonic() < deadline, "no connection log line"
        time.sleep(0.02)
    lines = [r.getMessage() for r in caplog.records if repr(node) in r.getMessage()]
    assert len(lines) == 1
    return lines[0]


def assert_still_served(client) -> None:
    """The connection goes on: a ping is answered and events arrive."""
    client.send({"type": "ping"})
    client.reply("pong")
    client.subscribe("monitoring_events")
    assert client.data(3)[0]["type"] == "monitoring_event"


BAD_FRAMES = [
    ("{not json", "bad_json"),
    ('"a string"', "not_object"),
    ("[1, 2]", "not_object"),
    ('{"channel": "network_events"}', "missing_type"),
    ('{"type": "teleport"}', "unknown_type"),
    ('{"type": 7}', "unknown_type"),
    ('{"type": "subscribe", "channel": "nope_events"}', "unknown_channel"),
    ('{"type": "unsubscribe", "channel": "nope_events"}', "unknown_channel"),
    ('{"type": "subscribe", "channel": 42}', "bad_field"),
    ('{"type": "subscribe"}', "bad_field"),
    ('{"type": "subscribe", "channel": "network_events", "since": -1}', "bad_field"),
    ('{"type": "subscribe", "channel": "network_events", "since": "5"}', "bad_field"),
    ('{"type": "pong"}', "unknown_type"),
    ('{"type": "network_event", "event": "node_left", "data": {}, '
     '"timestamp": "2023-01-01T00:00:00Z"}', "unknown_type"),
]


@pytest.mark.parametrize(("frame", "code"), BAD_FRAMES)
def test_bad_frame_gets_an_error_and_the_connection_goes_on(server, connect, frame, code):
    client = connect(server)
    client.send(frame)
    error, _ = client.reply("error")
    assert error["data"]["code"] == code
    assert error["data"]["message"]
    assert_still_served(client)
    assert_still_served(connect(server))  # and so is everyone else


def test_text_frame_that_is_not_utf8_is_refused_and_the_connection_goes_on(server, connect):
    client = connect(server)
    client.ws.send(b'{"type": "ping", "x": "\xff"}', opcode=websocket.ABNF.OPCODE_TEXT)
    error, _ = client.reply("error")
    assert error["data"]["code"] == "bad_json"
    assert_still_served(client)


def test_frame_over_64_kib_is_refused_and_the_connection_goes_on(server, connect):
    client = connect(server)
    client.send('{"type": "ping", "pad": "' + "x" * (64 * 1024) + '"}')
    error, _ = client.reply("error")
    assert error["data"]["code"] == "too_large"
    assert_still_served(client)


def test_frame_over_the_hard_limit_closes_with_1009_logged_as_sent_by_the_server(
    server, connect, caplog
):
    caplog.set_level(logging.INFO, logger="openagi_nb.server")
    client = connect(server, token=server.token("too-big"))
    client.send("x" * (1024 * 1024 + 1))
    assert client.close_status() == 1009
    assert "close=1009 by server" in log_line(caplog, "too-big")
    assert_still_served(connect(server))


def test_binary_frame_is_refused_and_the_connection_goes_on(server, connect):
    client = connect(server)
    client.send(b'{"type": "ping"}')
    error, _ = client.reply("error")
    assert error["data"]["code"] == "binary_frame"
    assert_still_served(client)


def test_too_many_messages_are_refused_then_the_connection_is_closed_1008(
    tmp_path, serve, connect
):
    server = serve(write_capture(tmp_path / "c.jsonl", 100), control_rate=1.0,
                   control_burst=5, strikes=5)
    client = connect(server)
    for _ in range(10):  # 5 within the burst, 4 refused, the 10th closes
        client.send({"type": "ping"})
    codes = []
    while True:
        opcode, frame = client.ws.recv_data_frame(True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            break
        codes.append(frame.data)
    assert int.from_bytes(frame.data[:2], "big") == 1008
    pongs = [c for c in codes if b'"pong"' in c]
    refused = [c for c in codes if b"rate_limited" in c]
    assert len(pongs) == 5
    assert len(refused) == 5
    assert_still_served(connect(server))


def test_rate_limited_client_that_slows_down_goes_on(tmp_path, serve, connect):
    server = serve(write_capture(tmp_path / "c.jsonl", 100), control_rate=1000.0,
                   control_burst=3, strikes=50)
    client = connect(server)
    for _ in range(6):
        client.send({"type": "ping"})
    error, _ = client.reply("error")
    assert error["data"]["code"] == "rate_limited"
    time.sleep(0.05)  # the bucket refills at 1000/s; nothing is asserted on time
    client.send({"type": "ping"})
    client.reply("pong")


def test_connection_whose_token_expires_is_closed_with_4001(server, connect, caplog):
    caplog.set_level(logging.INFO, logger="openagi_nb.server")
    token = issue_token(server.secret, "short-lived", ttl=2)  # expires in 1 to 2 s
    client = connect(server, token=token)
    client.subscribe("network_events")
    assert client.close_status() == 4001
    client.close()
    assert "close=4001 by server" in log_line(caplog, "short-lived")


def close_with_4000(client) -> None:
    client.ws.close(status=4000, timeout=1)


def close_without_code(client) -> None:
    client.ws.send(b"", opcode=websocket.ABNF.OPCODE_CLOSE)
    client.close_status()


def drop(client) -> None:
    client.ws.sock.close()  # no close frame


@pytest.mark.parametrize(("end", "logged"), [
    (close_with_4000, "close=4000 by client"),
    (close_without_code, "close=1005 by client"),
    (drop, "close=1006 by client"),
])
def test_log_line_names_the_close_code_of_the_client(server, connect, caplog, end, logged):
    caplog.set_level(logging.INFO, logger="openagi_nb.server")
    client = connect(server, token=server.token("leaving"))
    client.send({"type": "ping"})
    client.reply("pong")
    end(client)
    assert logged in log_line(caplog, "leaving")


def test_one_log_line_per_connection_and_never_the_token(server, connect, caplog):
    caplog.set_level(logging.INFO, logger="openagi_nb.server")
    token = server.token("logged-node")
    client = connect(server, token=token)
    client.subscribe("network_events")
    client.data(2)
    client.close()
    line = log_line(caplog, "logged-node")
    assert "channels=network_events" in line
    assert "close=1000 by client" in line
    assert all(token not in r.getMessage() for r in caplog.records)
    assert all(token.split(".")[2] not in r.getMessage() for r in caplog.records)
