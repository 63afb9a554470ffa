"""The design's central promise, end to end: the live stream and the recorded capture expose the
SAME per-channel frames, so every analysis answers the same on both.

The bundled capture is replayed by the real server without retiming, received by a real
EventStream over a loopback socket, and compared with ``load_capture`` of the file.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from pandas.testing import assert_frame_equal

from openagi_nb import analysis, load_capture
from openagi_nb.model import CHANNELS
from openagi_nb.stream import EventStream

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample_capture.jsonl.gz"


@pytest.mark.parametrize(("batch", "granted"), [
    (False, "off"),
    (True, "arrow lz4"),  # the default
    ("json", "json"),
])
def test_the_live_stream_gives_the_captures_frames_and_incidents(serve, batch, granted):
    cap = load_capture(SAMPLE)
    server = serve(SAMPLE, speed=math.inf, retime=False, wait_for=1)
    with EventStream(server.ws_url, token=server.token("equality"), batch=batch) as stream:
        stream.wait_for(len(cap), timeout=60)
        assert stream.stats.batching.startswith(granted)
        for channel in CHANNELS:
            assert_frame_equal(stream.frame(channel), cap.frame(channel))
        assert_frame_equal(analysis.incidents(stream), analysis.incidents(cap))
        assert len(analysis.incidents(cap)) >= 10


@pytest.mark.parametrize(("batch", "compression", "granted", "exact"), [
    (True, "lz4", "json", True),  # recording asks for json batches: the server's own text
    ("arrow", "zstd", "arrow zstd", False),  # asked anyway: the messages the rows stand for
    (False, None, "off", True),
])
def test_what_is_recorded_gives_the_live_frames_whatever_came_on_the_wire(
        serve, tmp_path, batch, compression, granted, exact):
    cap = load_capture(SAMPLE)
    server = serve(SAMPLE, speed=math.inf, retime=False, wait_for=1)
    recording = tmp_path / "rec.jsonl"
    with EventStream(server.ws_url, token=server.token("rec"), batch=batch,
                     compression=compression, record_to=recording) as stream:
        stream.wait_for(len(cap), timeout=60)
        assert stream.stats.batching.startswith(granted)
    recorded = load_capture(recording)
    lines = [line for line in recording.read_bytes().splitlines() if b'_event"' in line]
    assert len(lines) == len(cap)  # one message per line, each once
    for channel in CHANNELS:
        assert_frame_equal(recorded.frame(channel), stream.frame(channel))
    if exact:  # byte for byte what the server sends one message per frame
        assert lines[0].startswith(b'{"type":')
        assert lines[0].endswith(b',"seq":1}')
