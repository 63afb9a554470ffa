"""The replay server's frame handling (server/_session.py, aiohttp's reader) under random input:
random bytes, and random frames that may break every rule of RFC 6455 section 5, each on a fresh
connection after a valid opening handshake.

What must hold whatever arrives: every connection is answered or ended within 2 s; what the
server sends back is valid framing (unmasked, known opcodes, documented close codes); nothing is
logged at ERROR (a traceback in a handler); and afterwards a good client is still subscribed
and served. One server for the module, bounded examples: the file runs in a few seconds.

Errors are collected by a handler of our own on the server's loggers for the whole module, not
by ``caplog``: caplog is per test, and a handler that fails after its client left would log
between two examples or after the last one.
"""

from __future__ import annotations

import base64
import logging
import os
import socket
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Final

import orjson
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from openagi_nb.model import (
    BINARY,
    CLOSE,
    CONTINUATION,
    PING,
    PONG,
    TEXT,
    FrameParser,
    build_frame,
    parse_close,
)
from openagi_nb.server import BackgroundServer, ServeOptions
from openagi_nb.server._session import HARD_FRAME_LIMIT

from .conftest import DATA_TYPES, TEST_SECRET, WsClient, write_capture

TIMEOUT: Final = 2.0
"""Seconds the server has to answer or end a connection."""
KNOWN_OPCODES: Final = (CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG)
SERVER_CLOSE_CODES: Final = frozenset({1000, 1001, 1002, 1007, 1008, 1009, 1011, 1013, 4001})
"""docs/protocol.md section 9."""
PING_MESSAGE: Final = b'{"type":"ping"}'
WATCHED_LOGGERS: Final = ("openagi_nb.server", "aiohttp", "asyncio")
FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


class Collect(logging.Handler):
    """Keeps every record of ERROR and above."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def errors() -> Iterator[list[logging.LogRecord]]:
    """What the server, aiohttp and asyncio log at ERROR while this module runs."""
    handler = Collect()
    loggers = [logging.getLogger(name) for name in WATCHED_LOGGERS]
    for logger in loggers:
        logger.addHandler(handler)
    yield handler.records
    for logger in loggers:
        logger.removeHandler(handler)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, errors: list[logging.LogRecord]
           ) -> Iterator[BackgroundServer]:
    """One real server for the module, looping a small capture at 20x: events keep coming."""
    capture = write_capture(tmp_path_factory.mktemp("fuzz") / "c.jsonl", 800)
    options = ServeOptions(str(capture), host="127.0.0.1", port=0, secret=TEST_SECRET,
                           speed=20.0, loop=True)
    with BackgroundServer(options) as running:
        yield running


def opened(server: BackgroundServer) -> socket.socket:
    """A raw socket after a valid opening handshake (RFC 6455 section 4.1), 101 checked."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET /api/v1/ws?token={server.token('fuzz')} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        assert chunk, f"closed during the handshake: {head!r}"
        head += chunk
    assert head.startswith(b"HTTP/1.1 101 "), head
    assert head.endswith(b"\r\n\r\n"), "the server spoke before the client subscribed"
    return sock


def server_frames(data: bytes) -> list[tuple[int, bytes]]:
    """The whole frames the server sent, read as our client reads them (a ProtocolError fails
    the test), each checked unmasked (section 5.1)."""
    parser = FrameParser()
    parser.feed(data)
    frames = []
    while (frame := parser.next()) is not None:
        frames.append(frame)
    pos = 0
    for _ in frames:  # walk the headers of the frames read: no mask bit on any
        assert not data[pos + 1] & 0x80, "the server masked a frame"
        length, pos = data[pos + 1] & 0x7F, pos + 2
        if length >= 126:
            size = 2 if length == 126 else 8
            length, pos = int.from_bytes(data[pos:pos + size], "big"), pos + size
        pos += length
    return frames


def assert_valid_reply(data: bytes) -> list[tuple[int, bytes]]:
    frames = server_frames(data)
    for opcode, payload in frames:
        assert opcode in (TEXT, CLOSE, PONG), f"the server sent opcode {opcode:#x}"
        if opcode == CLOSE:
            code, _ = parse_close(payload)
            assert code in SERVER_CLOSE_CODES, f"undocumented close code {code}"
    return frames


def assert_still_served(server: BackgroundServer) -> None:
    """A fresh, good client is subscribed and gets events."""
    client = WsClient(f"{server.ws_url}?token={server.token('after-fuzz')}", timeout=5)
    try:
        client.subscribe("monitoring_events")
        ack, _ = client.reply("subscribed")
        assert ack["channel"] == "monitoring_events"
        assert client.data(3)[0]["type"] == "monitoring_event"
    finally:
        client.close()


def assert_no_error_logged(errors: list[logging.LogRecord]) -> None:
    assert errors == [], [f"{r.name}: {r.getMessage()}" for r in errors]


def assert_connections_drain(server: BackgroundServer) -> None:
    """Every fuzzed connection is gone from the server's registry (none leaks)."""
    deadline = time.monotonic() + 5
    while len(server.server.connections):
        assert time.monotonic() < deadline, f"{len(server.server.connections)} left open"
        time.sleep(0.02)


# --- random bytes ------------------------------------------------------------------------------

def read_until_eof(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the TCP connection, within the timeout."""
    deadline, data = time.monotonic() + TIMEOUT, b""
    while True:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data
        except TimeoutError:
            raise AssertionError(f"the connection did not end within {TIMEOUT}s") from None
        if not chunk:
            return data
        data += chunk


@FUZZ
@given(junk=st.binary(max_size=4096))
def test_random_bytes_then_eof_end_the_connection_in_time(server, errors, junk):
    sock = opened(server)
    try:
        sock.sendall(junk)
        sock.shutdown(socket.SHUT_WR)  # then nothing: a half-sent frame must not hang it
        assert_valid_reply(read_until_eof(sock))
    finally:
        sock.close()
    assert_no_error_logged(errors)


# --- random, possibly broken frames --------------------------------------------------------------

@dataclass(frozen=True)
class Frame:
    fin: bool
    rsv: int
    opcode: int
    payload: bytes
    mask: bool
    claimed: int | None = None
    """A length to claim in the 64-bit form instead of the payload's (a lie)."""

    def wire(self) -> bytes:
        """The frame as sent: length honest (the shortest form) unless ``claimed``; masked if
        ``mask``."""
        whole = build_frame(self.opcode, self.payload, mask=self.mask)
        first = whole[0] & 0x0F | self.fin << 7 | self.rsv << 4
        if self.claimed is None:
            return bytes((first,)) + whole[1:]
        return struct.pack("!BBQ", first, 0x80 | 127, self.claimed) + os.urandom(4) + self.payload

    @property
    def message(self) -> bool:
        """Whether it completes a text or binary message (it needs a reply)."""
        return self.fin and self.opcode in (TEXT, BINARY, CONTINUATION)


CONTENT = st.one_of(
    st.binary(max_size=200),
    st.sampled_from([b"{}", b"[1]", b'{"type":"ping"}', b'{"type":"subscribe"}',
                     b'{"type":"unsubscribe","channel":"network_events"}', b"\xff\xfe",
                     b'{"type":"subscribe","channel":"security_events","since":-1}']),
)
ANY_FRAME = st.builds(
    Frame, fin=st.booleans(), rsv=st.integers(0, 7), opcode=st.integers(0, 15),
    payload=CONTENT | st.binary(min_size=126, max_size=300), mask=st.booleans(),
)
ANSWERED: Final = 0
"""Expected outcome: every message answered, the connection goes on."""
EITHER: Final = -1
"""Expected outcome: answered or ended, no more is known."""


@st.composite
def valid_frames(draw: st.DrawFn) -> list[Frame]:
    """Valid client framing (section 5): 1 to 4 text or binary messages, some fragmented, with
    ping and pong frames before or between fragments (5.4 allows them there)."""
    frames: list[Frame] = []
    for _ in range(draw(st.integers(1, 4))):
        opcode = draw(st.sampled_from([TEXT, BINARY]))
        parts = draw(st.lists(CONTENT, min_size=1, max_size=3))
        for i, part in enumerate(parts):
            if draw(st.integers(0, 3)) == 0:
                control = draw(st.sampled_from([PING, PONG]))
                frames.append(Frame(True, 0, control, draw(st.binary(max_size=125)), True))
            frames.append(Frame(i == len(parts) - 1, 0, CONTINUATION if i else opcode, part,
                                True))
    return frames


def unfinished_payload(frames: list[Frame]) -> bytes:
    """The bytes of the message left unfinished at the end of ``frames``."""
    start = max(i for i, f in enumerate(frames) if f.opcode in (TEXT, BINARY))
    return b"".join(f.payload for f in frames[start:] if f.opcode < CLOSE)


def close_frame(payload: bytes) -> Frame:
    return Frame(True, 0, CLOSE, payload, True)


CLOSES = st.one_of(  # (payload, the code the server must close with: docs/protocol.md 9, 12)
    st.tuples(st.sampled_from([1000, 1001, 3000, 4999]).map(lambda c: c.to_bytes(2, "big")),
              st.just(1000)),
    st.tuples(st.sampled_from([0, 999, 1004, 1005, 1015, 1016, 2999])
              .map(lambda c: c.to_bytes(2, "big")), st.just(1002)),
    st.tuples(st.just(b"\x03"), st.just(1002)),  # a one-byte payload
    st.tuples(st.just(b"\x03\xe8\xff\xfe"), st.just(1007)),  # a reason that is not UTF-8
    # Invalid too (RFC 6455 section 7.4), but aiohttp 3.14 answers them with 1000: it lets
    # 1006 through (aio-libs/aiohttp#13536) and checks no code above 4999 (#12895, in 3.15).
    st.tuples(st.sampled_from([1006, 5000, 65535]).map(lambda c: c.to_bytes(2, "big")),
              st.just(EITHER)),
)


@st.composite
def broken_frames(draw: st.DrawFn) -> tuple[list[Frame], int]:
    """Valid framing with one rule broken, and the close code that must follow."""
    frames = draw(valid_frames())
    at = draw(st.integers(0, len(frames) - 1))
    f = frames[at]
    how = draw(st.sampled_from(["rsv", "opcode", "control", "continuation", "unfinished",
                                "close", "huge", "unmasked"]))
    if how == "rsv":
        frames[at] = replace(f, rsv=draw(st.integers(1, 7)))
    elif how == "opcode":
        frames[at] = replace(f, opcode=draw(st.sampled_from([3, 4, 5, 6, 7, 11, 12, 13, 14, 15])))
    elif how == "control":  # fragmented, or over 125 bytes
        big = draw(st.booleans())
        payload = draw(st.binary(min_size=126, max_size=300)) if big else b"x"
        frames.insert(at, Frame(big, 0, PING, payload, True))
    elif how == "continuation":  # with no message to continue
        frames.insert(0, Frame(True, 0, CONTINUATION, draw(CONTENT), True))
    elif how == "unfinished":  # a message never finished: the next one (our ping) is too early
        last = max(i for i, g in enumerate(frames) if g.opcode < CLOSE)
        frames[last] = replace(frames[last], fin=False)
        if not unfinished_payload(frames):  # aiohttp 3.14 forgets a message with no bytes yet
            return frames, EITHER
    elif how == "huge":  # a header claiming 1 MiB or more: 1009 before a byte of payload
        claimed = draw(st.integers(HARD_FRAME_LIMIT, (1 << 64) - 1))
        frames.insert(0, Frame(True, 0, draw(st.sampled_from([TEXT, BINARY])), b"x", True,
                               claimed))
        return frames, 1009
    elif how == "close":
        payload, code = draw(CLOSES)
        frames.insert(at, close_frame(payload))
        return frames, code
    else:  # the server does not enforce masking (docs/protocol.md 12): no outcome required
        frames[at] = replace(f, mask=False)
        return frames, EITHER
    return frames, 1002


CASES = st.one_of(
    valid_frames().map(lambda frames: (frames, ANSWERED)),
    broken_frames(),
    st.lists(ANY_FRAME, min_size=1, max_size=6).map(lambda frames: (frames, EITHER)),
)


def replies_or_end(sock: socket.socket, wanted: int) -> tuple[list[bytes], int | None]:
    """The server's replies (text frames that are not data) until ``wanted`` of them came or it
    closed, and its close code (None: it did not close; 1006: it dropped the connection without
    a close frame). Fails if neither happens within the timeout."""
    deadline, data = time.monotonic() + TIMEOUT, b""
    while True:
        frames = assert_valid_reply(data)
        replies = [p for op, p in frames if op == TEXT and orjson.loads(p)["type"]
                   not in DATA_TYPES]
        closes = [parse_close(p)[0] for op, p in frames if op == CLOSE]
        if closes or len(replies) >= wanted:
            return replies, (closes or [None])[0]
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        except TimeoutError:
            raise AssertionError(f"no answer and no end within {TIMEOUT}s") from None
        if not chunk:
            return replies, 1006
        data += chunk


@FUZZ
@given(case=CASES)
def test_random_frames_then_a_ping_are_answered_or_the_connection_ends_in_time(
    server, errors, case
):
    frames, expected = case
    sock = opened(server)
    try:
        sock.sendall(b"".join(f.wire() for f in frames) + build_frame(TEXT, PING_MESSAGE,
                                                                       mask=True))
        wanted = sum(f.message for f in frames) + 1
        replies, code = replies_or_end(sock, wanted)
    finally:
        sock.close()
    event(f"expected {expected}, got {'answered' if code is None else code}")
    if expected == ANSWERED:  # section 7.4: one reply per message, in order, then our ping's
        assert code is None, f"valid framing closed the connection ({code})"
        pong = orjson.loads(replies[wanted - 1])
        assert (pong["type"], set(pong)) == ("pong", {"type", "clock"})
    elif expected != EITHER:
        assert code == expected
    assert_no_error_logged(errors)


# --- afterwards ----------------------------------------------------------------------------------

def test_after_the_fuzz_the_server_serves_and_logged_no_error(server, errors):
    """Runs last in the module (pytest keeps file order): the same server as the fuzz above."""
    assert_connections_drain(server)
    assert_still_served(server)
    assert_no_error_logged(errors)
