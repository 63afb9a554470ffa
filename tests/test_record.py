"""stream/_record.py: recording a live stream into a capture that loads into the same frames."""

from __future__ import annotations

import math
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from openagi_nb import AuthenticationFailed, CaptureError, EventStream, load_capture
from openagi_nb.capture import pieces
from openagi_nb.stream import ALL, record

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


def test_the_record_command_takes_the_servers_root_as_serve_prints_it(serve, capture, tmp_path,
                                                                      capsys):
    from openagi_nb.cli import main

    server = serve(capture, speed=math.inf, wait_for=1)
    path = tmp_path / "root.jsonl"
    assert main(["record", server.base_url, "-o", str(path), "--count", "50",
                 "--node-id", "cli"]) == 0
    assert re.search(r"recorded [\d,]+ events", capsys.readouterr().out)
    assert len(load_capture(path)) >= 50
    with pytest.raises(SystemExit) as refused:
        main(["record", "ftp://127.0.0.1:9/api/v1/ws?token=abc", "-o", str(path)])
    assert refused.value.code == 2
    err = capsys.readouterr().err
    assert "cannot use 'ftp://127.0.0.1:9/api/v1/ws' as a server URL: the scheme must be" in err
    assert "abc" not in err


def test_the_record_command_reports_a_refused_token_in_one_line(serve, capture, tmp_path,
                                                                capsys):
    from openagi_nb.cli import main

    server = serve(capture)
    argv = ["record", server.ws_url, "-o", str(tmp_path / "r.jsonl"), "--token", "bad-token"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert ("openagi-nb record: error: server refused the token: HTTP 401 (invalid token: "
            "malformed token: not enough segments)") in err
    assert "bad-token" not in err


# --- crash safety, rotation, write errors (issue 12) ---------------------------------------


def test_a_recorder_killed_with_sigkill_keeps_all_but_the_last_second(serve, tmp_path):
    """What the server sent more than a second before the kill (seen by a second client, with
    half a second of margin for a loaded machine) is in the capture; nothing else is."""
    server = serve(write_capture(tmp_path / "c.jsonl", 9000), speed=1.0, wait_for=2)
    seen: list[tuple[float, int]] = []
    observer = EventStream(server.ws_url, token=server.token("observer"))
    for kind in ("network_event", "consensus_event", "security_event", "monitoring_event"):
        observer.on(kind, lambda m: seen.append((time.monotonic(), m["seq"])))
    path = tmp_path / "rec.jsonl.gz"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    argv = [sys.executable, "-m", "openagi_nb", "record", server.ws_url, "-o", str(path),
            "--token", server.token("rec")]
    recorder = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    try:
        with observer:
            observer.wait_for(1, timeout=60)  # the clock runs once both clients subscribed
            time.sleep(random.uniform(2.0, 5.0))
            recorder.send_signal(signal.SIGKILL)
            killed = time.monotonic()
            recorder.wait(10)
    finally:
        recorder.kill()
    cap = load_capture(path)
    recorded = set(pd.concat([cap.frame(c)["seq"] for c in ALL]).astype(int))
    sent = [seq for at, seq in seen]
    due = {seq for at, seq in seen if at < killed - 1.5}
    assert len(due) > 50
    assert due <= recorded
    assert recorded <= set(sent)
    assert len(cap.rejects) <= 1
    assert cap.rejects["reason"].str.startswith("truncated").all()


def test_record_rotates_into_pieces_that_load_as_the_single_file_does(serve, tmp_path):
    capture = write_capture(tmp_path / "c.jsonl", 400, step_ns=2_500_000)  # a second
    server = serve(capture, speed=1.0, wait_for=2)
    single = EventStream(server.ws_url, token=server.token("a"), record_to=tmp_path / "one.jsonl")
    with single:
        stats = record(server.ws_url, tmp_path / "rec", count=400, token=server.token("b"),
                       rotate=0.2)
        single.wait_for(400, timeout=10)
    files = pieces(tmp_path / "rec")
    assert len(files) > 3
    assert stats.total == 400
    shutil.copy(files[1], files[-1].with_name("9999-restarted.jsonl.gz"))  # an overlap
    one, split = load_capture(tmp_path / "one.jsonl"), load_capture(tmp_path / "rec")
    for channel in ALL:
        assert_frame_equal(split.frame(channel), one.frame(channel))


def test_stats_recording_names_the_current_piece(serve, capture, tmp_path):
    server = serve(capture, speed=math.inf, wait_for=1)
    with EventStream(server.ws_url, token=server.token("a"), record_to=tmp_path / "rec",
                     rotate="1h") as stream:
        stream.wait_for(400, timeout=10)
        current = stream.stats.recording
        assert current is not None
        assert Path(current).parent == tmp_path / "rec"
        assert Path(current).name.endswith("Z.jsonl.gz")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_disk_full_is_reported_and_raised_from_stop_and_the_frames_stay(serve, capture):
    server = serve(write_capture(Path(capture).with_name("slow.jsonl"), 2000), speed=1.0,
                   wait_for=1)
    stream = EventStream(server.ws_url, token=server.token("a"), record_to="/dev/full").start()
    stream.wait_for(10, timeout=10)
    deadline = time.monotonic() + 10
    while "recording stopped" not in (stream.stats.last_error or ""):
        assert time.monotonic() < deadline, stream.stats
        time.sleep(0.05)
    assert "No space left on device" in stream.stats.last_error
    assert stream.stats.recording is None
    received = stream.wait_for(stream.stats.total + 20, timeout=10)  # it goes on
    with pytest.raises(CaptureError, match="No space left on device"):
        stream.stop()
    stream.stop()  # raised once
    assert sum(len(stream.frame(c)) for c in ALL) >= received


def test_the_record_command_rotates_into_a_directory(serve, capture, tmp_path, capsys):
    from openagi_nb.cli import main

    server = serve(capture, speed=math.inf, wait_for=1)
    argv = ["record", server.ws_url, "-o", f"{tmp_path / 'rec'}/", "--count", "400",
            "--rotate", "100MB", "--node-id", "cli"]
    assert main(argv) == 0
    assert len(pieces(tmp_path / "rec")) == 1
    assert len(load_capture(tmp_path / "rec")) == 400
    with pytest.raises(SystemExit) as exit_:
        main(["record", server.ws_url, "-o", "x", "--rotate", "soon"])
    assert exit_.value.code == 2
    assert "rotate: expected a duration" in capsys.readouterr().err


def test_the_record_command_says_why_it_waits_when_nobody_answers(tmp_path):
    """Nothing listens: the recorder keeps trying (the server may come up) and its progress
    lines say why nothing arrives, with the remedy."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.run(
        [sys.executable, "-m", "openagi_nb", "record", f"http://127.0.0.1:{port}", "-o",
         str(tmp_path / "r.jsonl"), "--node-id", "me", "--duration", "6"],
        capture_output=True, text=True, timeout=60, check=False)
    assert process.returncode == 0
    assert ("0 events, 0/s, 0 reconnects; reconnecting: cannot get a token: cannot reach "
            f"http://127.0.0.1:{port}/api/v1/auth/token: [Errno 111] Connection refused (no "
            "server listens there: check the host and port, or start a replay of a capture "
            "with `openagi-nb serve CAPTURE`)") in process.stderr
    assert "recorded 0 events" in process.stdout
