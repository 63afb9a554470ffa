"""model/_framing.py: RFC 6455 frames parsed from bytes cut anywhere, and built, without I/O."""

from __future__ import annotations

import itertools
import os
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st
from websocket import ABNF

from openagi_nb.exceptions import ConnectionFailed, ProtocolError
from openagi_nb.model import (
    BINARY,
    CLOSE,
    CONTINUATION,
    MAX_MESSAGE,
    PING,
    PONG,
    TEXT,
    FrameParser,
    build_frame,
    close_payload,
    parse_close,
    text_frame,
)


def frame(opcode: int, payload: bytes, *, fin: bool = True, mask: bytes | None = None,
          rsv: int = 0, length: int | None = None) -> bytes:
    """One frame as a server (or, with ``mask``, a client) would send it, built independently
    of the module under test."""
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | rsv << 4 | opcode])
    bit = 0x80 if mask else 0
    if n < 126:
        head += bytes([bit | n])
    elif n < 1 << 16:
        head += bytes([bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", n)
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        head += mask
    return head + payload


def parsed(data: bytes, parser: FrameParser | None = None) -> list[tuple[int, bytes]]:
    """Everything ``data`` completes."""
    parser = parser or FrameParser()
    parser.feed(data)
    out = []
    while (item := parser.next()) is not None:
        out.append(item)
    return out


def test_a_small_text_frame():
    assert parsed(frame(TEXT, b'{"type":"pong"}')) == [(TEXT, b'{"type":"pong"}')]


@pytest.mark.parametrize("size", [125, 126, 300, 65535, 65536, 200_000])
def test_each_length_encoding(size):
    payload = os.urandom(size)
    assert parsed(frame(BINARY, payload)) == [(BINARY, payload)]


def test_many_frames_in_one_feed_come_out_in_order():
    messages = [f'{{"n":{i}}}'.encode() for i in range(1000)]
    assert parsed(b"".join(frame(TEXT, m) for m in messages)) == [(TEXT, m) for m in messages]


def test_a_frame_cut_anywhere_needs_more_bytes_then_comes_out_whole():
    data = frame(TEXT, b"x" * 1000)
    for cut in (1, 2, 3, 4, 500):
        parser = FrameParser()
        assert parsed(data[:cut], parser) == []
        assert parsed(data[cut:], parser) == [(TEXT, b"x" * 1000)]
        assert parser.buffered == 0


def test_fragments_are_joined_and_a_ping_in_between_comes_first():
    data = (frame(TEXT, b'{"a":', fin=False) + frame(PING, b"hi")
            + frame(CONTINUATION, b"1", fin=False) + frame(CONTINUATION, b"}"))
    assert parsed(data) == [(PING, b"hi"), (TEXT, b'{"a":1}')]


def test_a_masked_frame_is_unmasked():
    data = frame(TEXT, b"hello, masked world", mask=b"\x01\x02\x03\x04")
    assert parsed(data) == [(TEXT, b"hello, masked world")]


def test_control_frames_are_returned_with_their_payload():
    data = frame(PONG, b"") + frame(CLOSE, struct.pack("!H", 4001) + b"token expired")
    assert parsed(data) == [(PONG, b""), (CLOSE, b"\x0f\xa1token expired")]


@pytest.mark.parametrize(("data", "reason"), [
    (frame(TEXT, b"x", rsv=4), "reserved bits"),
    (bytes([0x83, 0]), "unknown opcode 0x3"),
    (frame(CONTINUATION, b"x"), "continuation frame without"),
    (frame(TEXT, b"x", fin=False) + frame(TEXT, b"y"), "before the last one's final"),
    (frame(PING, b"x", fin=False), "fragmented or oversized control"),
    (frame(PING, b"x" * 126), "fragmented or oversized control"),
])
def test_broken_framing_is_a_protocol_error(data, reason):
    with pytest.raises(ProtocolError, match=f"^protocol error: .*{reason}") as refused:
        parsed(data)
    assert refused.value.close_code == 1002


def test_a_protocol_error_is_a_connection_failure():
    assert issubclass(ProtocolError, ConnectionFailed)


def test_fragments_over_the_limit_are_refused_before_they_are_all_held():
    parser = FrameParser(max_message=1000)
    parser.feed(frame(TEXT, b"x" * 600, fin=False))
    assert parser.next() is None
    parser.feed(frame(CONTINUATION, b"x" * 600, fin=False))
    with pytest.raises(ProtocolError, match="message too big: over 1200 bytes in fragments, the "
                       "limit is 1000") as refused:
        parser.next()
    assert refused.value.close_code == 1009
    assert parser.buffered <= 1000


def test_a_frame_over_the_limit_is_refused_from_its_header_alone():
    parser = FrameParser()
    parser.feed(frame(BINARY, b"", length=MAX_MESSAGE + 1)[:10])
    with pytest.raises(ProtocolError, match=f"a frame of {MAX_MESSAGE + 1} bytes") as refused:
        parser.next()
    assert refused.value.close_code == 1009


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 70000])
def test_text_frame_is_a_final_unmasked_text_frame_of_its_payload(size):
    payload = b"x" * size
    built = text_frame(payload)
    assert built == frame(TEXT, payload)
    assert not built[1] & 0x80  # servers do not mask (RFC 6455 section 5.1)
    assert built[0] & 0x0F == ABNF.OPCODE_TEXT


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536])
def test_a_client_frame_is_masked_with_a_fresh_key_and_parses_back(size):
    payload = os.urandom(size)
    key = b"\x0a\x0b\x0c\x0d"
    built = build_frame(BINARY, payload, mask=True, mask_key=lambda n: key)
    assert built == frame(BINARY, payload, mask=key)
    assert parsed(built) == [(BINARY, payload)]
    assert build_frame(BINARY, b"abcd", mask=True) != build_frame(BINARY, b"abcd", mask=True)


def test_close_payloads_round_trip_and_cut_long_reasons():
    assert parse_close(close_payload(4001, "token expired")) == (4001, "token expired")
    assert len(close_payload(1000, "é" * 200)) <= 125
    assert parse_close(b"") == (1005, "")


@pytest.mark.parametrize(("payload", "reason"), [
    (b"\x03", "one-byte payload"), (b"\x03\xe8\xff\xfe", "not UTF-8"),
])
def test_a_broken_close_payload_is_a_protocol_error(payload, reason):
    with pytest.raises(ProtocolError, match=reason):
        parse_close(payload)


payloads = st.one_of(  # around the 7-bit and 16-bit length limits, and past them
    st.binary(max_size=130),
    st.integers(126, 70_000).map(lambda n: bytes(range(256)) * (n // 256) + bytes(n % 256)),
)
message = st.tuples(
    st.sampled_from([TEXT, BINARY]), payloads,
    st.integers(min_value=1, max_value=4),  # fragments
    st.booleans(),  # a ping between fragments
    st.one_of(st.none(), st.binary(min_size=4, max_size=4)),  # mask
)


@given(messages=st.lists(message, max_size=20), cuts=st.lists(st.integers(0, 10**6)))
def test_any_messages_cut_anywhere_come_out_whole_and_in_order(messages, cuts):
    wire, expected = b"", []
    for opcode, payload, parts, ping, mask in messages:
        size = -(-len(payload) // parts) or 1
        pieces = [payload[i:i + size] for i in range(0, len(payload), size)] or [b""]
        for i, piece in enumerate(pieces):
            last = i == len(pieces) - 1
            wire += frame(opcode if i == 0 else CONTINUATION, piece, fin=last, mask=mask)
            if ping and not last:
                wire += frame(PING, b"p")
                expected.append((PING, b"p"))
        expected.append((opcode, payload))
    points = sorted({c % (len(wire) + 1) for c in cuts} | {0, len(wire)})
    parser, got = FrameParser(), []
    for a, b in itertools.pairwise(points):
        got += parsed(wire[a:b], parser)
    assert got == expected
    assert parser.buffered == 0
