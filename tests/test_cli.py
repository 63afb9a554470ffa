"""The openagi-nb command, end to end with real files."""

from __future__ import annotations

import subprocess
import sys

import pytest

from openagi_nb import load_capture, model
from openagi_nb.capture import CaptureWriter
from openagi_nb.cli import main

from .test_capture import MESSAGES


@pytest.fixture
def capture(tmp_path):
    path = tmp_path / "c.jsonl.gz"
    with CaptureWriter(path) as writer:
        writer.write_all([model.encode(m) for m in MESSAGES])
        writer.write(b"{broken")
    return path


def test_inspect_shows_channels_events_span_nodes_and_rejects(capture, capsys):
    assert main(["inspect", str(capture)]) == 0
    out = capsys.readouterr().out
    assert "messages 6" in out
    assert "monitoring_events" in out
    assert "metric_update                    2" in out
    assert "nodes    2 (node_01, node_02)" in out
    assert "rejects  1" in out
    assert "line 7: invalid JSON" in out
    assert "2026-01-05 08:00:00+00:00 .. 2026-01-05 08:00:04+00:00" in out


def test_convert_writes_a_dataset_that_loads_back(capture, tmp_path, capsys):
    out_dir = tmp_path / "pq"
    assert main(["convert", str(capture), "-o", str(out_dir)]) == 0
    assert "wrote 6 events in 4 channels" in capsys.readouterr().out
    assert len(load_capture(out_dir)) == 6
    assert main(["inspect", str(out_dir)]) == 0


def test_bad_input_is_one_line_on_stderr_and_exit_1(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "openagi_nb", "inspect", str(tmp_path / "missing.jsonl.gz")],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"openagi-nb inspect: error: {tmp_path / 'missing.jsonl.gz'}: no such file"]
    assert "Traceback" not in result.stderr


def test_an_impossible_scenario_is_one_line_on_stderr_and_exit_1(tmp_path, capsys):
    assert main(["generate", "-o", str(tmp_path / "x.jsonl"), "--nodes", "3"]) == 1
    assert capsys.readouterr().err == (
        "openagi-nb generate: error: nodes must be at least 16, got 3\n")


def test_bad_usage_exits_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["generate", "-o", "x.jsonl", "--duration", "soon"])
    assert info.value.code == 2
    assert "invalid duration 'soon'" in capsys.readouterr().err
