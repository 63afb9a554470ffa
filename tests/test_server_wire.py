"""Server frames built once: valid RFC 6455 text frames at every length boundary."""

from __future__ import annotations

import pytest
from websocket import ABNF

from openagi_nb.server._wire import text_frame


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 70000])
def test_text_frame_is_a_final_unmasked_text_frame_of_its_payload(size):
    payload = b"x" * size
    frame = text_frame(payload)
    assert frame[0] == 0x80 | ABNF.OPCODE_TEXT
    assert not frame[1] & 0x80  # servers do not mask (RFC 6455 section 5.1)
    length = frame[1] & 0x7F
    if size < 126:
        header = 2
        assert length == size
    elif size < 65536:
        header = 4
        assert length == 126
        assert int.from_bytes(frame[2:4], "big") == size
    else:
        header = 10
        assert length == 127
        assert int.from_bytes(frame[2:10], "big") == size
    assert frame[header:] == payload
