"""EventStream (stream/) against the real replay server: subscriptions, frames, windows, recording,
tokens, cuts, listeners, stats. Every test is bounded by counts and timeouts, never by wall-
clock speed."""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from pandas.testing import assert_frame_equal

from openagi_nb import AuthenticationFailed, ConnectionFailed, StreamError, load_capture, model
from openagi_nb.stream import EventStream, State

from .conftest import write_capture

MAX = math.inf
ALL = [c.value for c in model.CHANNELS]


def stream_to(server, **options) -> EventStream:
    options.setdefault("token", server.token("tester"))
    return EventStream(server.ws_url, **options)


def until(condition, timeout: float = 10.0) -> None:
    """Poll ``condition`` until true, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def seqs(stream: EventStream) -> np.ndarray:
    return np.sort(np.concatenate(
        [stream.frame(c)["seq"].to_numpy(dtype=np.int64) for c in ALL]
    ))


def test_subscribed_channels_arrive_complete_and_the_others_not_at_all(serve, capture):
    server = serve(capture, speed=MAX, wait_for=1)
    with stream_to(server, channels=["monitoring_events", "security_events"]) as stream:
        assert stream.wait_for(200, timeout=10) == 200
        assert len(stream.frame("monitoring_events")) == 100
        assert len(stream.frame("security_events")) == 100
        assert len(stream.frame("network_events")) == 0
        assert stream.stats.received["monitoring_events"] == 100


def test_frames_have_the_declared_schema_and_equal_the_capture(serve, capture):
    server = serve(capture, speed=MAX, wait_for=1, retime=False)
    cap = load_capture(capture)
    with stream_to(server) as stream:
        stream.wait_for(400, timeout=10)
        for channel in ALL:
            live = stream.frame(channel)
            assert live.dtypes.to_dict() == model.dtypes(channel)
            assert live["seq"].notna().all()
            assert_frame_equal(live.drop(columns="seq"), cap.frame(channel).drop(columns="seq"))


def test_the_recording_loads_into_the_same_frames_as_the_live_stream(serve, capture, tmp_path):
    server = serve(capture, speed=MAX, wait_for=1)
    path = tmp_path / "recorded.jsonl.gz"
    stream = stream_to(server, record_to=path).start()
    stream.wait_for(400, timeout=10)
    assert stream.stats.recording == str(path)
    stream.stop()
    assert stream.stats.recording is None
    recorded = load_capture(path)
    for channel in ALL:
        assert_frame_equal(recorded.frame(channel), stream.frame(channel))
    assert len(recorded.rejects) == 0


def test_the_recording_is_flushed_while_the_stream_runs(serve, tmp_path):
    server = serve(write_capture(tmp_path / "c.jsonl", 300), speed=1.0, wait_for=1)
    path = tmp_path / "recorded.jsonl"
    with stream_to(server, record_to=path) as stream:
        stream.wait_for(50, timeout=10)
        until(lambda: path.read_bytes().count(b'"seq"') >= 50)


def test_a_row_window_keeps_the_newest_rows_of_each_channel(serve, capture):
    server = serve(capture, speed=MAX, wait_for=1)
    with stream_to(server, window=10) as stream:
        stream.wait_for(400, timeout=10)
        df = stream.frame("monitoring_events")
        assert len(df) == 10
        assert df["seq"].tolist() == list(range(364, 404, 4))


def test_a_time_window_keeps_the_span_before_the_newest_event(serve, capture):
    server = serve(capture, speed=MAX, wait_for=1)
    with stream_to(server, window="1s") as stream:
        stream.wait_for(400, timeout=10)
        df = stream.frame("monitoring_events")
        span = df["timestamp"].max() - df["timestamp"].min()
        assert len(df) == 26  # one every 40 ms, both ends of the second included
        assert span.total_seconds() == pytest.approx(1.0)


def test_wait_for_one_channel_counts_only_that_channel(serve, capture):
    server = serve(capture, speed=MAX, wait_for=1)
    with stream_to(server) as stream:
        assert stream.wait_for(100, timeout=10, channel="network_events") == 100


def test_wait_for_times_out_saying_how_far_it_got(serve, capture):
    server = serve(capture, speed=MAX, wait_for=1)
    with stream_to(server) as stream:
        stream.wait_for(400, timeout=10)
        with pytest.raises(TimeoutError, match=r"400 of 401 events after 0\.2s .*live"):
            stream.wait_for(401, timeout=0.2)


def test_wait_for_before_start_is_an_error(serve, capture):
    server = serve(capture)
    with pytest.raises(StreamError, match="not started"):
        stream_to(server).wait_for(1, timeout=1)


def test_unsubscribe_stops_a_channel_and_the_others_go_on(serve, tmp_path):
    server = serve(write_capture(tmp_path / "c.jsonl", 400), speed=2.0, wait_for=1)
    acks = threading.Event()
    with stream_to(server) as stream:
        stream.on("unsubscribed", lambda message: acks.set())
        stream.wait_for(8, timeout=10)
        stream.unsubscribe("monitoring_events")
        assert acks.wait(10)
        before = stream.stats.received["monitoring_events"]
        stream.wait_for(100, timeout=10, channel="network_events")
        assert stream.stats.received["monitoring_events"] == before < 100
        assert stream.channels == tuple(model.CHANNELS[:3])


def test_subscribe_adds_a_channel_while_connected(serve, tmp_path):
    server = serve(write_capture(tmp_path / "c.jsonl", 400), speed=2.0, wait_for=1)
    with stream_to(server, channels=["network_events"]) as stream:
        stream.wait_for(2, timeout=10)
        stream.subscribe("security_events")
        stream.wait_for(5, timeout=10, channel="security_events")
        assert "security_events" in stream.channels


def test_a_refused_token_is_replaced_by_the_provider(serve, capture):
    server = serve(capture, speed=MAX, wait_for=1)
    calls = []

    def provider() -> str:
        calls.append(1)
        return server.token("fresh")

    with stream_to(server, token="not-a-jwt", token_provider=provider) as stream:
        stream.wait_for(400, timeout=10)
        assert len(calls) == 1
        assert stream.stats.state is State.LIVE


def test_a_provider_alone_is_asked_for_the_first_token(serve, capture):
    server = serve(capture, speed=MAX, wait_for=1)
    stream = EventStream(server.ws_url, token_provider=lambda: server.token("p"))
    with stream:
        stream.wait_for(400, timeout=10)


def test_a_refused_static_token_fails_the_stream(serve, capture):
    server = serve(capture)
    stream = stream_to(server, token="not-a-jwt-secret-looking-token").start()
    with pytest.raises(AuthenticationFailed, match="HTTP 401") as info:
        stream.wait_for(1, timeout=10)
    stats = stream.stats
    assert stats.state is State.FAILED
    assert "401" in (stats.last_error or "")
    assert "not-a-jwt" not in str(info.value) + repr(stream) + str(stats)
    stream.stop()
    assert stream.stats.state is State.FAILED


def test_an_expired_token_is_refreshed_and_the_stream_resumes_without_loss(serve, tmp_path):
    server = serve(write_capture(tmp_path / "c.jsonl", 300), speed=1.0, wait_for=1)
    closes = []
    stream = stream_to(server, token=None, token_provider=lambda: server.token("short", ttl=1))
    stream.on("disconnected", lambda message: closes.append(message["reason"]))
    with stream:
        stream.wait_for(300, timeout=20)
        assert any("4001" in reason for reason in closes)
        assert stream.stats.reconnects >= 1
        assert np.array_equal(seqs(stream), np.arange(1, 301))
        assert stream.gaps == []


def test_an_expired_static_token_fails_the_stream(serve, tmp_path):
    server = serve(write_capture(tmp_path / "c.jsonl", 1000), speed=1.0, wait_for=1)
    with stream_to(server, token=server.token("short", ttl=1)) as stream:
        with pytest.raises(AuthenticationFailed, match="4001"):
            stream.wait_for(1000, timeout=20)
        assert stream.stats.state is State.FAILED


@pytest.mark.parametrize(("batch", "cut_every"), [
    (False, 60_000),
    ("json", 60_000),  # batches of 100 events: about 20 KB a frame
    ("arrow", 30_000),  # 5 to 7 KB a frame with lz4: cuts land inside batches
])
def test_a_connection_cut_every_few_kilobytes_loses_and_duplicates_nothing(
        serve, cutting_proxy, tmp_path, batch, cut_every):
    count = 3000
    server = serve(write_capture(tmp_path / "c.jsonl", count), speed=MAX, wait_for=1,
                   batch_max_events=100)
    proxy = cutting_proxy(server.port, cut_every=cut_every)
    url = f"ws://127.0.0.1:{proxy.port}/api/v1/ws"
    with EventStream(url, token=server.token("cut"), batch=batch) as stream:
        stream.wait_for(count, timeout=60)
        assert stream.stats.batching.startswith(str(batch) if batch else "off")
        assert proxy.cuts >= 3
        assert stream.stats.reconnects >= 3
        assert np.array_equal(seqs(stream), np.arange(1, count + 1))
        assert stream.gaps == []
        assert stream.stats.duplicates == 0


def test_a_connection_cut_every_half_second_of_a_live_replay_loses_nothing(
        serve, cutting_proxy, tmp_path):
    server = serve(write_capture(tmp_path / "c.jsonl", 300), speed=1.0, wait_for=1)
    proxy = cutting_proxy(server.port)
    url = f"ws://127.0.0.1:{proxy.port}/api/v1/ws"
    with EventStream(url, token=server.token("cut")) as stream:
        for _ in range(60):  # 30 s at most
            if stream.stats.total >= 300:
                break
            time.sleep(0.5)
            proxy.cut()
        stream.wait_for(300, timeout=10)
        assert stream.stats.reconnects >= 3
        assert np.array_equal(seqs(stream), np.arange(1, 301))
        assert stream.gaps == []
        assert stream.stats.duplicates == 0


def test_a_restarted_server_is_reconnected_to_and_its_new_sequence_is_a_gap(serve, capture):
    first = serve(capture, speed=MAX, wait_for=1)
    reasons: list[str] = []
    stream = stream_to(first, channels=["monitoring_events"])
    stream.on("disconnected", lambda message: reasons.append(message["reason"]))
    with stream:
        stream.wait_for(100, timeout=10)
        first.stop()
        until(lambda: stream.stats.state is State.RECONNECTING)
        assert "1001" in reasons[0]
        serve(capture, speed=MAX, wait_for=1, port=first.port)
        stream.wait_for(200, timeout=20)
        assert [(g.channel, g.reason) for g in stream.gaps] == [
            ("monitoring_events", "server sequence restarted")
        ]
        assert stream.stats.reconnects >= 1


def test_snapshots_in_a_tight_loop_while_100k_events_arrive_never_see_a_torn_row(
        serve, tmp_path):
    count = 100_000
    server = serve(write_capture(tmp_path / "c.jsonl", count), speed=MAX, wait_for=1)
    with stream_to(server, channels=["monitoring_events"]) as stream:
        snapshots = 0
        while stream.stats.received["monitoring_events"] < count // 4:
            df = stream.frame("monitoring_events")
            i = df["seq"].to_numpy(dtype=np.int64) - 1
            assert np.array_equal(df["value"].to_numpy(), (i % 100).astype(float))
            assert df["node_id"].tolist() == [f"node_{k % 25}" for k in i]
            snapshots += 1
            if stream.stats.state is State.FAILED:
                pytest.fail(stream.stats.last_error)
        assert snapshots > 1
        assert len(stream.frame("monitoring_events")) == count // 4


def test_listeners_get_messages_by_type_and_by_event(serve, capture):
    server = serve(capture, speed=MAX, wait_for=1)
    seen: Counter[str] = Counter()
    connected = threading.Event()
    with stream_to(server, channels=["monitoring_events", "network_events"]) as stream:
        stream.on("connected", lambda message: connected.set())
        stream.on("monitoring_event", lambda message: seen.update([message["type"]]))
        stream.on("node_joined", lambda message: seen.update([message["event"]]))
        stream.wait_for(200, timeout=10)
        assert connected.wait(5) or stream.stats.state is State.LIVE
    assert seen == {"monitoring_event": 100, "node_joined": 100}


def test_an_exception_in_a_listener_is_counted_not_fatal(serve, capture, caplog):
    server = serve(capture, speed=MAX, wait_for=1)

    def boom(message) -> None:
        raise RuntimeError("listener bug")

    with stream_to(server) as stream:
        stream.on("security_event", boom)
        stream.wait_for(400, timeout=10)
        assert stream.stats.callback_errors == 100
        assert stream.stats.state is State.LIVE
    assert "listener bug" in caplog.text


def test_stats_report_rate_lag_and_counts(serve, capture):
    server = serve(capture, speed=MAX, wait_for=1)
    with stream_to(server) as stream:
        stream.wait_for(400, timeout=10)
        stats = stream.stats
        assert stats.total == 400
        assert stats.events_per_second > 0
        assert stats.lag is not None
        assert (stats.reconnects, stats.gaps, stats.rejected) == (0, 0, {})


def test_the_token_never_shows_in_the_url_repr_or_stats(serve, capture):
    server = serve(capture, speed=MAX, wait_for=1)
    token = server.token("secretive")
    stream = EventStream(f"{server.ws_url}?token={token}&x=1")
    with stream:
        stream.wait_for(400, timeout=10)
        shown = f"{stream.url} {stream!r} {stream.stats}"
    assert token not in shown
    assert stream.url == f"{server.ws_url}?x=1"


def test_stop_is_idempotent_and_keeps_the_frames(serve, capture):
    server = serve(capture, speed=MAX, wait_for=1)
    stream = stream_to(server).start()
    stream.wait_for(400, timeout=10)
    stream.stop()
    stream.stop()
    assert stream.stats.state is State.STOPPED
    assert len(stream.frame("monitoring_events")) == 100
    with pytest.raises(StreamError, match="stopped after 400 of 401"):
        stream.wait_for(401, timeout=1)


def test_an_unknown_channel_is_refused(serve, capture):
    server = serve(capture)
    with pytest.raises(ValueError, match="unknown channel 'nope_events'"):
        stream_to(server, channels=["nope_events"])


def test_frames_is_every_channel_like_a_capture(serve, capture):
    server = serve(capture, speed=MAX, wait_for=1)
    with stream_to(server) as stream:
        stream.wait_for(400, timeout=10)
        assert {c.value: len(f) for c, f in stream.frames.items()} == dict.fromkeys(ALL, 100)


def test_recording_to_a_path_that_cannot_be_written_fails_at_start(serve, capture):
    server = serve(capture)
    stream = stream_to(server, record_to=Path("/nonexistent-dir/x.jsonl"))
    with pytest.raises(OSError, match="nonexistent"):
        stream.start()


def test_a_wrong_path_fails_the_stream_with_the_http_status(serve, capture):
    server = serve(capture)
    stream = EventStream(server.ws_url.replace("/api/v1/ws", "/nope"),
                         token=server.token("x")).start()
    with pytest.raises(ConnectionFailed, match="HTTP 404"):
        stream.wait_for(1, timeout=10)
    assert stream.stats.state is State.FAILED
    stream.stop()


@pytest.mark.parametrize("form", ["{root}", "{root}/", "{ws}", "{ws}/api/v1/ws", "{ws}/api/v1",
                                  "{root}/api/v1/ws?token={token}"])
def test_every_form_of_the_servers_url_streams(serve, capture, form):
    server = serve(capture, speed=MAX, wait_for=1)
    token = server.token("forms")
    url = form.format(root=server.base_url, ws=server.base_url.replace("http", "ws", 1),
                      token=token)
    with EventStream(url, token=None if "token=" in url else token) as stream:
        stream.wait_for(100, timeout=10)
        assert stream.url == server.ws_url
        assert token not in repr(stream)


@pytest.mark.parametrize(("url", "said"), [
    ("ftp://127.0.0.1:9/api/v1/ws", "the scheme must be http, https, ws or wss"),
    ("127.0.0.1:8080", "the scheme must be"),
    ("http:///api/v1/ws", "it names no host"),
    ("http://127.0.0.1:8080/api/v1/status", "/api/v1/status is not the WebSocket endpoint"),
])
def test_a_url_that_names_no_server_is_refused_saying_why(url, said):
    with pytest.raises(ValueError, match=said) as refused:
        EventStream(url + "?token=secret-token")
    assert "secret-token" not in str(refused.value)


def test_wss_with_the_servers_certificate_streams(serve, capture, certificate):
    cert, key = certificate
    server = serve(capture, speed=MAX, wait_for=1, certfile=str(cert), keyfile=str(key))
    assert server.ws_url.startswith("wss://")
    with stream_to(server, sslopt={"ca_certs": str(cert)}) as stream:
        stream.wait_for(400, timeout=10)


def test_wss_with_an_untrusted_certificate_fails_instead_of_retrying(serve, capture,
                                                                     certificate):
    cert, key = certificate
    server = serve(capture, certfile=str(cert), keyfile=str(key))
    with stream_to(server) as stream, pytest.raises(ConnectionFailed, match="certificate"):
        stream.wait_for(1, timeout=10)
    assert stream.stats.state is State.FAILED
