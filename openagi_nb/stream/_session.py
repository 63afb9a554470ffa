"""The client's side of the API as a sans-I/O protocol session: bytes and the time in, events to
deliver and bytes to send out. No sockets, threads or clocks here.

One :class:`ClientSession` lives as long as its stream and spans its connections: what to resume
from (:class:`~._resume.Resume`) is kept across them. For each connection the transport calls

1. :meth:`~ClientSession.connection_made` once the handshake is done, then sends
   :meth:`~ClientSession.data_to_send` (the subscribes, with ``since`` when resuming);
2. :meth:`~ClientSession.receive_data` with every chunk read, and delivers the events it returns:
   accepted data messages (:data:`Delivery`), other messages (:class:`Reply`), refused ones
   (:class:`Rejected`); then sends :meth:`~ClientSession.data_to_send` (pongs, the close echo);
3. :meth:`~ClientSession.tick` every so often, which pings a quiet server and gives up on one
   that stays quiet, and pings about once a second a server whose clock's rate is unknown, to
   refresh it (:mod:`._clock`; :meth:`~ClientSession.lag` reads it);
4. once :attr:`~ClientSession.ending` is set (the server closed, broke the framing, stopped
   answering; or :meth:`~ClientSession.close` was answered), sends what is left and drops the
   connection, then calls :meth:`~ClientSession.connection_lost`.

The wire protocol, our additions (``seq``, ``since``, the ``subscribed`` ack) and what resuming
requires are in ``docs/protocol.md``.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Final

from .. import model
from ..exceptions import InvalidMessage, ProtocolError
from ..model import (
    BINARY,
    CHANNEL_OF_TYPE,
    CLOSE,
    MAX_MESSAGE,
    PING,
    TEXT,
    UNSENDABLE,
    BatchFormat,
    BatchSettings,
    Channel,
    CloseCode,
    ErrorCode,
    FrameParser,
    MessageType,
    build_frame,
    close_payload,
    decode,
    flatten,
    parse_close,
)
from ._batching import JSON_BATCH, arrow_batch, describe, json_batch
from ._clock import REFRESH, ServerClock
from ._events import OTHER, Columns, Delivery, Event, Rejected, Reply
from ._reconnect import Ending, Failure, Outcome
from ._resume import Resume

__all__ = ["OTHER", "ClientSession", "Columns", "Delivery", "Event", "Rejected", "Reply"]

log = logging.getLogger("openagi_nb.client")

CLOSE_TIMEOUT: Final = 0.5
"""Seconds the server has to answer our close frame (a stop() must not wait longer)."""
_KNOWN: Final = frozenset(MessageType)
_CHANNEL_NAMES: Final = {kind: c.value for kind, c in CHANNEL_OF_TYPE.items()}
"""Message type -> channel name: plain strings are the cheapest keys on the hot path."""
_CLOCKED: Final = frozenset({MessageType.SUBSCRIBED, MessageType.PONG})

class ClientSession:
    """The protocol state of one stream. Not thread-safe: one caller at a time.

    Args:
        channels: the channels to subscribe to on every connection.
        ping_interval: seconds without a byte from the server before a ``ping`` is sent.
        ping_timeout: seconds after that ping with still nothing before giving up.
        max_message: the most bytes one message may have, fragments included; a server that
            sends more is disconnected with close 1009.
        close_timeout: seconds the server has to answer our close before we drop the
            connection anyway.
        mask_key: the source of the 4-byte keys that mask what a client sends (RFC 6455
            section 5.3); fixed in tests.
        batch: the batches to ask for when the server offers them (``docs/protocol.md``
            section 14); None: one message per frame.
    """

    def __init__(
        self, channels: tuple[Channel, ...], *, ping_interval: float = 20.0,
        ping_timeout: float = 10.0, max_message: int = MAX_MESSAGE,
        close_timeout: float = CLOSE_TIMEOUT, mask_key: Callable[[int], bytes] = os.urandom,
        batch: BatchSettings | None = None,
    ) -> None:
        self.channels = channels
        self.max_message, self.close_timeout = max_message, close_timeout
        self.resume = Resume()
        self.clock = ServerClock()
        """The server's clock as last stated (kept across connections until a reply replaces
        it)."""
        self.ping_interval, self.ping_timeout = ping_interval, ping_timeout
        self.ending: Failure | None = None
        """Why the current connection must end; None while it goes on."""
        self.last_error: str | None = None
        """The newest error the server reported (``error`` messages)."""
        self.ignored = 0
        self._mask_key = mask_key
        self._parser = FrameParser(max_message)
        self._out: list[bytes] = []
        self._open = False
        self._closing: float | None = None  # when we sent our close frame
        self._live_from: set[str] = set()  # subscribed without since, not yet acked
        self._heard = 0.0
        self._ping_sent: float | None = None
        self._pings: deque[bool] = deque()  # pings awaiting their pong: True, a clock refresh
        self._refreshed = 0.0  # when the last clock refresh was sent
        self.batch = batch
        self.batching: BatchSettings | None = None
        """The batches the server granted on this connection (None: one message per frame)."""
        self.batch_note = "off" if batch is None else "not offered by the server"
        """What was negotiated, in words (``stats.batching``)."""
        self._awaiting_batch = False

    # --- the connection's life ---------------------------------------------------------

    def connection_made(self, now: float, batch: BatchSettings | None = None) -> None:
        """A connection is open (handshake done): ask for ``batch`` (what the server offers
        of :attr:`batch`: :func:`~._features.offer`), then subscribe to every channel, each
        with the ``since`` that resumes it, all in one write (:meth:`data_to_send`)."""
        self._parser = FrameParser(self.max_message)
        self._out.clear()
        self.ending = None
        self._open, self._closing = True, None
        self._heard, self._ping_sent = now, None
        self._pings.clear()
        self._refreshed = now
        self.batching, self._awaiting_batch = None, False
        if self.batch is not None:
            self.batch_note = "not offered by the server"
            if batch is not None:
                self._send_text(model.batch_request(batch))
                self._awaiting_batch, self.batch_note = True, "asked"
        asked = {c: self.resume.since(c) for c in self.channels}
        self._live_from = {c.value for c, since in asked.items() if since is None}
        for channel, since in asked.items():
            self._send_text(model.subscribe(channel, since))

    def connection_lost(self) -> None:
        """The connection is gone (whatever ended it): what cannot be resumed becomes a gap."""
        self._open = False
        self.resume.disconnected(self.channels)

    def receive_eof(self) -> None:
        """The server closed the TCP connection without a closing handshake."""
        self._end(Outcome.NETWORK, None, "connection lost: connection closed by the peer")

    def close(self, now: float, code: int = CloseCode.NORMAL) -> None:
        """Start the closing handshake (the user stops the stream); the connection ends when the
        server answers, or :attr:`close_timeout` later (:attr:`ending` says ``stopped``)."""
        if self._sending:
            self._closing = now
            self._send(CLOSE, close_payload(code))

    def subscribe(self, channel: Channel) -> None:
        """Add ``channel``: subscribed now if connected, on every connection from now on."""
        if channel in self.channels:
            return
        self.channels = (*self.channels, channel)
        if self._sending:
            self._send_text(model.subscribe(channel))

    def unsubscribe(self, channel: Channel) -> None:
        """Drop ``channel`` now and on every later connection."""
        self.channels = tuple(c for c in self.channels if c != channel)
        if self._sending:
            self._send_text(model.unsubscribe(channel))

    def data_to_send(self) -> bytes:
        """The bytes to write to the connection now (frames, masked); empties the queue."""
        out, self._out = b"".join(self._out), []
        return out

    def tick(self, now: float) -> None:
        """Call every so often (at least every :data:`~._clock.REFRESH` seconds): pings a
        quiet server, and one whose clock needs refreshing; gives up on one that stays quiet
        or does not answer our close."""
        if not self._open or self.ending is not None:
            return
        if self._closing is not None:
            if now - self._closing >= self.close_timeout:
                self._end(Outcome.STOPPED, None, "stopped (the server did not answer the close)")
        elif self._ping_sent is not None and now - self._ping_sent >= self.ping_timeout:
            self._end(Outcome.NETWORK, None,
                      f"no message or pong within {self.ping_timeout:g}s of a ping")
        elif self.clock.needs_refresh and now - self._refreshed >= REFRESH:
            self._ping(now, refresh=True)
            self._refreshed = now
        elif self._ping_sent is None and now - self._heard >= self.ping_interval:
            self._ping(now, refresh=False)

    def _ping(self, now: float, *, refresh: bool) -> None:
        self._send_text(model.ping())
        self._pings.append(refresh)
        if self._ping_sent is None:
            self._ping_sent = now

    def lag(self, now: float, wall_ns: int) -> timedelta | None:
        """How far the newest event received (any channel) is behind the server's clock, in
        event time, at monotonic ``now`` (``wall_ns``: the wall clock, for a server that states
        no clock); None before any event. Never negative. Safe from any thread."""
        return self.clock.lag(self.resume.newest_ns(), now, wall_ns)

    # --- receiving: the hot path -------------------------------------------------------

    def receive_data(self, data: bytes, now: float) -> list[Event]:
        """Feed bytes read from the connection; return what they completed, in order."""
        self._heard, self._ping_sent = now, None
        parser, events = self._parser, list[Event]()
        parser.feed(data)
        take, text, add = parser.next, self._text, events.append
        try:
            while self.ending is None:
                frame = take()
                if frame is None:
                    break
                opcode, payload = frame
                if opcode == TEXT:
                    if payload.startswith(JSON_BATCH) and self.batching is not None:
                        json_batch(payload, text, events)
                        continue
                    event = text(payload)
                    if event is not None:
                        add(event)
                else:
                    self._frame(opcode, payload, events)
        except ProtocolError as exc:
            self._fail(exc)
        return events

    def _text(self, data: bytes) -> Event | None:
        """A text message: a delivery, a reply, a reject, or None for a duplicate or the pong
        of our own clock refresh."""
        channel = None
        try:
            obj = decode(data)
            kind = obj.get("type")
            channel = _CHANNEL_NAMES.get(kind) if type(kind) is str else None
            if channel is None:
                return self._other(obj, kind, data)
            row = flatten(obj, data)[1]
        except InvalidMessage as exc:
            return Rejected(data, exc.reason, channel or OTHER)
        except Exception as exc:  # a bug of ours must not end the stream: keep the message
            log.exception("cannot handle a message")
            return Rejected(data, f"internal error: {exc!r}", OTHER)
        if not self.resume.accept(channel, row[0], row[1]):
            return None
        return channel, row, data, obj

    def _other(self, obj: dict[str, Any], kind: Any, data: bytes) -> Event | None:
        """Control messages, replies, and types this version does not know. The pong of a
        clock refresh is the session's own: neither recorded nor given to listeners, so that
        recordings and listeners see what they saw before clocks existed."""
        if type(kind) is str and kind not in _KNOWN:
            self.ignored += 1  # forward compatibility: a newer server's addition
            return Reply(kind, obj, data, known=False)
        # pongs answer pings in order (docs/protocol.md section 7.4)
        refresh = kind == MessageType.PONG and bool(self._pings) and self._pings.popleft()
        try:
            model.parse(obj)
        except InvalidMessage as exc:
            return Rejected(data, exc.reason, OTHER)
        self._control(kind, obj)
        return None if refresh else Reply(kind, obj, data)

    def _control(self, kind: str, obj: dict[str, Any]) -> None:
        if kind in _CLOCKED:  # validated by parse(); none stated: the wall clock
            self.clock.state(model.parse_clock(obj.get("clock")), self._heard,
                             self.resume.newest_ns())
        if self._awaiting_batch and kind != MessageType.PING:  # the first reply answers it
            self._awaiting_batch = False
            if kind == MessageType.BATCHING:
                self.batching = model.parse_batching(obj)
                self.batch_note = describe(self.batching)
            elif kind == MessageType.ERROR:
                self.batch_note = f"refused by the server: {obj['data']['message']}"
        if kind == MessageType.PING:
            self._send_text(model.pong())
        elif kind == MessageType.ERROR:
            code, message = obj["data"]["code"], obj["data"]["message"]
            self.last_error = f"server error {code}: {message}"
            if code == ErrorCode.HISTORY_TRUNCATED:
                named = tuple(c for c in self.channels if message.startswith(c.value))
                self.resume.truncated(named or self.channels)
        elif kind == MessageType.SUBSCRIBED:
            channel, seq = obj.get("channel"), obj.get("seq")
            if channel in self._live_from and type(seq) is int:
                self._live_from.discard(channel)
                self.resume.subscribed(channel, seq)

    def _frame(self, opcode: int, payload: bytes, events: list[Event]) -> None:
        if opcode == BINARY and self.batching is not None and (
                self.batching.format is BatchFormat.ARROW):
            arrow_batch(payload, self.resume, events)
        elif opcode == BINARY:
            reason = f"binary frame of {len(payload)} bytes (the API sends text)"
            events.append(Rejected(payload, reason, OTHER, record=False))
        elif opcode == CLOSE:
            self._closed(payload)
        elif opcode == PING:
            self._send(model.PONG, payload)  # RFC 6455 section 5.5.2
        # a PONG answers nothing we sent (we ping with API messages): nothing to do

    def _closed(self, payload: bytes) -> None:
        """The server's close frame: answer it (section 5.5.1), echoing its code when it may be
        sent (section 7.4.1), and end the connection."""
        code, reason = parse_close(payload)
        if self._closing is not None:
            self._end(Outcome.STOPPED, code, "stopped")
            return
        sendable = 1000 <= code < 5000 and code not in UNSENDABLE
        self._send(CLOSE, close_payload(code if sendable else CloseCode.NORMAL))
        text = f"server closed the connection: {code}" + (f" {reason}" if reason else "")
        self._end(Outcome.CLOSED, code, text)

    def _fail(self, error: ProtocolError) -> None:
        """Section 7.1.7: fail the connection, telling the server why (1002 broken framing,
        1009 too big, 1007 not UTF-8)."""
        code = error.close_code
        self._send(CLOSE, close_payload(code, str(error)))
        self._end(Outcome.NETWORK, None, f"connection lost: {error} (closed with {code})")

    def _end(self, outcome: Outcome, code: int | None, message: str) -> None:
        if self.ending is None:
            self.ending = Failure(Ending(outcome, code), message)

    # --- sending -----------------------------------------------------------------------

    @property
    def _sending(self) -> bool:
        """Whether the connection takes new frames: open, not closing, not failed."""
        return self._open and self._closing is None and self.ending is None

    def _send_text(self, text: str) -> None:
        self._send(TEXT, text.encode())

    def _send(self, opcode: int, payload: bytes) -> None:
        self._out.append(build_frame(opcode, payload, mask=True, mask_key=self._mask_key))
