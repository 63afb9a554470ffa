"""The design's central promise, end to end: the live stream and the recorded capture expose the
SAME per-channel frames, so every analysis answers the same on both.

The bundled capture is replayed by the real server without retiming, received by a real
EventStream over a loopback socket, and compared with ``load_capture`` of the file.
"""

from __future__ import annotations

import math
from pathlib import Path

from pandas.testing import assert_frame_equal

from openagi_nb import analysis, load_capture
from openagi_nb.model import CHANNELS
from openagi_nb.stream import EventStream

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample_capture.jsonl.gz"


def test_the_live_stream_gives_the_captures_frames_and_incidents(serve):
    cap = load_capture(SAMPLE)
    server = serve(SAMPLE, speed=math.inf, retime=False, wait_for=1)
    with EventStream(server.ws_url, token=server.token("equality")) as stream:
        stream.wait_for(len(cap), timeout=60)
        for channel in CHANNELS:
            assert_frame_equal(stream.frame(channel), cap.frame(channel))
        assert_frame_equal(analysis.incidents(stream), analysis.incidents(cap))
        assert len(analysis.incidents(cap)) >= 10
