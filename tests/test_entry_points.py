"""The one-line entry points people meet first: ``oa.serve``, ``oa.record``,
``EventStream(url, node_id=...)``, and the errors that tell them what to do next."""

from __future__ import annotations

import math
import socket

import numpy as np
import pytest

import openagi_nb as oa
from openagi_nb import (
    AuthenticationFailed,
    ServerConfigError,
    State,
    StreamTimeout,
    TokenRequestFailed,
    scenario,
)

from .conftest import write_capture


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- oa.serve -------------------------------------------------------------------------------


def test_serve_starts_a_replay_in_the_background_and_stops_it(capture):
    server = oa.serve(capture, speed="max", wait_for=1)
    try:
        assert server.url.startswith("http://127.0.0.1:")
        assert server.ws_url == server.url.replace("http", "ws", 1) + "/api/v1/ws"
        assert repr(server) == f"<BackgroundServer serving {capture} on {server.url}>"
        with oa.EventStream(server.url, token=server.token("me")) as stream:
            assert stream.wait_for(400, timeout=10) == 400
    finally:
        server.stop()
    assert "stopped" in repr(server)
    with socket.socket() as sock:  # the port is free again
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", int(server.url.rsplit(":", 1)[1])))


def test_serve_is_a_context_manager_with_the_servers_options(capture):
    with oa.serve(capture, speed=20, loop=True, history=50) as server:
        status = server.status()
        assert (status["speed"], status["history"]) == (20.0, 50)
        assert server.server.options.loop is True
    assert "stopped" in repr(server)


@pytest.mark.parametrize(("kwargs", "said"), [
    ({"speed": "fast"}, "expected a number or 'max', got 'fast'"),
    ({"speed": -1}, "speed"),
    ({"histroy": 5}, r"unknown server option\(s\) \['histroy'\]"),
])
def test_serve_refuses_an_option_it_cannot_use_saying_which(capture, kwargs, said):
    with pytest.raises(ServerConfigError, match=said):
        oa.serve(capture, **kwargs)


def test_serve_says_which_capture_it_cannot_read(tmp_path):
    with pytest.raises(ServerConfigError, match=r"capture: no such file .*missing\.jsonl"):
        oa.serve(tmp_path / "missing.jsonl")


# --- EventStream(url, node_id=...) ------------------------------------------------------------


@pytest.mark.parametrize("form", ["{root}", "{ws}", "{ws}/api/v1/ws"])
def test_a_node_id_is_all_a_stream_needs_in_every_url_form(serve, capture, form):
    server = serve(capture, speed=math.inf, wait_for=1)
    url = form.format(root=server.url, ws=server.url.replace("http", "ws", 1))
    with oa.EventStream(url, node_id="analyst") as stream:
        assert stream.wait_for(400, timeout=10) == 400
        assert stream.stats.state is State.LIVE


def test_a_node_ids_token_is_fetched_again_when_it_expires(serve, tmp_path):
    server = serve(write_capture(tmp_path / "c.jsonl", 300), speed=1.0, wait_for=1,
                   token_ttl=1.0)
    with oa.EventStream(server.url, node_id="short-lived") as stream:
        stream.wait_for(300, timeout=20)
        assert stream.stats.reconnects >= 1  # closed with 4001 at least once, then resumed
        seqs = np.sort(np.concatenate([stream.frame(c)["seq"].to_numpy() for c in oa.Channel]))
        assert np.array_equal(seqs, np.arange(1, 301))
        assert stream.gaps == []


def test_token_and_token_provider_win_over_the_node_id(serve, capture):
    server = serve(capture, speed=math.inf, wait_for=1)
    asked: list[str] = []

    def provider() -> str:
        asked.append("provider")
        return server.token("from-provider")

    with oa.EventStream(server.url, token_provider=provider, node_id="ignored") as stream:
        stream.wait_for(400, timeout=10)
    assert asked == ["provider"]
    server = serve(capture, speed=math.inf, wait_for=1)
    with oa.EventStream(server.url, token="not-a-jwt", node_id="fallback") as stream:
        # the given token is tried first; once refused, the node id fetches a good one
        stream.wait_for(400, timeout=10)
        assert stream.stats.last_error.startswith("server refused the token: HTTP 401")


# --- oa.record --------------------------------------------------------------------------------


def test_record_writes_exactly_count_events_even_from_large_batches(serve, tmp_path):
    server = serve(write_capture(tmp_path / "c.jsonl", 5000), speed=math.inf, wait_for=1)
    path = tmp_path / "rec.jsonl.gz"
    stats = oa.record(server.url, path, count=137, node_id="recorder")
    assert stats.total == 137
    cap = oa.load_capture(path)
    assert len(cap) == 137
    assert sum(stats.received.values()) == 137
    assert {c.value: len(cap.frame(c)) for c in cap.channels} == {
        c: n for c, n in stats.received.items() if n}


def test_record_for_a_duration_from_the_servers_root(serve, tmp_path):
    server = serve(write_capture(tmp_path / "c.jsonl", 2000), speed=1.0, wait_for=1)
    path = tmp_path / "rec.jsonl"
    stats = oa.record(server.url, path, duration=0.5, channels=["monitoring_events"],
                      node_id="recorder")
    assert 0 < stats.total < 2000
    assert len(oa.load_capture(path)) == stats.total


# --- errors that help ---------------------------------------------------------------------------


def test_a_refused_connection_names_the_url_and_suggests_serve():
    port = closed_port()
    url = f"http://127.0.0.1:{port}"
    with oa.EventStream(url, token="a-token-of-some-length") as stream, \
            pytest.raises(StreamTimeout) as info:
        stream.wait_for(1, timeout=2)
    said = str(info.value)
    assert f"cannot connect to ws://127.0.0.1:{port}/api/v1/ws" in said
    assert "no server listens there" in said
    assert "`openagi-nb serve CAPTURE`" in said


def test_a_refused_token_request_suggests_serve_too():
    port = closed_port()
    with pytest.raises(TokenRequestFailed, match="openagi-nb serve") as info:
        oa.fetch_token(f"http://127.0.0.1:{port}", node_id="me", timeout=2)
    assert f"http://127.0.0.1:{port}/api/v1/auth/token" in str(info.value)


def test_a_401_without_a_token_says_how_to_get_one(serve, capture):
    server = serve(capture)
    with oa.EventStream(server.url) as stream, pytest.raises(AuthenticationFailed) as info:
        stream.wait_for(1, timeout=10)
    assert str(info.value) == (
        "server refused the connection without a token: HTTP 401 (invalid token: missing "
        "token); pass token=, or node_id= to fetch one from the server's token endpoint "
        f"({server.ws_url})")


def test_a_401_says_the_token_was_refused_and_why(serve, capture):
    server = serve(capture)
    expired = server.token("late", ttl=-10)
    with oa.EventStream(server.url, token=expired) as stream, \
            pytest.raises(AuthenticationFailed) as info:
        stream.wait_for(1, timeout=10)
    said = str(info.value)
    assert said.startswith("server refused the token: HTTP 401 (invalid token: token expired)")
    assert expired not in said + repr(stream) + str(stream.stats)


@pytest.mark.parametrize("call", [
    lambda: oa.EventStream("http://127.0.0.1:1", channels=["metrics"]),
    lambda: oa.load_capture("data/sample_capture.jsonl.gz").frame("metrics"),
    lambda: oa.Channel("metrics"),
])
def test_an_unknown_channel_lists_the_four(call):
    with pytest.raises(ValueError, match=(
            r"^unknown channel 'metrics' \(the channels are monitoring_events, security_events, "
            r"consensus_events, network_events\)$")):
        call()


# --- oa.generate --------------------------------------------------------------------------------


def test_generate_writes_the_capture_the_cli_writes(tmp_path):
    from openagi_nb.cli import main

    made = oa.generate(tmp_path / "a.jsonl.gz", duration="30min", seed=3, nodes=16)
    assert main(["generate", "-o", str(tmp_path / "b.jsonl.gz"), "--duration", "30m",
                 "--seed", "3", "--nodes", "16"]) == 0
    assert (tmp_path / "a.jsonl.gz").read_bytes() == (tmp_path / "b.jsonl.gz").read_bytes()
    cap = oa.load_capture(tmp_path / "a.jsonl.gz")
    assert len(cap) == made.events
    assert len(cap.rejects) == 0


def test_generate_makes_a_one_minute_capture_with_the_incidents_that_fit(tmp_path):
    made = oa.generate(tmp_path / "small.jsonl.gz", duration="1min", seed=5)
    cap = oa.load_capture(tmp_path / "small.jsonl.gz")
    assert len(cap) == made.events > 0
    assert len(cap.rejects) == 0
    assert len(made.incidents) > 0
    assert made.placed == scenario.placed(60.0)


def test_generate_says_what_is_not_a_duration(tmp_path):
    with pytest.raises(ValueError, match="duration: not a duration: 'soon'"):
        oa.generate(tmp_path / "x.jsonl", duration="soon")
