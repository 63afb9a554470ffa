"""capture/_write.py rotation, capture/_pieces.py and _convert.py: a recording as a directory of
pieces, loaded as one capture, converted piece by piece."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from pandas.testing import assert_frame_equal

from openagi_nb import CaptureError, load_capture, model
from openagi_nb.capture import CaptureWriter, convert, iter_lines, pieces
from openagi_nb.cli import main

from .test_capture_read import lines

MESSAGES = lines(600)


def write_pieces(directory, chunks):
    """One piece per chunk of messages, named in time order."""
    directory.mkdir(exist_ok=True)
    for i, chunk in enumerate(chunks):
        with CaptureWriter(directory / f"2026-01-05T08-{i:02d}-00.000000Z.jsonl.gz",
                           flush_every=None) as writer:
            writer.write_all(chunk)
    return directory


def test_the_writer_rotates_by_size_into_complete_pieces(tmp_path):
    with CaptureWriter(tmp_path / "rec", rotate_size=2_000, flush_every=0) as writer:
        writer.write_all(MESSAGES)
        assert writer.path.parent == tmp_path / "rec"
    files = pieces(tmp_path / "rec")
    assert len(files) == writer.pieces > 3
    for f in files[:-1]:
        gzip.decompress(f.read_bytes())  # complete: trailer and all
        assert f.stat().st_size < 2_000 + 1_000
    cap = load_capture(tmp_path / "rec")
    assert cap.frame("monitoring_events")["seq"].tolist() == list(range(1, 601))
    assert cap.rejects.empty
    assert cap.pieces == len(files)


def test_the_writer_rotates_by_age_on_the_timer_while_idle(tmp_path):
    writer = CaptureWriter(tmp_path / "rec", rotate_every=3600)
    writer.write(MESSAGES[0])
    first = writer.path
    writer._opened -= 3600  # as if an hour had passed
    writer.flush_if_due()
    assert writer.path != first
    assert gzip.decompress(first.read_bytes()) == MESSAGES[0] + b"\n"
    writer.write(MESSAGES[1])
    writer.close()
    assert len(load_capture(tmp_path / "rec")) == 2


def test_a_rotated_recording_must_be_a_directory(tmp_path):
    with pytest.raises(CaptureError, match="directory of pieces"):
        CaptureWriter(tmp_path / "rec.jsonl.gz", rotate_every=60)


def test_overlapping_pieces_load_without_duplicates_and_equal_one_file(tmp_path):
    whole = tmp_path / "whole.jsonl.gz"
    with CaptureWriter(whole) as writer:
        writer.write_all(MESSAGES)
    directory = write_pieces(tmp_path / "rec", [MESSAGES[:250], MESSAGES[200:450],
                                                  MESSAGES[440:]])
    one, split = load_capture(whole), load_capture(directory)
    for channel in model.Channel:
        assert_frame_equal(split.frame(channel), one.frame(channel))
    assert len([line for _, line in iter_lines(directory)]) == 600


def test_a_glob_of_pieces_is_a_capture_too(tmp_path):
    directory = write_pieces(tmp_path / "rec", [MESSAGES[:100], MESSAGES[100:200],
                                                  MESSAGES[200:300]])
    cap = load_capture(str(directory / "*T08-0[01]-*.jsonl.gz"))
    assert cap.frame("monitoring_events")["seq"].tolist() == list(range(1, 201))


def test_damage_in_a_piece_is_one_reject_naming_the_piece(tmp_path):
    directory = write_pieces(tmp_path / "rec", [MESSAGES[:100], MESSAGES[100:200]])
    last = pieces(directory)[-1]
    last.write_bytes(last.read_bytes()[:-30])
    cap = load_capture(directory)
    assert len(cap.rejects) == 1
    assert cap.rejects["reason"][0].startswith(f"{last.name}: truncated: ")


def test_convert_appends_new_pieces_without_rewriting_the_old(tmp_path):
    directory = write_pieces(tmp_path / "rec", [MESSAGES[:200], MESSAGES[190:400]])
    out = convert(directory, tmp_path / "pq")
    first = sorted(out.glob("channel=*/hour=*/part-*.parquet"))
    stamps = {f: f.stat().st_mtime_ns for f in first}
    write_pieces(directory, [MESSAGES[:200], MESSAGES[190:400], MESSAGES[390:]])
    convert(directory, out)
    assert {f: f.stat().st_mtime_ns for f in first} == stamps
    assert parts(out) == {0, 1}
    merged = load_capture(out)
    assert merged.frame("monitoring_events")["seq"].tolist() == list(range(1, 601))
    convert(directory, out)  # nothing new: nothing written
    assert parts(out) == {0, 1}


def parts(out: Path) -> set[int]:
    """The part numbers of the monitoring files (``part-<part>-<k>.parquet``)."""
    return {int(f.stem.split("-")[1])
            for f in out.glob("channel=monitoring_events/hour=*/part-*.parquet")}


def test_every_cli_verb_takes_a_directory_of_pieces(tmp_path, capsys):
    directory = write_pieces(tmp_path / "rec", [MESSAGES[:300], MESSAGES[250:]])
    assert main(["inspect", str(directory)]) == 0
    assert "messages 600" in capsys.readouterr().out
    assert main(["convert", str(directory), "-o", str(tmp_path / "pq")]) == 0
    assert "holds 600 events in 1 channels" in capsys.readouterr().out
    from openagi_nb.server import ServeOptions
    from openagi_nb.server._replay import load_replay

    assert ServeOptions(str(directory)).capture == str(directory)  # serve validates it
    assert len(load_replay(directory)) == 600
