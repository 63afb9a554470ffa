"""The published API's Python client example ("Python Client"), unchanged, against our server."""

from __future__ import annotations

import json
import threading

import websocket

from openagi_nb.stream import fetch_token

from .conftest import write_capture


# --- copied verbatim from the published API's "Python Client" example --------------------
class OpenAGIWebSocketClient:
    def __init__(self, url, token):
        self.url = f"{url}?token={token}"
        self.ws = None
        self.listeners = {}
        self.running = False

    def connect(self):
        self.ws = websocket.WebSocketApp(
            self.url,
            on_open=self.on_open,
            on_message=self.on_message,
            on_error=self.on_error,
            on_close=self.on_close
        )

        # Run in separate thread
        self.thread = threading.Thread(target=self.ws.run_forever)
        self.thread.start()

    def on_open(self, ws):
        print("Connected to Open-A.G.I WebSocket API")
        self.emit('connected')

    def on_message(self, ws, message):
        data = json.loads(message)
        self.handle_message(data)

    def on_error(self, ws, error):
        print(f"WebSocket error: {error}")
        self.emit('error', error)

    def on_close(self, ws, close_status_code, close_msg):
        print("WebSocket connection closed")
        self.running = False
        self.emit('disconnected')

    def handle_message(self, message):
        message_type = message.get('type')
        if message_type in self.listeners:
            for callback in self.listeners[message_type]:
                callback(message)

    def on(self, event_type, callback):
        if event_type not in self.listeners:
            self.listeners[event_type] = []
        self.listeners[event_type].append(callback)

    def emit(self, event_type, data=None):
        if event_type in self.listeners:
            for callback in self.listeners[event_type]:
                callback(data)

    def subscribe(self, channel):
        message = {
            "type": "subscribe",
            "channel": channel
        }
        self.ws.send(json.dumps(message))

    def unsubscribe(self, channel):
        message = {
            "type": "unsubscribe",
            "channel": channel
        }
        self.ws.send(json.dumps(message))
# --- end of the published client -------------------------------------------------------------


class Collector:
    """Listens on the spec client and lets the test wait for what it expects."""

    def __init__(self, client: OpenAGIWebSocketClient) -> None:
        self.messages: list[dict] = []
        self.changed = threading.Condition()
        for kind in ("network_event", "security_event", "subscribed", "unsubscribed", "pong",
                     "error"):
            client.on(kind, self.add)
        client.on("disconnected", lambda _: self.add({"type": "disconnected"}))

    def add(self, message: dict) -> None:
        with self.changed:
            self.messages.append(message)
            self.changed.notify_all()

    def wait(self, accept, timeout: float = 10.0) -> list[dict]:
        with self.changed:
            ok = self.changed.wait_for(lambda: any(accept(m) for m in self.messages), timeout)
        assert ok, f"timed out; got {[m.get('type') for m in self.messages][-10:]}"
        return list(self.messages)


def test_spec_python_client_subscribes_receives_pings_and_unsubscribes(tmp_path, serve):
    server = serve(write_capture(tmp_path / "c.jsonl", 4000), speed=5.0, loop=True)
    token = fetch_token(server.base_url, node_id="spec-client")
    client = OpenAGIWebSocketClient(server.ws_url, token)
    seen = Collector(client)
    connected = threading.Event()
    client.on("connected", lambda _: (client.subscribe("network_events"), connected.set()))
    client.connect()
    try:
        assert connected.wait(10)
        seen.wait(lambda m: m["type"] == "network_event")
        client.subscribe("security_events")
        seen.wait(lambda m: m["type"] == "security_event")
        client.ws.send(json.dumps({"type": "ping"}))
        seen.wait(lambda m: m["type"] == "pong")
        client.unsubscribe("network_events")
        got = seen.wait(lambda m: m["type"] == "unsubscribed")
        acked = next(i for i, m in enumerate(got) if m["type"] == "unsubscribed")
        count = len(got)
        seen.wait(lambda m: len(seen.messages) > count + 3 and m["type"] == "security_event")
        after = seen.messages[acked + 1:]
        assert after
        assert all(m["type"] != "network_event" for m in after)
        acks = [m for m in got if m["type"] == "subscribed"]
        assert [m["channel"] for m in acks] == ["network_events", "security_events"]
        network = [m for m in got if m["type"] == "network_event"]
        assert set(network[0]) == {"type", "event", "data", "timestamp", "seq"}
    finally:
        # The server ends it (1001): closing from this thread instead races websocket-client's
        # reader thread, which can then wait forever on a socket closed under it.
        raw = client.ws.sock
        server.stop()
        client.thread.join(30)
        if raw is not None:
            raw.shutdown()  # websocket-client leaves the socket open after a server close
    assert not client.thread.is_alive()
    assert seen.messages[-1] == {"type": "disconnected"}
