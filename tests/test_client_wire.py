"""client_wire.py: RFC 6455 framing read from a real socket pair, byte by byte when it must."""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
import struct
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openagi_nb.exceptions import ConnectionFailed
from openagi_nb.model._framing import (
    BINARY,
    CLOSE,
    CONTINUATION,
    MAX_MESSAGE,
    PING,
    PONG,
    TEXT,
    FrameReader,
)


def frame(opcode: int, payload: bytes, *, fin: bool = True, mask: bytes | None = None,
          rsv: int = 0, length: int | None = None) -> bytes:
    """One frame as a server (or, with ``mask``, a client) would send it."""
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


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, FrameReader]]:
    """A connected socket pair: write frames to the first, read them with the reader."""
    server, client = socket.socketpair()
    client.settimeout(0.2)
    yield server, FrameReader(client.recv)
    server.close()
    client.close()


def test_a_small_text_frame(pair):
    server, reader = pair
    server.sendall(frame(TEXT, b'{"type":"pong"}'))
    assert reader.next() == (TEXT, b'{"type":"pong"}')


@pytest.mark.parametrize("size", [125, 126, 300, 65535, 65536, 200_000])
def test_each_length_encoding(pair, size):
    server, reader = pair
    payload = os.urandom(size)
    server.sendall(frame(BINARY, payload))
    assert reader.next() == (BINARY, payload)


def test_many_frames_in_one_write_come_out_in_order(pair):
    server, reader = pair
    messages = [f'{{"n":{i}}}'.encode() for i in range(1000)]
    server.sendall(b"".join(frame(TEXT, m) for m in messages))
    assert [reader.next()[1] for _ in messages] == messages


def test_a_frame_cut_across_reads_survives_the_timeouts_in_between(pair):
    server, reader = pair
    data = frame(TEXT, b"x" * 1000)
    for cut in (1, 3, 500):
        server.sendall(data[:cut])
        with pytest.raises(TimeoutError):
            reader.next()
        server.sendall(data[cut:])
        assert reader.next() == (TEXT, b"x" * 1000)


def test_fragments_are_joined_and_a_ping_in_between_comes_first(pair):
    server, reader = pair
    server.sendall(frame(TEXT, b'{"a":', fin=False) + frame(PING, b"hi")
                   + frame(CONTINUATION, b'1', fin=False) + frame(CONTINUATION, b"}"))
    assert reader.next() == (PING, b"hi")
    assert reader.next() == (TEXT, b'{"a":1}')


def test_a_masked_frame_is_unmasked(pair):
    server, reader = pair
    server.sendall(frame(TEXT, b"hello, masked world", mask=b"\x01\x02\x03\x04"))
    assert reader.next() == (TEXT, b"hello, masked world")


def test_control_frames_are_returned_with_their_payload(pair):
    server, reader = pair
    server.sendall(frame(PONG, b"") + frame(CLOSE, struct.pack("!H", 4001) + b"token expired"))
    assert reader.next() == (PONG, b"")
    assert reader.next() == (CLOSE, b"\x0f\xa1token expired")


def read_until_error(reader: FrameReader) -> None:
    while True:
        reader.next()


@pytest.mark.parametrize(("data", "reason"), [
    (frame(TEXT, b"x", rsv=4), "reserved bits"),
    (frame(CONTINUATION, b"x"), "continuation frame without"),
    (frame(TEXT, b"x", fin=False) + frame(TEXT, b"y"), "before the last one's final"),
    (frame(PING, b"x", fin=False), "fragmented or oversized control"),
    (frame(PING, b"x" * 126), "fragmented or oversized control"),
    (frame(BINARY, b"", length=MAX_MESSAGE + 1), "over the"),
])
def test_broken_framing_is_a_protocol_error(pair, data, reason):
    server, reader = pair
    server.sendall(data)
    with pytest.raises(ConnectionFailed, match=f"^protocol error: .*{reason}"):
        read_until_error(reader)


def test_a_closed_connection_is_an_error_not_a_hang(pair):
    server, reader = pair
    server.sendall(frame(TEXT, b"last"))
    server.shutdown(socket.SHUT_WR)
    assert reader.next() == (TEXT, b"last")
    with pytest.raises(ConnectionFailed, match="closed by the peer"):
        reader.next()


class Chunks:
    """``recv`` over bytes cut at given points: a piece, a timeout, the next piece..."""

    def __init__(self, data: bytes, cuts: list[int]) -> None:
        points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
        self.pieces = [data[a:b] for a, b in itertools.pairwise(points) if b > a]
        self.timeouts = 0
        self._owed = False

    def recv(self, n: int) -> bytes:
        if self._owed or not self.pieces:
            self._owed = False
            self.timeouts += 1
            raise TimeoutError
        self._owed = True
        return self.pieces.pop(0)


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
    chunks = Chunks(wire, cuts)
    reader, got = FrameReader(chunks.recv), []
    while len(got) < len(expected) and chunks.timeouts <= 2 * len(wire) + 2:
        with contextlib.suppress(TimeoutError):  # resumes where it stopped
            got.append(reader.next())
    assert got == expected
    assert not chunks.pieces
