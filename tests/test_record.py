"""stream/_record.py: recording a live stream into a capture that loads into the same frames."""

from __future__ import annotations

import math
import re

import pytest

from openagi_nb import AuthenticationFailed, load_capture
from openagi_nb.stream import record

from .conftest import write_capture


def test_record_stops_after_count_events_and_the_capture_loads(serve, capture, tmp_path):
    server = serve(capture, speed=math.inf, wait_for=1)
    progress = []
    path = tmp_path / "rec.jsonl.gz"
    stats = record(server.ws_url, path, channels=["security_events"], count=100,
                   token=server.token("rec"), on_progress=progress.append)
    assert stats.total == 100
    assert progress[-1].total == 100
    cap = load_capture(path)
    assert len(cap.frame("security_events")) == 100
    assert len(cap) == 100


def test_record_stops_after_the_duration(serve, tmp_path):
    server = serve(write_capture(tmp_path / "c.jsonl", 2000), speed=1.0, wait_for=1)
    path = tmp_path / "rec.jsonl"
    stats = record(server.ws_url, path, duration=0.5, token=server.token("rec"))
    assert 0 < stats.total < 2000
    assert len(load_capture(path)) == stats.total


def test_record_with_a_node_id_fetches_its_own_token(serve, capture, tmp_path):
    server = serve(capture, speed=math.inf, wait_for=1)
    stats = record(server.ws_url, tmp_path / "rec.jsonl", count=400, node_id="recorder")
    assert stats.total == 400


def test_record_with_a_refused_token_raises_and_leaves_a_closed_empty_capture(
        serve, capture, tmp_path):
    server = serve(capture)
    path = tmp_path / "rec.jsonl.gz"
    with pytest.raises(AuthenticationFailed, match="401"):
        record(server.ws_url, path, count=10, token="bad-token")
    assert len(load_capture(path)) == 0


def test_the_record_command_writes_the_capture_and_says_what_it_did(serve, capture, tmp_path,
                                                                     capsys):
    from openagi_nb.cli import main

    server = serve(capture, speed=math.inf, wait_for=1)
    path = tmp_path / "rec.jsonl.gz"
    argv = ["record", server.ws_url, "-o", str(path), "--channel", "network_events",
            "--channel", "security_events", "--count", "200", "--node-id", "cli"]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert f"recorded 200 events to {path} (0 reconnects, 0 gaps, 0 rejected)" in out
    assert re.search(r"[\d,]+ events, [\d,]+/s, 0 reconnects", err)
    cap = load_capture(path)
    assert (len(cap.frame("network_events")), len(cap.frame("security_events"))) == (100, 100)


def test_the_record_command_reports_a_refused_token_in_one_line(serve, capture, tmp_path,
                                                                capsys):
    from openagi_nb.cli import main

    server = serve(capture)
    argv = ["record", server.ws_url, "-o", str(tmp_path / "r.jsonl"), "--token", "bad-token"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "openagi-nb record: error: server refused the connection: HTTP 401" in err
    assert "bad-token" not in err
