"""The stream's thread: connections until stopped, and the delivery of what they bring.

:class:`StreamLoop` holds everything :class:`~._stream.EventStream` delegates to. ``run`` is the
thread's body: it opens connections (:class:`~._transport.Dial`), moves bytes between the socket
and the sans-I/O :class:`~._session.ClientSession`, and delivers the session's events to the
live frames, the recording, the listeners and the counters. When a connection ends it does what
the reconnect policy (:mod:`._reconnect`) says. Every other public method is safe to call from
other threads.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, Final

import orjson
import pandas as pd

from ..exceptions import AuthenticationFailed, ConnectionFailed, StreamError
from ..model import MAX_MESSAGE, BatchSettings, Channel, messages_of
from ._events import Columns
from ._features import features, fetch, offer
from ._listeners import Listeners
from ._live_frame import LiveFrame
from ._reconnect import Action, Ending, Failure, Outcome, backoff, decide, is_auth_refusal
from ._recording import Recording
from ._resume import Gap
from ._session import ClientSession, Event, Rejected, Reply
from ._stats import Counters, Rejects, State, StreamStats
from ._transport import Dial, Transport, scrub

__all__ = ["StreamLoop"]

log = logging.getLogger("openagi_nb.client")

NEVER: Final = 1 << 62
_RUNNING: Final = frozenset({State.CONNECTING, State.LIVE, State.RECONNECTING})
CLOSE_LINGER: Final = 0.5
"""Seconds to wait for the server to close the TCP connection after the closing handshake."""
HEALTHY: Final = 30.0
"""Seconds a connection must stay open before the reconnect delays start over. Resetting on any
success (as gRPC does once a connection is ready) lets a server that accepts and then drops
every connection get a reconnect every 0.1 s from every client; resetting after a healthy
period, as Kubernetes' client-go backoff managers do, gives it the same growing delays as a
server that refuses outright."""


class StreamLoop:
    """The state and thread body of one :class:`~._stream.EventStream`."""

    def __init__(
        self, url: str, token: str | None, token_provider: Callable[[], str] | None,
        channels: tuple[Channel, ...], frames: dict[Channel, LiveFrame],
        record_to: str | Path | None, *, ping: tuple[float, float], connect_timeout: float,
        sslopt: dict[str, Any] | None, max_message: int = MAX_MESSAGE,
        rotate: tuple[float | None, int | None] = (None, None),
        batch: BatchSettings | None = None,
    ) -> None:
        self.url = url
        self._token = token
        self._provider = token_provider
        self._appends = {c.value: f.append for c, f in frames.items()}
        self._columns = {c.value: f.extend_arrow for c, f in frames.items()}
        self.recording = Recording(record_to, rotate, url)
        self._connect_timeout, self._sslopt = connect_timeout, sslopt
        self.listeners = Listeners()
        self.counters = Counters()
        self._rejects = Rejects()
        self._session = ClientSession(channels, ping_interval=ping[0], ping_timeout=ping[1],
                                      max_message=max_message, batch=batch)
        self._state = State.NEW
        self._last_error: str | None = None
        self._error: StreamError | None = None
        self._lock = threading.Lock()  # the session and the current transport
        self._cond = threading.Condition()
        self._wake_at = NEVER
        self._stopping = threading.Event()
        self._transport: Transport | None = None
        self._dial: Dial | None = None
        self.delay: float | None = None
        """The backoff delay being waited (seconds), None while connected."""
        self._auth_refusals = 0
        self._opened = 0  # connections opened

    # --- the thread ----------------------------------------------------------------------

    def run(self) -> None:
        """The thread's body: connections until stopped or given up."""
        try:
            self._run()
        except Exception as exc:  # a bug of ours: say so where the user looks, do not vanish
            log.exception("%s: the stream's thread failed", self.url)
            self._error = StreamError(f"internal error in the stream to {self.url}: {exc!r}")
            self._last_error = str(self._error)
            self._set_state(State.FAILED)
        finally:
            if self._stopping.is_set():
                self.finish()

    def _run(self) -> None:
        self._set_state(State.CONNECTING)
        delays = backoff()
        while not self._stopping.is_set():
            failure, lasted = self._connection()
            if self._stopping.is_set():
                break
            self._last_error = failure.message
            if lasted >= HEALTHY:  # it worked for a while: start the delays over
                delays = backoff()
            action = self._decide(failure)
            if action is Action.FAIL:
                self._fail(failure)
                return
            if action is Action.STOP:
                break
            if action is Action.REFRESH_TOKEN:
                self._token = None
            self._set_state(State.RECONNECTING)
            if not (action is Action.REFRESH_TOKEN and self._auth_refusals == 1):
                self.delay = next(delays)
                self._stopping.wait(self.delay)

    def _decide(self, failure: Failure) -> Action:
        ending = failure.ending
        if is_auth_refusal(ending):
            self._auth_refusals += 1
            ending = replace(ending, auth_refusals=self._auth_refusals)
        return decide(ending, can_refresh=self._provider is not None)

    def _fail(self, failure: Failure) -> None:
        kind = AuthenticationFailed if is_auth_refusal(failure.ending) else ConnectionFailed
        self._error = kind(f"{failure.message} ({self.url})")
        self._set_state(State.FAILED)

    def _connection(self) -> tuple[Failure, float]:
        """Open one connection, subscribe, read until it ends; return how it ended and how
        long it was open (seconds; 0 when it never opened)."""
        if self._token is None and self._provider is not None:
            try:
                self._token = self._provider()
            except Exception as exc:  # any failure of user code is a reason to retry
                return Failure(Ending(Outcome.NETWORK), f"cannot get a token: {exc}"), 0.0
        dial = Dial(self.url, self._token, timeout=self._connect_timeout, sslopt=self._sslopt)
        with self._lock:
            self._dial = dial
        if self._stopping.is_set():
            dial.cancel()
        wanted, ask = self._session.batch, None
        if wanted is not None:
            try:
                ask = offer(features(fetch(self.url, dial.open)), wanted)
            finally:
                dial.release()
        transport = dial.run()
        with self._lock:
            self._dial = None
        if isinstance(transport, Failure):
            return transport, 0.0
        opened = time.monotonic()
        with self._lock:
            self._transport = transport
            self._session.connection_made(opened, ask)
        try:
            self._connected()
            failure = self._read(transport)
        finally:
            with self._lock:
                self._transport = None
                self._session.connection_lost()
            transport.close()
        self._emit({"type": "disconnected", "url": self.url, "reason": failure.message})
        return failure, time.monotonic() - opened

    def _connected(self) -> None:
        self._auth_refusals = 0
        self.delay = None
        self._opened += 1
        if self._opened > 1:
            self.counters.reconnects += 1
        self._set_state(State.LIVE)
        self._emit({"type": "connected", "url": self.url})

    def _read(self, transport: Transport) -> Failure:
        """Move bytes between the socket and the session until the session ends."""
        session, broken = self._session, None
        while True:
            try:
                if broken is None:
                    self._flush(transport)
                data = transport.recv()
            except OSError as exc:
                if broken is not None:
                    return broken
                reason = str(exc) or type(exc).__name__
                # what the server sent before it broke is still to be read: deliver it first
                broken = Failure(Ending(Outcome.NETWORK),
                                 scrub(f"connection lost: {reason}", self._token))
                continue
            if broken is not None and not data:
                return broken
            now = time.monotonic()
            with self._lock:
                events: list[Event] = []
                if data:
                    events = session.receive_data(data, now)
                elif data is not None:
                    session.receive_eof()
                if self._stopping.is_set():
                    session.close(now)
                session.tick(now)
                ending = session.ending
            if events:
                self._deliver(events)
            self._housekeeping(now)
            if ending is not None:
                with contextlib.suppress(OSError):  # the close echo, if the peer still reads
                    self._flush(transport)
                transport.linger(CLOSE_LINGER)
                return ending

    def _flush(self, transport: Transport) -> None:
        with self._lock:
            out = self._session.data_to_send()
        if out:
            transport.send(out)

    def _housekeeping(self, now: float) -> None:
        self.counters.sample(now)
        if not self.recording.flush_if_due():
            self._last_error = self.recording.last_error

    # --- delivery: the hot path ----------------------------------------------------------

    def _deliver(self, events: list[Event]) -> None:
        """Hand each event to the frames, the recording and the listeners, in order."""
        appends, recording, listeners = self._appends, self.recording, self.listeners
        counters = self.counters
        received, delivered = counters.received, 0
        for event in events:
            if type(event) is tuple:
                channel, row, raw, obj = event
                appends[channel](row)
                if recording.active:
                    self._record(raw, channel)
                if listeners:
                    listeners.dispatch(obj, obj["type"], obj["event"])
                received[channel] += 1
                delivered += 1
            elif type(event) is Columns:
                delivered += self._deliver_columns(event)
            elif type(event) is Reply:
                self._reply(event)
            elif type(event) is Rejected:
                self._reject(event)
        counters.total += delivered  # counted last: wait_for(n) returns once n are handled
        if counters.total >= self._wake_at:
            self._notify()

    def _deliver_columns(self, event: Columns) -> int:
        """An ``"arrow"`` batch's accepted rows: one append; messages made for the recording
        (which asks for ``"json"`` batches, so only if a server sent arrow anyway) and the
        listeners only when there are some."""
        channel, table = event.channel, event.table
        self._columns[channel](table)
        if self.recording.active or self.listeners:
            for obj in messages_of(channel, table):
                if self.recording.active:
                    self._record(orjson.dumps(obj), channel)
                if self.listeners:
                    self.listeners.dispatch(obj, obj["type"], obj["event"])
        self.counters.received[channel] += table.num_rows
        return int(table.num_rows)

    def _reply(self, reply: Reply) -> None:
        if reply.kind == "error":
            self._last_error = self._session.last_error
            log.info("%s: %s", self.url, self._last_error)
        if self.recording.active:
            self._record(reply.raw)
        if self.listeners:
            self.listeners.dispatch(reply.message, reply.kind)

    def _reject(self, rejected: Rejected) -> None:
        self._rejects.add(rejected.raw, rejected.reason)
        counts = self.counters.rejected
        counts[rejected.channel] = counts.get(rejected.channel, 0) + 1
        if rejected.record and self.recording.active:
            self._record(rejected.raw)

    def _record(self, data: bytes, channel: str | None = None) -> None:
        if not self.recording.write(data, channel):  # disk full, permission: the recording ends
            self._last_error = self.recording.last_error

    def _emit(self, event: dict[str, Any]) -> None:
        self.listeners.dispatch(event, event["type"])

    # --- from other threads --------------------------------------------------------------

    @property
    def channels(self) -> tuple[Channel, ...]:
        return self._session.channels

    def subscribe(self, channel: Channel) -> None:
        """Subscribe now if connected (sent by the stream's thread within a tick)."""
        with self._lock:
            self._session.subscribe(channel)

    def unsubscribe(self, channel: Channel) -> None:
        with self._lock:
            self._session.unsubscribe(channel)


    def request_stop(self) -> None:
        """Ask the thread to stop: it closes the connection at its next tick, ends an attempt
        to connect at once, and cuts a backoff short."""
        self._stopping.set()
        if self._state not in (State.NEW, State.FAILED, State.STOPPED):
            self._set_state(State.STOPPING)
        with self._lock:
            dial = self._dial
        if dial is not None:
            dial.cancel()

    def abort(self) -> None:
        """Cut the connection now (the server did not answer our close in time)."""
        with self._lock:
            transport, dial = self._transport, self._dial
        if transport is not None:
            transport.abort()
        if dial is not None:
            dial.cancel()

    def finish(self) -> None:
        """Once no thread runs (its last step, or stop() after it): close the recording, say
        ``stopped``; idempotent."""
        if not self.recording.close():
            self._last_error = self.recording.last_error
        if self._state is not State.FAILED:
            self._state = State.STOPPED
            self._notify()

    def wait(self, n: int, timeout: float | None, channel: Channel | None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                count = self._count(channel)
                if count >= n:
                    return count
                if self._error is not None:
                    raise self._error
                if self._state in (State.STOPPING, State.STOPPED):
                    raise StreamError(f"stream to {self.url} stopped after {count} of {n} events")
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return count
                self._wake_at = min(self._wake_at, self.counters.total + n - count)
                self._cond.wait(0.5 if left is None else min(left, 0.5))

    def _count(self, channel: Channel | None) -> int:
        return self.counters.total if channel is None else self.counters.received[channel]

    def _notify(self) -> None:
        with self._cond:
            self._wake_at = NEVER
            self._cond.notify_all()

    def _set_state(self, state: State) -> None:
        if self._stopping.is_set() and state in _RUNNING:
            state = State.STOPPING  # the thread's own steps do not undo a stop
        self._state = state
        self._notify()

    def stats(self) -> StreamStats:
        c, session = self.counters, self._session
        last_error = self._last_error
        return StreamStats(
            state=self._state, received=dict(c.received), rejected=dict(c.rejected),
            events_per_second=c.rate(time.monotonic()),
            lag=session.lag(time.monotonic(), time.time_ns()), reconnects=c.reconnects,
            gaps=len(self.gap_list()), duplicates=session.resume.duplicates,
            ignored=session.ignored, callback_errors=self.listeners.errors, backoff=self.delay,
            last_error=scrub(last_error, self._token) if last_error else None,
            recording=self.recording.path, batching=session.batch_note,
        )

    def rejects_frame(self) -> pd.DataFrame:
        return self._rejects.frame()

    def gap_list(self) -> list[Gap]:
        resume = self._session.resume
        return [*resume.gaps, *resume.pending()]
