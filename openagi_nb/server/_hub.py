"""The hub: one replay clock publishing into one ring that every subscriber reads.

Each message is published into a ring of ``max(history, queue) + CHUNK`` messages
(``--history`` is the least that resume can reach back) and framed once, whatever the number of
clients (:func:`._replay.frames`), when the first client that takes one message per frame needs
it. Clients that take batches (``docs/protocol.md`` section 14) read the same messages cut into
batches by the :class:`~._batches.BatchLog`, each batch encoded once per format (:meth:`Hub.encode`,
from the capture's columns for ``"arrow"``). The publisher runs on the event loop:

- at a finite ``speed`` it publishes what is due and closes (1013, ``slow_consumer``) any client
  more than ``queue`` messages behind, which can come back and resume;
- at ``--speed max`` it publishes as fast as the slowest subscriber reads, never more than
  ``queue`` messages ahead of it (no drops), and holds while nobody is subscribed;
- with ``wait_for`` it holds the clock until that many clients have subscribed;
- it closes batches that have waited their delay, and at ``--speed max`` cuts the open ones at
  once when they are all the slowest client waits for.

What a slow client costs in bytes (its transport's buffer and unread replies) is bounded by its
subscriber (``queue_bytes``); the hub counts only messages, which cost no memory per client.

No server library is imported: clients are reached through :class:`~._subscriber.Sink`, and a
subscriber knows the hub only as its :class:`~._subscriber.Publisher`.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any, Final

from ..model import (
    BINARY,
    CHANNELS,
    BatchFormat,
    Clock,
    Compression,
    arrow_batch,
    build_frame,
    json_batch,
)
from ..model import text_frame as _text_frame
from ._batches import Batch, BatchLog
from ._clock import ReplayClock
from ._columnar import batch_table
from ._options import ServeOptions
from ._replay import Replay, SecondsFormatter, frames
from ._ring import Ring
from ._subscriber import Sink, Subscriber

__all__ = ["CHUNK", "Hub"]

CHUNK: Final = 1024
"""Most messages published in one go before clients get to write (bounds latency and the
overshoot of the queue bound between two lag checks)."""
WAIT_FOR_GRACE: Final = 0.25
"""Seconds between the last awaited client's first subscribe and the first event."""


class Hub:
    """The publisher and the registry of subscribers. Call :meth:`run` as a task."""

    def __init__(self, replay: Replay, options: ServeOptions) -> None:
        self.replay, self.options = replay, options
        self._fmt = SecondsFormatter()
        self.ring = Ring(max(options.history, options.queue) + CHUNK, self._frames)
        self.batches = BatchLog(options.batch_max_events, options.batch_max_delay) if (
            options.batch) else None
        self.clock = ReplayClock(
            replay.times, replay.period, speed=options.speed, rate=options.rate,
            loop=options.loop,
        )
        self.subscribers: set[Subscriber] = set()
        self.subscribed_clients = 0
        self.slow_consumers = 0
        self._max = math.isinf(options.speed)
        self._wake = asyncio.Event()
        self._blocked = False
        self._peak = 0
        """The most bytes held for one client, over the clients gone."""

    # --- clients --------------------------------------------------------------------------

    def attach(self, sink: Sink, label: str) -> Subscriber:
        """Register a new connection; the caller runs ``subscriber.run()`` as its writer."""
        sub = Subscriber(self.ring, sink, label, self, self.options.queue_bytes,
                         batches=self.batches, encode=self.encode)
        self.subscribers.add(sub)
        return sub

    def detach(self, sub: Subscriber) -> None:
        """Forget a connection that is gone (the clock may then run faster)."""
        sub.close()
        self.subscribers.discard(sub)
        if self.batches is not None:
            self.batches.release(sub)
        self._peak = max(self._peak, sub.peak)
        self._wake.set()

    def on_subscribe(self, first: bool) -> None:
        """A client subscribed (``first``: for the first time): the clock may start or run."""
        if first:
            self.subscribed_clients += 1
        self._wake.set()

    def on_progress(self) -> None:
        """A client wrote a batch: wake the publisher if it waits for the slowest."""
        if self._blocked:
            self._wake.set()

    def on_slow_consumer(self) -> None:
        """A client is being closed with 1013: count it."""
        self.slow_consumers += 1

    def clock_now(self) -> Clock | None:
        """The replay clock as the server states it now (acks, pongs, status; ``docs/protocol.md``
        section 5.6). Call it on the event loop, whose monotonic clock the replay runs on."""
        wall = int(time.time()) if self.options.retime else None
        return self.clock.reading(asyncio.get_running_loop().time(), wall)

    # --- the publisher --------------------------------------------------------------------

    async def run(self) -> None:
        """Publish the capture on the replay clock until it ends (never, with ``loop``)."""
        loop = asyncio.get_running_loop()
        while self.subscribed_clients < self.options.wait_for:
            await self._sleep(None)
        if self.options.wait_for:
            # clients of the published API subscribe to each channel in a message of its own:
            # let the last client's other subscribes arrive before the first event goes out
            await asyncio.sleep(WAIT_FOR_GRACE)
        self.clock.start(loop.time(), int(time.time()) if self.options.retime else None)
        while not self.clock.finished:
            self._cut(loop.time())
            room = self._room()
            if room <= 0 and self.batches is not None and self._held_by_open_batches():
                self.batches.flush()
                self._wake_all()
                continue
            if room <= 0:
                self._blocked = True
                await self._sleep(None)
                self._blocked = False
                continue
            now = loop.time()
            due = self.clock.due()
            if due > now:
                await self._sleep(due - now)
                continue
            self._publish(now, room)
            if not self._max:
                self._close_slow()
            self._wake_all()
            await asyncio.sleep(0)
        if self.batches is not None:
            self.batches.flush()
            self._wake_all()

    def _held_by_open_batches(self) -> bool:
        """Whether the clock (at max speed, ``queue`` ahead) waits only for batches still open:
        every subscriber was given all that is closed. They are then cut at once (a batch may
        always go sooner than ``max_delay``), not after the delay."""
        return self.batches is not None and self.batches.deadline() is not None and all(
            s.idle for s in self.subscribers if s.subscribed and not s.closed)

    def _wake_all(self) -> None:
        for sub in self.subscribers:
            sub.wake.set()

    def _cut(self, now: float) -> None:
        """Close the batches that have waited long enough and wake the clients."""
        if self.batches is not None and self.batches.cut_due(now):
            self._wake_all()

    def _room(self) -> int:
        """How many messages may be published now."""
        if not self._max:
            return CHUNK
        positions = [s.position for s in self.subscribers if s.subscribed and not s.closed]
        if not positions:
            return 0  # at max speed the clock runs for subscribers only
        return min(CHUNK, self.options.queue - (self.ring.head - min(positions)))

    def _publish(self, now: float, limit: int) -> None:
        """Encode, frame and store what is due, in batches of one loop pass each."""
        clock, ring, replay = self.clock, self.ring, self.replay
        while limit > 0:
            index, offset = clock.index, clock.offset()
            count = clock.take(now, limit)
            if not count:
                return
            kinds = replay.channels[index:index + count]
            if self.batches is not None:
                self.batches.add(ring.head + 1, index, kinds, offset, now)
            ring.describe(kinds, index, offset)  # framed when a client first needs them
            limit -= count
        if self.batches is not None:
            self.batches.forget(ring.oldest)

    def _frames(self, index: int, count: int, seq: int, offset: int) -> list[bytes]:
        return frames(self.replay, index, count, seq, offset, self._fmt)

    def encode(self, batch: Batch, fmt: BatchFormat, compression: Compression) -> bytes:
        """A batch as a frame in ``fmt`` (built once per batch and format: see ``Batch``)."""
        replay, fmt_s = self.replay, self._fmt
        if fmt is BatchFormat.JSON:
            payloads = [replay.payload(i, s, o, fmt_s) for i, s, o in zip(
                batch.indices.tolist(), batch.seqs.tolist(), batch.offsets.tolist(), strict=True)]
            return _text_frame(json_batch(
                CHANNELS[batch.channel], payloads, batch.first, batch.last))
        table = batch_table(replay.columns, batch.channel, batch.indices, batch.seqs,
                            batch.offsets, lambda i, s, o: replay.payload(i, s, o, fmt_s))
        return build_frame(BINARY, arrow_batch(table, compression))

    def _close_slow(self) -> None:
        head, bound = self.ring.head, self.options.queue
        for sub in list(self.subscribers):
            if not sub.closed and sub.subscribed and head - sub.live_position > bound:
                sub.slow(f"more than {bound} messages behind; reconnect and resume with since")

    async def _sleep(self, delay: float | None) -> None:
        """Wait for a subscriber event, at most ``delay`` seconds (None: no limit) and no
        later than the next batch must close."""
        if self.batches is not None and (deadline := self.batches.deadline()) is not None:
            wait = max(deadline - asyncio.get_running_loop().time(), 0.0)
            delay = wait if delay is None else min(delay, wait)
        self._wake.clear()
        timer = None if delay is None else asyncio.get_running_loop().call_later(
            delay, self._wake.set)
        try:
            await self._wake.wait()
        finally:
            if timer is not None:
                timer.cancel()

    # --- status ---------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """The replay part of ``GET /api/v1/status``."""
        clock, options, stated = self.clock, self.options, self.clock_now()
        return {
            "clients": len(self.subscribers),
            "subscribers": sum(1 for s in self.subscribers if s.subscribed),
            "batched": sum(1 for s in self.subscribers if s.batched is not None),
            "messages_published": self.ring.head,
            "slow_consumers_closed": self.slow_consumers,
            "capture": {
                "path": self.replay.path, "messages": len(self.replay),
                "rejected": self.replay.rejected,
            },
            "replay": {
                "position": len(self.replay) if clock.finished else clock.index,
                "loop": clock.round if not clock.finished else 0, "seq": self.ring.head,
                "started": clock.started, "finished": clock.started and clock.finished,
                "waiting_for": max(0, options.wait_for - self.subscribed_clients),
                "clock": None if stated is None else stated.json(),
            },
            "speed": "max" if self._max else options.speed,
            "rate": options.rate,
            "history": options.history,
            "queue": options.queue,
            "queue_bytes": options.queue_bytes,
            "queued_bytes": max((s.held for s in self.subscribers), default=0),
            "queued_bytes_peak": max([self._peak, *(s.peak for s in self.subscribers)]),
            "features": self.features(),
        }

    def features(self) -> dict[str, Any]:
        """What the server offers beyond the published API (``docs/protocol.md`` section 14)."""
        if self.batches is None:
            return {}
        batches = self.batches
        return {"batch": {
            "formats": [f.value for f in BatchFormat],
            "compression": [c.value for c in Compression],
            "max_events": batches.limit_events, "max_delay_ms": batches.limit_delay * 1000,
        }}

