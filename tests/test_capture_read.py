"""capture/_read.py: a cut or corrupt .jsonl.gz loads every whole line before the damage, and
reports the damage as one reject naming the byte it starts at."""

from __future__ import annotations

import gzip

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openagi_nb import CaptureError, load_capture, model
from openagi_nb.capture import CaptureWriter
from openagi_nb.cli import main

T0 = 1_767_600_000_000_000_000


def lines(n: int) -> list[bytes]:
    return [model.encode(model.data_message(
        "monitoring_events", "metric_update",
        {"node_id": f"node_{i % 7:02d}", "metric": "cpu_usage", "value": float(i % 97),
         "threshold": 80.0, "status": "ok"}, model.format_timestamp(T0 + i * 10**9), i + 1))
        for i in range(n)]


def flushed_capture(path, messages):
    """A gzip capture flushed after every line; returns the file size after each line."""
    sizes = []
    with CaptureWriter(path, flush_every=0) as writer:
        for line in messages:
            writer.write(line)
            sizes.append(writer._file.raw.tell())
    return path.read_bytes(), sizes


MESSAGES = lines(300)


def byte(reason: str) -> int:
    return int(reason.split("byte ")[1].split(" ")[0].replace(",", ""))


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return flushed_capture(tmp_path_factory.mktemp("cut") / "c.jsonl.gz", MESSAGES)


def seqs(cap):
    return cap.frame("monitoring_events")["seq"].tolist()


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(min_value=2, max_value=10**9))
def test_a_capture_cut_anywhere_loads_every_whole_line_before_the_cut(sample, tmp_path, cut):
    data, sizes = sample
    cut = 2 + cut % (len(data) - 2)  # anywhere from inside the header to inside the trailer
    path = tmp_path / f"cut{cut}.jsonl.gz"
    path.write_bytes(data[:cut])
    cap = load_capture(path)
    loaded = seqs(cap)
    flushed = sum(1 for size in sizes if size <= cut)  # whole lines that reached the file
    assert loaded == list(range(1, len(loaded) + 1))  # a prefix, nothing broken or invented
    assert len(loaded) >= flushed
    assert len(cap.rejects) == 1
    line, reason = int(cap.rejects["line"][0]), cap.rejects["reason"][0]
    assert line == len(loaded) + 1
    assert reason.startswith(f"truncated: the file ends at byte {cut:,}")


def test_a_capture_cut_in_its_trailer_loads_every_line(sample, tmp_path):
    data, _ = sample
    path = tmp_path / "c.jsonl.gz"
    path.write_bytes(data[:-3])
    cap = load_capture(path)
    assert seqs(cap) == list(range(1, 301))
    assert cap.rejects["line"].tolist() == [301]
    assert "truncated" in cap.rejects["reason"][0]


@pytest.mark.parametrize("garbage", [b"\x00\x00\x00", b"garbage after the end",
                                     b"\x1f\x8b\x07\x00junk and more"])
def test_garbage_after_a_whole_capture_is_one_corrupt_reject(sample, tmp_path, garbage):
    data, _ = sample
    path = tmp_path / "c.jsonl.gz"
    path.write_bytes(data + garbage)
    cap = load_capture(path)
    assert seqs(cap) == list(range(1, 301))
    if not garbage.strip(b"\0"):  # zero padding is allowed, as gzip(1) allows it
        assert cap.rejects.empty
        return
    assert len(cap.rejects) == 1
    reason = cap.rejects["reason"][0]
    assert reason.startswith("corrupt: bad gzip data from byte ")
    assert len(data) <= byte(reason) < len(data) + len(garbage)


def test_corrupt_bytes_in_the_middle_keep_what_came_before(sample, tmp_path):
    data, sizes = sample
    at = sizes[149]
    path = tmp_path / "c.jsonl.gz"
    path.write_bytes(data[:at] + bytes(b ^ 0xFF for b in data[at:at + 40]) + data[at + 40:])
    cap = load_capture(path)
    loaded = seqs(cap)
    assert loaded == list(range(1, len(loaded) + 1))
    assert len(loaded) >= 150
    assert len(cap.rejects) == 1
    reason = cap.rejects["reason"][0]
    assert reason.startswith("corrupt: bad gzip data from byte ")
    assert byte(reason) >= at


def test_a_second_member_is_read_too(tmp_path):
    path = tmp_path / "c.jsonl.gz"
    path.write_bytes(gzip.compress(b"\n".join(MESSAGES[:10]) + b"\n")
                     + gzip.compress(b"\n".join(MESSAGES[10:20]) + b"\n"))
    cap = load_capture(path)
    assert seqs(cap) == list(range(1, 21))
    assert cap.rejects.empty


def test_an_empty_gzip_file_is_an_empty_capture(tmp_path):
    path = tmp_path / "c.jsonl.gz"
    path.write_bytes(b"")
    assert len(load_capture(path)) == 0


def test_a_file_that_is_not_gzip_is_still_a_clear_error(tmp_path):
    path = tmp_path / "c.jsonl.gz"
    path.write_bytes(b'{"type": "ping"}\n')
    with pytest.raises(CaptureError, match="not a gzip file"):
        load_capture(path)


def test_inspect_shows_the_damage(sample, tmp_path, capsys):
    data, _ = sample
    path = tmp_path / "c.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert "rejects  1" in out
    assert f"truncated: the file ends at byte {len(data) // 2:,}" in out
