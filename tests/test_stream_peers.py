"""EventStream (stream/) against peers the replay server cannot be: a server that sends no ``seq``,
one that sends junk, binary frames and unknown fields, and one that never answers.

Each peer is a few lines of aiohttp on 127.0.0.1:0 in its own thread, scripted per connection.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import orjson
import pandas as pd
import pytest
from aiohttp import WSMsgType, web

from openagi_nb import model
from openagi_nb.stream import EventStream, State

T0 = 1_767_600_000_000_000_000
Script = Callable[[web.WebSocketResponse, int], Awaitable[None]]


class Peer:
    """A WebSocket server at ``/api/v1/ws`` running ``script(ws, connection_number)``."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.connections = 0
        self.received: list[Any] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def _handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        number, self.connections = self.connections, self.connections + 1
        await self.script(ws, number)
        return ws

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get("/api/v1/ws", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    def start(self) -> Peer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/api/v1/ws"


@pytest.fixture
def peer() -> Iterator[Callable[[Script], Peer]]:
    started: list[Peer] = []

    def start(script: Script) -> Peer:
        p = Peer(script).start()
        started.append(p)
        return p

    yield start
    for p in started:
        p.stop()


async def subscriptions(ws: web.WebSocketResponse) -> list[dict[str, Any]]:
    """The subscribe messages the client sent on connecting (all in its first write)."""
    first = await ws.receive(timeout=5)
    out = [orjson.loads(first.data)]
    while True:
        try:
            msg = await ws.receive(timeout=0.05)
        except TimeoutError:
            return out
        out.append(orjson.loads(msg.data))


def metric(i: int, seq: int | None = None, **fields: Any) -> str:
    data = {"node_id": f"node_{i % 5}", "metric": "cpu_usage", "value": float(i),
            "threshold": 80.0, "status": "ok", **fields}
    stamp = model.format_timestamp(T0 + i * 1_000_000_000)
    message = model.data_message("monitoring_events", "metric_update", data, stamp, seq)
    return model.encode(message).decode()


async def hold(ws: web.WebSocketResponse) -> None:
    """Keep the connection open until the client goes."""
    async for _ in ws:
        pass


def test_a_server_without_seq_has_each_outage_recorded_as_a_gap(peer):
    async def script(ws: web.WebSocketResponse, number: int) -> None:
        subs = await subscriptions(ws)
        assert [s.get("since") for s in subs] == [None]
        for i in range(number * 10, number * 10 + 10):
            await ws.send_str(metric(i))
        if number == 0:
            await ws.close(code=1012)
        else:
            await hold(ws)

    server = peer(script)
    with EventStream(server.url, channels=["monitoring_events"]) as stream:
        stream.wait_for(20, timeout=10)
        stamp = pd.Timestamp(T0, unit="ns", tz="UTC")
        assert [(g.channel, g.start, g.end, g.reason) for g in stream.gaps] == [
            ("monitoring_events", stamp + pd.Timedelta("9s"), stamp + pd.Timedelta("10s"),
             "no seq to resume from"),
        ]
        assert stream.stats.gaps == 1
        assert stream.frame("monitoring_events")["seq"].isna().all()


def test_junk_binary_frames_and_unknown_types_are_rejected_or_ignored_never_fatal(peer):
    junk = [
        "not json", "[1, 2]", '{"no": "type"}', '{"type": 5}',
        '{"type": "future_feature", "x": 1}',
        metric(1, 1).replace('"value":1.0', '"value":"high"'),
        '{"type": "error", "data": "no code"}',
    ]

    async def script(ws: web.WebSocketResponse, number: int) -> None:
        await subscriptions(ws)
        for text in junk:
            await ws.send_str(text)
        await ws.send_bytes(b"\x00\x01binary")
        await ws.send_frame(b'{"type": "pong", "bad": "\xff\xfe"}', WSMsgType.TEXT)
        await ws.send_str(metric(2, 2, region="eu").replace('{"type"', '{"origin":"x","type"'))
        await ws.send_str(metric(3, 3))
        await hold(ws)

    server = peer(script)
    with EventStream(server.url, channels=["monitoring_events"]) as stream:
        stream.wait_for(2, timeout=10)
        stats = stream.stats
        assert stats.state is State.LIVE
        assert stats.ignored == 1
        assert stats.rejected == {"other": 7, "monitoring_events": 1}
        reasons = stream.rejects["reason"].tolist()
        assert len(reasons) == 8
        assert any("binary frame" in r for r in reasons)
        assert any("data.value" in r for r in reasons)
        assert any("invalid JSON" in r for r in reasons)
        df = stream.frame("monitoring_events")
        assert df["seq"].tolist() == [2, 3]
        assert orjson.loads(df["extra"].iloc[0]) == {"data.region": "eu", "origin": "x"}
        assert pd.isna(df["extra"].iloc[1])
        assert str(stream.rejects["received_at"].dtype) == "datetime64[ns, UTC]"


def test_a_ping_from_the_server_is_answered_with_a_pong(peer):
    replies: list[Any] = []

    async def script(ws: web.WebSocketResponse, number: int) -> None:
        await subscriptions(ws)
        await ws.send_str(model.ping())
        replies.append(orjson.loads((await ws.receive(timeout=5)).data))
        await ws.send_str(metric(1, 1))
        await hold(ws)

    server = peer(script)
    with EventStream(server.url, channels=["monitoring_events"]) as stream:
        stream.wait_for(1, timeout=10)
    assert replies == [{"type": "pong"}]


def test_a_peer_that_stops_answering_is_left_after_the_ping_timeout(peer):
    pings: list[Any] = []

    async def script(ws: web.WebSocketResponse, number: int) -> None:
        await subscriptions(ws)
        await ws.send_str(metric(number, number))
        pings.extend([orjson.loads(message.data) async for message in ws])  # never a pong

    server = peer(script)
    reasons: list[str] = []
    stream = EventStream(server.url, channels=["monitoring_events"], ping_interval=0.2,
                         ping_timeout=0.3)
    stream.on("disconnected", lambda message: reasons.append(message["reason"]))
    with stream:
        stream.wait_for(2, timeout=10)
        assert stream.stats.reconnects >= 1
    assert {"type": "ping"} in pings
    assert "no message or pong within 0.3s of a ping" in reasons[0]
