"""The JavaScript example client of docs/protocol.md section 14.8 (docs/examples/batch_client.js,
npm's ``ws`` 8), unchanged, against the real server: json batches when offered, one message per
frame when not, and a lossless resume through a proxy that cuts its connections.

``make test`` installs ``ws`` into ``.cache/node`` (``make js-deps``); the client finds it through
``NODE_PATH``. Without node, or without npm to install ``ws``, these tests skip.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson
import pytest

from .conftest import CHANNEL_CYCLE, write_capture

ROOT = Path(__file__).resolve().parents[1]
CLIENT = ROOT / "docs" / "examples" / "batch_client.js"
NODE_MODULES = ROOT / ".cache" / "node" / "node_modules"
SUMMARY = re.compile(r"done: (\d+) events in (\d+) frames \((\d+) batches\) over (\d+) "
                     r"connections, (\d+) duplicates dropped")


def node_with_ws() -> tuple[str, dict[str, str]]:
    """The node command and an environment in which ``require('ws')`` finds ws 8."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    if not (NODE_MODULES / "ws" / "package.json").is_file():
        if shutil.which("npm") is None:
            pytest.skip("npm is not installed: no ws for the example client")
        pytest.fail("npm's ws is not installed in .cache/node: run `make js-deps`")
    return node, {**os.environ, "NODE_PATH": str(NODE_MODULES)}


def run_client(root: str, channels: list[str], count: int
               ) -> tuple[list[dict[str, Any]], list[str], tuple[int, ...]]:
    """Run the example until it printed ``count`` events: (events, log lines, summary numbers)."""
    node, env = node_with_ws()
    done = subprocess.run([node, str(CLIENT), root, ",".join(channels), str(count)],
                          capture_output=True, text=True, timeout=90, check=False, env=env)
    assert done.returncode == 0, done.stderr
    events = [orjson.loads(line) for line in done.stdout.splitlines()]
    log = done.stderr.splitlines()
    summary = SUMMARY.fullmatch(log[-1])
    assert summary is not None, done.stderr
    return events, log, tuple(int(n) for n in summary.groups())


def seqs_by_channel(events: list[dict[str, Any]]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = defaultdict(list)
    for event in events:
        out[f"{event['type']}s"].append(event["seq"])
    return out


def assert_complete(seqs: list[int]) -> None:
    """Every message of one channel after the first, in order, none twice: the test capture
    cycles through the four channels and seq numbers them all, so a channel's seqs step by 4."""
    assert seqs == list(range(seqs[0], seqs[0] + 4 * len(seqs), 4))


def test_example_asks_json_batches_and_splits_them(tmp_path, serve):
    server = serve(write_capture(tmp_path / "c.jsonl", 800), speed=20.0, loop=True)
    channels = ["network_events", "security_events"]
    events, log, (printed, frames, batches, connections, _) = run_client(
        server.base_url, channels, 300)
    assert log[0] == "connection 1: json batches, at most 4096 events or 50 ms"
    assert printed == len(events) == 300
    assert connections == 1
    assert 0 < batches < 300  # batched: fewer frames than events
    assert frames == batches + 3  # + the replies: batching, two subscribed
    by_channel = seqs_by_channel(events)
    assert sorted(by_channel) == channels
    for channel, seqs in by_channel.items():
        assert_complete(seqs)
        assert {(s - 1) % 4 for s in seqs} == {CHANNEL_CYCLE.index(channel)}


def test_example_falls_back_to_one_message_per_frame(tmp_path, serve):
    server = serve(write_capture(tmp_path / "c.jsonl", 800), speed=20.0, loop=True, batch=False)
    events, log, (printed, frames, batches, connections, _) = run_client(
        server.base_url, ["consensus_events"], 120)
    assert log[0] == "connection 1: one message per frame (the server offers no batches)"
    assert printed == len(events) == 120
    assert (batches, connections) == (0, 1)
    assert frames == 120 + 1  # one per event, + the subscribed ack
    assert {event["type"] for event in events} == {"consensus_event"}
    assert_complete([event["seq"] for event in events])


def test_example_resumes_through_cuts_without_loss_or_duplicate(tmp_path, serve, cutting_proxy):
    server = serve(write_capture(tmp_path / "c.jsonl", 800), speed=10.0, loop=True)
    proxy = cutting_proxy(server.port, cut_every=30_000)  # about 130 events a connection
    events, log, (printed, _, batches, connections, _) = run_client(
        f"http://127.0.0.1:{proxy.port}", ["monitoring_events"], 500)
    assert printed == len(events) == 500
    assert proxy.cuts >= 1
    assert connections >= 2
    assert batches > 0
    assert any(re.fullmatch(r"connection 1: closed \(\d+\); reconnecting in .* after "
                            r'\{"monitoring_events":\d+\}', line) for line in log), log
    assert "connection 2: json batches, at most 4096 events or 50 ms" in log
    assert_complete([event["seq"] for event in events])


def test_protocol_md_shows_the_example_as_it_is():
    """Section 14.8 quotes the example's essential lines: each one must be in the file."""
    section = (ROOT / "docs" / "protocol.md").read_text().split("### 14.8 ", 1)[1]
    quoted = section.split("```js\n", 1)[1].split("```", 1)[0]
    source = {line.strip() for line in CLIENT.read_text().splitlines()}
    lines = [line.strip() for line in quoted.splitlines()]
    missing = [line for line in lines if line and line != "// ..." and line not in source]
    assert not missing
    assert "docs/examples/batch_client.js" in section or "examples/batch_client.js" in section
