"""The published API's JavaScript client example ("JavaScript Client"), unchanged, in Node's
browser-compatible WebSocket, against our server."""

from __future__ import annotations

import shutil
import subprocess

import orjson
import pytest

from .conftest import write_capture

SPEC_CLIENT = """
class OpenAGIWebSocketClient {
    constructor(url, token) {
        this.url = `${url}?token=${token}`;
        this.ws = null;
        this.listeners = {};
    }

    connect() {
        this.ws = new WebSocket(this.url);

        this.ws.onopen = (event) => {
            console.log('Connected to Open-A.G.I WebSocket API');
            this.emit('connected', event);
        };

        this.ws.onmessage = (event) => {
            const message = JSON.parse(event.data);
            this.handleMessage(message);
        };

        this.ws.onclose = (event) => {
            console.log('WebSocket connection closed');
            this.emit('disconnected', event);
        };

        this.ws.onerror = (event) => {
            console.error('WebSocket error:', event);
            this.emit('error', event);
        };
    }

    handleMessage(message) {
        if (this.listeners[message.type]) {
            this.listeners[message.type].forEach(callback => {
                callback(message);
            });
        }
    }

    on(eventType, callback) {
        if (!this.listeners[eventType]) {
            this.listeners[eventType] = [];
        }
        this.listeners[eventType].push(callback);
    }

    emit(eventType, data) {
        if (this.listeners[eventType]) {
            this.listeners[eventType].forEach(callback => {
                callback(data);
            });
        }
    }

    subscribe(channel) {
        this.ws.send(JSON.stringify({
            type: 'subscribe',
            channel: channel
        }));
    }

    unsubscribe(channel) {
        this.ws.send(JSON.stringify({
            type: 'unsubscribe',
            channel: channel
        }));
    }
}
"""

HARNESS = """
const [url, token] = process.argv.slice(-2);
const client = new OpenAGIWebSocketClient(url, token);
client.connect();
const seen = [];
client.on('connected', () => {
    client.subscribe('network_events');
});
client.on('network_event', (message) => {
    seen.push(message);
    if (seen.length === 5) {
        console.log(JSON.stringify(seen));
        client.unsubscribe('network_events');
        client.ws.close();
    }
});
client.on('disconnected', () => process.exit(0));
setTimeout(() => { console.error('timed out'); process.exit(2); }, 20000);
"""


def node_with_websocket() -> list[str]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    for flags in ([], ["--experimental-websocket"]):
        probe = subprocess.run([node, *flags, "-e", "process.exit(typeof WebSocket === "
                                "'function' ? 0 : 1)"], capture_output=True, check=False)
        if probe.returncode == 0:
            return [node, *flags]
    pytest.skip("this node has no WebSocket")


def test_spec_javascript_client_receives_network_events(tmp_path, serve):
    command = node_with_websocket()
    server = serve(write_capture(tmp_path / "c.jsonl", 800), speed=20.0, loop=True)
    script = tmp_path / "client.js"
    script.write_text(SPEC_CLIENT + HARNESS)
    done = subprocess.run([*command, str(script), server.ws_url, server.token("js")],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "Connected to Open-A.G.I WebSocket API"
    assert lines[-1] == "WebSocket connection closed"
    events = orjson.loads(next(line for line in lines if line.startswith("[")))
    assert [m["type"] for m in events] == ["network_event"] * 5
    seqs = [m["seq"] for m in events]
    assert seqs == sorted(seqs)
