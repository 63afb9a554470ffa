"""One connected client as the hub sees it: its subscriptions, its cursor in the shared ring, and
the pump task that writes what it is owed, many frames per write.

A subscriber never copies a message: it remembers the last ``seq`` it was given (``cursor``) and,
per channel, after which ``seq`` it wants that channel (``starts``). Its pump slices the shared
ring from the cursor, keeps the frames of its channels, and writes them in one
``transport.write``; it then waits for the transport to drain before taking more, so a slow
client holds back only itself (and, at ``--speed max``, the clock).

Order on the wire, per client: control replies queued before a batch go out before it; after a
``subscribe`` with ``since``, the retained messages are resent before anything live; after
``unsubscribed``, no message of that channel follows.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Final, Protocol

from .. import model
from ..model import CHANNELS, Channel, ErrorCode, text_frame
from ._replay import CHANNEL_INDEX
from ._ring import Ring

__all__ = ["NEVER", "Publisher", "Sink", "Subscriber"]

NEVER: Final = sys.maxsize
"""A ``starts`` value: the channel is not subscribed."""
BATCH: Final = 2048
"""Messages looked at per write: large enough to amortise the write, small enough to be fair."""


class Sink(Protocol):
    """Where a subscriber's bytes go: the connection's transport, seen by the hub."""

    def write(self, data: bytes) -> None:
        """Queue bytes (whole frames) on the connection; raise ConnectionError if it is gone."""

    async def drain(self) -> None:
        """Return when the connection can take more."""

    def close(self, code: int, reason: str) -> None:
        """Start the closing handshake with ``code`` (does not wait)."""


class Publisher(Protocol):
    """What a subscriber tells the publisher of the ring it reads (the hub)."""

    def on_subscribe(self, first: bool) -> None:
        """The client subscribed (``first``: for the first time)."""

    def on_progress(self) -> None:
        """The client's pump wrote a batch: the ring may have room for more."""


class Subscriber:
    """A client's subscriptions and delivery state, reading ``ring``.

    The hub makes one per connection (:meth:`~._hub.Hub.attach`) and tells it of new frames with
    ``wake``; the connection runs :meth:`run` as its writer task and stops it with :meth:`close`
    (or :meth:`kick`, which says why first).
    """

    def __init__(self, ring: Ring, sink: Sink, label: str, publisher: Publisher) -> None:
        self.ring, self.sink, self.label = ring, sink, label
        self._publisher = publisher
        self.starts = [NEVER] * len(CHANNELS)
        self.cursor = ring.head
        self.sent = 0
        self._closed = False
        self.ever_subscribed = False
        self.wake = asyncio.Event()
        self._outbox: list[bytes] = []
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
    def position(self) -> int:
        """The oldest ``seq`` this client still needs from the ring (for pacing)."""
        return min(self._resend_at, self.cursor) if self._resending else self.cursor

    def reply(self, text: str) -> None:
        """Queue a control reply (ack, pong, error) ahead of the next batch of data."""
        self._outbox.append(text_frame(text.encode()))
        self.wake.set()

    def subscribe(self, channel: Channel, since: int | None) -> None:
        """Subscribe to ``channel``: live from now, or with ``since`` first the retained
        messages of the channel with a greater ``seq``."""
        ring, c = self.ring, CHANNEL_INDEX[channel]
        if not self.subscribed and not self._resending:
            self.cursor = ring.head  # nothing owed from before the first subscription
        self.reply(model.subscribed(channel, ring.head))
        if since is None:
            if self.starts[c] == NEVER:
                self.starts[c] = ring.head
        else:
            self._resume(channel, min(since, ring.head))
        first, self.ever_subscribed = not self.ever_subscribed, True
        self._publisher.on_subscribe(first)

    def unsubscribe(self, channel: Channel) -> None:
        """Stop sending ``channel``; acknowledged before anything else is written."""
        c = CHANNEL_INDEX[channel]
        self.starts[c] = NEVER
        self._resend[c] = NEVER
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
        if since < self.cursor:
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
        pending, self._outbox = self._outbox, []
        pending.append(text_frame(model.error(error_code, message).encode()))
        try:
            self.sink.write(b"".join(pending))
        except ConnectionError:
            return
        self.sink.close(close_code, message)

    # --- the pump -------------------------------------------------------------------------

    async def run(self) -> None:
        """Write what the client is owed until it is closed (the connection's writer task)."""
        try:
            while not self._closed:
                out = self._collect()
                if out:
                    self.sink.write(b"".join(out))
                    self._publisher.on_progress()
                    await self.sink.drain()
                    await asyncio.sleep(0)  # let the other pumps and the publisher run
                elif self._idle():
                    self.wake.clear()
                    await self.wake.wait()
        except ConnectionError:
            self._closed = True

    def _idle(self) -> bool:
        return not self._outbox and not self._resending and (
            not self.subscribed or self.cursor >= self.ring.head
        )

    def _collect(self) -> list[bytes]:
        out, self._outbox = self._outbox, []
        if self._resending:
            self._collect_resend(out)
        elif self.subscribed:
            self._collect_live(out)
        else:
            self.cursor = self.ring.head
        return out

    def _collect_live(self, out: list[bytes]) -> None:
        ring, cursor = self.ring, self.cursor
        if cursor < ring.oldest:  # cannot happen while the hub enforces the queue bound
            self.kick(1013, ErrorCode.SLOW_CONSUMER, "fell behind the retained history")
            return
        end = min(ring.head, cursor + BATCH)
        if end == cursor:
            return
        frames, chans = ring.window(cursor, end)
        starts = self.starts
        if max(starts) <= cursor:  # every channel, all subscribed before this window
            out += frames
            self.sent += len(frames)
        else:
            kept = [f for s, f, c in zip(range(cursor + 1, end + 1), frames, chans, strict=True)
                    if s > starts[c]]
            out += kept
            self.sent += len(kept)
        self.cursor = end

    def _collect_resend(self, out: list[bytes]) -> None:
        ring, at = self.ring, self._resend_at
        if at < ring.oldest:  # the ring moved on while we were resending
            out.append(text_frame(model.error(
                ErrorCode.HISTORY_TRUNCATED,
                f"messages after seq {at} up to seq {ring.oldest} are no longer retained",
            ).encode()))
            at = ring.oldest
        end = min(self.cursor, at + BATCH)
        if end <= at:
            self._resending = False
            return
        frames, chans = ring.window(at, end)
        wanted = self._resend
        kept = [f for s, f, c in zip(range(at + 1, end + 1), frames, chans, strict=True)
                if s > wanted[c]]
        out += kept
        self.sent += len(kept)
        self._resend_at = end
        if end >= self.cursor:
            self._resending = False
