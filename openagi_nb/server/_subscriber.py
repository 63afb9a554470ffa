"""One connected client as the hub sees it: its subscriptions, its cursor in the shared ring, and
the pump task that writes what it is owed, many frames per write.

A subscriber never copies a message: it remembers the last ``seq`` it was given (``cursor``) and,
per channel, after which ``seq`` it wants that channel (``starts``). Its pump slices the shared
ring from the cursor, keeps the frames of its channels, and writes them in one
``transport.write``; it then waits for the transport to drain before taking more, so a slow
client holds back only itself (and, at ``--speed max``, the clock).

Memory per client is bounded in bytes (``limit``, ``--queue-bytes``): what the transport has
not yet handed to the kernel plus the replies not yet written (:attr:`Subscriber.held`). The pump
fills at most three quarters of ``limit`` with data (at least one message per write, so a
message larger than the room left still goes, alone), and once the transport holds more than a
sixteenth of ``limit`` it waits for it to drain (for the default 1 MiB, asyncio's own marks: 64
and 16 KiB); the last quarter is for replies. Replies that take a client
past ``limit`` (it sends but does not read) close the connection 1013, ``slow_consumer``, at any
speed. A client that does not read thus costs ``limit`` bytes here, while the messages it falls
behind stay in the shared ring, counted by the hub against ``--queue``.

Order on the wire, per client: control replies queued before a batch go out before it; after a
``subscribe`` with ``since``, the retained messages are resent before anything live; after
``unsubscribed``, no message of that channel follows.
"""

from __future__ import annotations

import asyncio
import sys
from bisect import bisect_right
from itertools import accumulate
from typing import Final, Protocol

from .. import model
from ..model import CHANNELS, BatchSettings, Channel, CloseCode, ErrorCode, text_frame
from ._batched import BatchCursor
from ._batches import BatchLog, Encode
from ._replay import CHANNEL_INDEX
from ._ring import Ring

__all__ = ["NEVER", "Publisher", "Sink", "Subscriber"]

NEVER: Final = sys.maxsize
"""A ``starts`` value: the channel is not subscribed."""
BATCH: Final = 2048
"""Messages looked at per write: large enough to amortise the write, small enough to be fair."""
DATA_SHARE: Final = 0.75
"""The part of a subscriber's ``limit`` the pump may fill with data; the rest is for replies."""
HIGH_WATER: Final = 1 / 16
"""The part of ``limit`` buffered in the transport above which the pump waits for it to drain:
low enough to keep a fast client's buffer small, far enough below ``DATA_SHARE`` that a write
after the wait has room for a whole batch."""


class Sink(Protocol):
    """Where a subscriber's bytes go: the connection's transport, seen by the hub."""

    def write(self, data: bytes) -> None:
        """Queue bytes (whole frames) on the connection; raise ConnectionError if it is gone."""

    def buffered(self) -> int:
        """Bytes written and not yet handed to the kernel (0 once the connection is gone)."""

    def pause_above(self, high: int) -> None:
        """Make :meth:`drain` wait once more than ``high`` bytes are buffered (until a quarter
        of that is left)."""

    async def drain(self) -> None:
        """Return when the connection can take more (see :meth:`pause_above`)."""

    def close(self, code: int, reason: str) -> None:
        """Start the closing handshake with ``code`` (does not wait)."""


class Publisher(Protocol):
    """What a subscriber tells the publisher of the ring it reads (the hub)."""

    def on_subscribe(self, first: bool) -> None:
        """The client subscribed (``first``: for the first time)."""

    def on_progress(self) -> None:
        """The client's pump wrote a batch: the ring may have room for more."""

    def on_slow_consumer(self) -> None:
        """The client is being closed with 1013 (``slow_consumer``)."""

    def clock_now(self) -> model.Clock | None:
        """The server's clock now, stated in acks and pongs (None: it states none)."""


class Subscriber:
    """A client's subscriptions and delivery state, reading ``ring``.

    The hub makes one per connection (:meth:`~._hub.Hub.attach`) and tells it of new frames with
    ``wake``; the connection runs :meth:`run` as its writer task and stops it with :meth:`close`
    (or :meth:`kick`, which says why first).
    """

    def __init__(
        self, ring: Ring, sink: Sink, label: str, publisher: Publisher, limit: int, *,
        batches: BatchLog | None = None, encode: Encode | None = None,
    ) -> None:
        self.ring, self.sink, self.label, self.limit = ring, sink, label, limit
        self._batches, self._encode = batches, encode
        self.batched: BatchCursor | None = None
        """Where a client that asked for batches is in them (None: one message per frame)."""
        self._fill = int(limit * DATA_SHARE)
        sink.pause_above(int(limit * HIGH_WATER))
        self._publisher = publisher
        self.starts = [NEVER] * len(CHANNELS)
        self.cursor = ring.head
        self.sent = 0
        self._closed = False
        self.ever_subscribed = False
        self.wake = asyncio.Event()
        self._outbox: list[bytes] = []
        self._outbox_bytes = 0
        self.peak = 0
        """The most bytes :attr:`held` for this client, measured after every write and reply."""
        self._resending = False
        self._resend_at = 0
        self._resend = [NEVER] * len(CHANNELS)

    # --- what the connection asks ---------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether the subscriber has stopped writing (closed, kicked, or its connection gone)."""
        return self._closed

    @property
    def subscribed(self) -> bool:
        """Whether the client is subscribed to any channel."""
        return any(s != NEVER for s in self.starts)

    @property
    def channels(self) -> list[str]:
        """The channels the client is subscribed to."""
        return [c.value for c, s in zip(CHANNELS, self.starts, strict=True) if s != NEVER]

    @property
    def held(self) -> int:
        """Bytes the server holds for this client: its transport's buffer and the replies not yet
        written (the kernel's socket buffers are not counted)."""
        return self.sink.buffered() + self._outbox_bytes

    @property
    def position(self) -> int:
        """The oldest ``seq`` this client still needs from the ring (for pacing)."""
        if self.batched is not None:
            return self.batched.position(self.ring.head)
        return min(self._resend_at, self.cursor) if self._resending else self.cursor

    @property
    def live_position(self) -> int:
        """How far live delivery has come (a resend aside): how far behind the client is."""
        return self.cursor if self.batched is None else self.position

    def batch(self, asked: BatchSettings) -> None:
        """Send batches from now on (``docs/protocol.md`` section 14.2): answered ``batching``
        with what is granted, or an error if batches are not offered or asked too late."""
        if self._batches is None or self._encode is None:
            self.reply(model.error(ErrorCode.UNKNOWN_TYPE, "this server does not send "
                                   "batches (started with --no-batch)"))
        elif self.ever_subscribed or self.batched is not None:
            self.reply(model.error(ErrorCode.BAD_FIELD, "field 'batch': send it before the "
                                   "first subscribe"))
        else:
            granted = self._batches.grant(self, asked)
            self.batched = BatchCursor(self._batches, granted, self._encode)
            self.reply(model.batching(granted))

    def reply(self, text: str) -> None:
        """Queue a control reply (ack, pong, error) ahead of the next batch of data; close the
        client (1013) if that takes it past ``limit`` bytes: its replies pile up unread (data
        leaves them a quarter of ``limit``)."""
        frame = text_frame(text.encode())
        self._outbox.append(frame)
        self._outbox_bytes += len(frame)
        self.wake.set()
        if self._measure() > self.limit:
            self.slow(f"more than {self.limit} bytes queued and not read; reconnect and "
                      "resume with since")

    def subscribe(self, channel: Channel, since: int | None) -> None:
        """Subscribe to ``channel``: live from now, or with ``since`` first the retained
        messages of the channel with a greater ``seq``."""
        ring, c = self.ring, CHANNEL_INDEX[channel]
        if not self.subscribed and not self._resending:
            self.cursor = ring.head  # nothing owed from before the first subscription
        self.reply(model.subscribed(channel, ring.head, self._publisher.clock_now()))
        if since is None:
            if self.starts[c] == NEVER:
                self.starts[c] = ring.head
        else:
            self._resume(channel, min(since, ring.head))
        if self.batched is not None:
            if since is not None:  # the retained events only, as unbatched (a closed batch
                # may still hold evicted ones)
                self.batched.want(c, max(min(since, ring.head), ring.oldest))
            elif self.batched.after[c] == NEVER:
                self.batched.want(c, ring.head)
        first, self.ever_subscribed = not self.ever_subscribed, True
        self._publisher.on_subscribe(first)

    def unsubscribe(self, channel: Channel) -> None:
        """Stop sending ``channel``; acknowledged before anything else is written."""
        c = CHANNEL_INDEX[channel]
        self.starts[c] = NEVER
        self._resend[c] = NEVER
        if self.batched is not None:
            self.batched.drop(c)
        self.reply(model.unsubscribed(channel))

    def _resume(self, channel: Channel, since: int) -> None:
        ring, c = self.ring, CHANNEL_INDEX[channel]
        if ring.evicted[c] > since:
            self.reply(model.error(
                ErrorCode.HISTORY_TRUNCATED,
                f"{channel.value} messages after seq {since} up to seq {ring.evicted[c]} are "
                f"no longer retained; resending from seq {ring.oldest + 1}",
            ))
        self.starts[c] = min(self.starts[c], since)
        since = max(since, ring.oldest)
        if since < self.cursor and self.batched is None:
            self._add_resend(c, since)

    def _add_resend(self, c: int, since: int) -> None:
        """Resend channel ``c`` after ``since`` up to the cursor, merged into one walk with the
        resends already asked so that each channel stays in ``seq`` order with no duplicate."""
        if not self._resending:
            self._resending, self._resend_at = True, since
            self._resend = [NEVER] * len(CHANNELS)
        elif since < self._resend_at:
            # Walk back: what the other channels were already given up to here is not resent.
            walked = self._resend_at
            self._resend = [t if t == NEVER else max(t, walked) for t in self._resend]
            self._resend_at = since
        self._resend[c] = min(self._resend[c], since)
        self.wake.set()

    def close(self, code: int | None = None, reason: str = "") -> None:
        """Stop writing; with ``code``, also start the connection's closing handshake.

        Call it without a code when the connection is already gone (the hub's ``detach``).
        """
        self._closed = True
        self.wake.set()
        if code is not None:
            self.sink.close(code, reason)

    def kick(self, close_code: int, error_code: str, message: str) -> None:
        """Tell the client why in an ``error`` and close the connection with ``close_code``."""
        if self._closed:
            return
        self._closed = True
        self.wake.set()
        # The replies already owed go first: every refused input still gets its error.
        pending, self._outbox, self._outbox_bytes = self._outbox, [], 0
        pending.append(text_frame(model.error(error_code, message).encode()))
        try:
            self.sink.write(b"".join(pending))
        except ConnectionError:
            return
        self._measure()
        self.sink.close(close_code, message)

    def slow(self, message: str) -> None:
        """Close the client as a slow consumer: ``slow_consumer``, then 1013."""
        if not self._closed:
            self._publisher.on_slow_consumer()
            self.kick(CloseCode.TRY_AGAIN_LATER, ErrorCode.SLOW_CONSUMER, message)

    def _measure(self) -> int:
        held = self.held
        if held > self.peak:
            self.peak = held
        return held

    # --- the pump -------------------------------------------------------------------------

    async def run(self) -> None:
        """Write what the client is owed until it is closed (the connection's writer task)."""
        sink = self.sink
        try:
            while not self._closed:
                if not self._write(self._fill - sink.buffered()) and self._idle():
                    self.wake.clear()
                    await self.wake.wait()
                    continue
                # Waits while the transport holds more than HIGH_WATER of the limit
                # (pause_above): the next write has room for DATA_SHARE - HIGH_WATER of it.
                await sink.drain()
                await asyncio.sleep(0)  # let the other pumps and the publisher run
        except ConnectionError:
            self._closed = True

    def _write(self, room: int) -> bool:
        """Write the replies owed and at most ``room`` bytes less theirs of data; say whether
        anything was written. (A function of its own so that what it joined is freed before the
        pump waits: 50 waiting pumps would otherwise hold a batch each.)"""
        out = self._collect(room)
        if not out:
            return False
        self.sink.write(b"".join(out))
        self._measure()
        self._publisher.on_progress()
        return True

    @property
    def idle(self) -> bool:
        """Whether nothing is owed to the client now (replies, messages, closed batches)."""
        return self._idle()

    def _idle(self) -> bool:
        if self.batched is not None:
            return not self._outbox and self.batched.idle()
        return not self._outbox and not self._resending and (
            not self.subscribed or self.cursor >= self.ring.head
        )

    def _collect(self, room: int) -> list[bytes]:
        """The replies owed, then at most ``room`` bytes less theirs of data (at least one
        message when there is room at all)."""
        out, self._outbox = self._outbox, []
        room -= self._outbox_bytes
        self._outbox_bytes = 0
        if self.batched is not None:
            self.sent += self.batched.collect(room, out)
            self.cursor = self.ring.head
        elif self._resending:
            self._collect_resend(out, room)
        elif self.subscribed:
            self._collect_live(out, room)
        else:
            self.cursor = self.ring.head
        return out

    def _collect_live(self, out: list[bytes], room: int) -> None:
        ring, cursor = self.ring, self.cursor
        if cursor < ring.oldest:  # cannot happen while the hub enforces the queue bound
            self.slow("fell behind the retained history")
            return
        end = min(ring.head, cursor + BATCH)
        if end > cursor and room > 0:
            frames, chans = ring.window(cursor, end)
            self.cursor = self._take(frames, chans, cursor, self.starts, room, out)

    def _collect_resend(self, out: list[bytes], room: int) -> None:
        ring, at = self.ring, self._resend_at
        if at < ring.oldest:  # the ring moved on while we were resending
            out.append(text_frame(model.error(
                ErrorCode.HISTORY_TRUNCATED,
                f"messages after seq {at} up to seq {ring.oldest} are no longer retained",
            ).encode()))
            room -= len(out[-1])
            at = self._resend_at = ring.oldest
        end = min(self.cursor, at + BATCH)
        if end <= at:
            self._resending = False
            return
        if room > 0:
            frames, chans = ring.window(at, end)
            self._resend_at = self._take(frames, chans, at, self._resend, room, out)
            if self._resend_at >= self.cursor:
                self._resending = False

    def _take(
        self, frames: list[bytes], chans: bytearray, after: int, wanted: list[int], room: int,
        out: list[bytes],
    ) -> int:
        """Append to ``out``, as one piece, the ``frames`` (``seq`` after ``after``) of the
        channels ``c`` whose ``seq`` is above ``wanted[c]``, at most ``room`` bytes of them (at
        least one); return the ``seq`` up to which the window was taken."""
        end = after + len(frames)
        if max(wanted) <= after:  # every channel, all wanted before this window
            kept = frames
        else:
            kept = [f for s, f, c in zip(range(after + 1, end + 1), frames, chans, strict=True)
                    if s > wanted[c]]
        piece = b"".join(kept)  # the one copy: _write() joins it alone without copying
        if len(piece) > room:
            n = _fit(kept, room)
            end = after + n if kept is frames else [
                s for s, c in zip(range(after + 1, end + 1), chans, strict=True)
                if s > wanted[c]][n - 1]
            kept = kept[:n]
            piece = b"".join(kept)
        if kept:
            out.append(piece)
            self.sent += len(kept)
        return end


def _fit(frames: list[bytes], room: int) -> int:
    """How many of ``frames``, from the first, fit in ``room`` bytes; at least one."""
    return max(1, bisect_right(list(accumulate(map(len, frames))), room))
