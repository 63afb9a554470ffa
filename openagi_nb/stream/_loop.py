"""The stream's thread: connect, subscribe, receive, reconnect; and the message hot path.

:class:`StreamLoop` holds everything :class:`~.client.EventStream` delegates to. ``run`` is the
thread's body; every other public method is safe to call from other threads.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, Final

import pandas as pd

from .. import model
from ..capture import CaptureWriter
from ..exceptions import (
    AuthenticationFailed,
    ConnectionFailed,
    InvalidMessage,
    StreamError,
)
from ..model import CHANNEL_OF_TYPE, Channel, ErrorCode, MessageType
from ._connection import Connection, Failure, open_connection, scrub
from ._live_frame import LiveFrame
from ._reconnect import Action, Ending, Outcome, backoff, decide, is_auth_refusal
from ._resume import Gap, Resume
from ._stats import OTHER, Counters, Rejects, State, StreamStats

__all__ = ["StreamLoop"]

log = logging.getLogger("openagi_nb.client")

Listener = Callable[[dict[str, Any]], object]
NEVER: Final = 1 << 62
_KNOWN: Final = frozenset(MessageType)
_STOPPED: Final = Failure(Ending(Outcome.STOPPED), "stopped")


class _Lane:
    """What the hot path needs of one channel, found with one lookup of the message's type (a
    plain ``str`` key: hashing a ``Channel`` member costs a Python call)."""

    __slots__ = ("append", "name")

    def __init__(self, name: str, append: Callable[[tuple[Any, ...]], None]) -> None:
        self.name = name
        self.append = append


class StreamLoop:
    """The state and thread body of one :class:`~.client.EventStream`."""

    def __init__(
        self, url: str, token: str | None, token_provider: Callable[[], str] | None,
        channels: tuple[Channel, ...], frames: dict[Channel, LiveFrame],
        record_to: str | Path | None, *, ping: tuple[float, float], connect_timeout: float,
        sslopt: dict[str, Any] | None,
    ) -> None:
        self.url = url
        self._token = token
        self._provider = token_provider
        self._channels = channels
        self._frames = frames
        self._lanes = {k: _Lane(c.value, frames[c].append) for k, c in CHANNEL_OF_TYPE.items()}
        self._record_to = record_to
        self._writer: CaptureWriter | None = None
        self._ping_interval, self._ping_timeout = ping
        self._connect_timeout, self._sslopt = connect_timeout, sslopt
        self.listeners: dict[str, list[Listener]] = {}
        self.counters = Counters()
        self._rejects = Rejects()
        self._resume = Resume()
        self._live_from: set[str] = set()  # channels subscribed without since, not yet acked
        self._state = State.NEW
        self._last_error: str | None = None
        self._error: StreamError | None = None
        self._lock = threading.Lock()  # channels and the current connection
        self._cond = threading.Condition()
        self._wake_at = NEVER
        self._stopping = threading.Event()
        self._conn: Connection | None = None
        self._auth_refusals = 0
        self._opened = 0  # connections opened
        self._frames_in = 0  # every frame, control ones too: liveness for the ping
        self._seen, self._quiet_since, self._ping_sent = 0, time.monotonic(), 0.0

    # --- the thread ----------------------------------------------------------------------

    def run(self) -> None:
        """The thread's body: sessions until stopped or given up."""
        try:
            self._run()
        except Exception as exc:  # a bug of ours: say so where the user looks, do not vanish
            log.exception("%s: the stream's thread failed", self.url)
            self._error = StreamError(f"internal error in the stream to {self.url}: {exc!r}")
            self._last_error = str(self._error)
            self._set_state(State.FAILED)

    def _run(self) -> None:
        self._set_state(State.CONNECTING)
        delays = backoff()
        while not self._stopping.is_set():
            before = self.counters.total
            failure = self._session()
            if self._stopping.is_set():
                break
            self._last_error = failure.message
            if self.counters.total > before:  # it worked for a while: start the delays over
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
                self._stopping.wait(next(delays))

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

    def _session(self) -> Failure:
        """Open one connection, subscribe, read until it ends; return how it ended."""
        if self._token is None and self._provider is not None:
            try:
                self._token = self._provider()
            except Exception as exc:  # any failure of user code is a reason to retry
                return Failure(Ending(Outcome.NETWORK), f"token_provider failed: {exc}")
        conn = open_connection(self.url, self._token, timeout=self._connect_timeout,
                               sslopt=self._sslopt)
        if isinstance(conn, Failure):
            return conn
        try:
            self._connected(conn)
            failure = conn.run(self._on_text, self._on_binary, self._on_tick)
        finally:
            with self._lock:
                self._conn = None
            conn.shutdown()
        self._resume.disconnected(self.channels)
        self._emit({"type": "disconnected", "url": self.url, "reason": failure.message})
        return failure

    def _connected(self, conn: Connection) -> None:
        self._auth_refusals = 0
        self._opened += 1
        if self._opened > 1:
            self.counters.reconnects += 1
        with self._lock:
            self._conn = conn
            channels = self._channels
        asked = {c: self._resume.since(c) for c in channels}
        self._live_from = {c.value for c, since in asked.items() if since is None}
        conn.send_all([model.subscribe(c, since) for c, since in asked.items()])
        self._seen, self._quiet_since, self._ping_sent = -1, time.monotonic(), 0.0
        self._set_state(State.LIVE)
        if self._stopping.is_set():
            conn.close()
        self._emit({"type": "connected", "url": self.url})

    # --- the hot path --------------------------------------------------------------------

    def _on_text(self, data: bytes) -> None:
        self._frames_in += 1
        lane = None
        try:
            obj = model.decode(data)
            kind = obj.get("type")
            lane = self._lanes.get(kind) if type(kind) is str else None
            if lane is None:
                self._on_other(obj, kind, data)
                return
            row = model.flatten(obj, data)[1]
            if not self._resume.accept(lane.name, row[0], row[1]):
                return
            lane.append(row)
        except InvalidMessage as exc:
            self._reject(data, exc.reason, lane.name if lane else OTHER)
            return
        except Exception as exc:  # a bug of ours must not end the stream: keep the message
            log.exception("%s: cannot handle a message", self.url)
            self._reject(data, f"internal error: {exc!r}", OTHER)
            return
        if self._writer is not None:
            self._record(data)
        if self.listeners:
            self._dispatch(obj, obj["type"], obj["event"])
        counters = self.counters  # counted last: wait_for(n) returns once n are fully handled
        counters.received[lane.name] += 1
        counters.total += 1
        if counters.total >= self._wake_at:
            self._notify()

    def _on_other(self, obj: dict[str, Any], kind: Any, data: bytes) -> None:
        """Control messages, replies, and types this version does not know."""
        if type(kind) is str and kind not in _KNOWN:
            self.counters.ignored += 1  # forward compatibility: a newer server's addition
        else:
            try:
                model.parse(obj)
            except InvalidMessage as exc:
                self._reject(data, exc.reason, OTHER)
                return
            self._control(obj)
        if self._writer is not None:
            self._record(data)
        if self.listeners and type(kind) is str:
            self._dispatch(obj, kind, None)

    def _control(self, obj: dict[str, Any]) -> None:
        kind = obj["type"]
        if kind == MessageType.PING:
            conn = self._conn
            if conn is not None:
                conn.send(model.pong())
        elif kind == MessageType.ERROR:
            code, message = obj["data"]["code"], obj["data"]["message"]
            self._last_error = f"server error {code}: {message}"
            log.info("%s: %s", self.url, self._last_error)
            if code == ErrorCode.HISTORY_TRUNCATED:
                named = tuple(c for c in self.channels if message.startswith(c.value))
                self._resume.truncated(named or self.channels)
        elif kind == MessageType.SUBSCRIBED:
            channel, seq = obj.get("channel"), obj.get("seq")
            if channel in self._live_from and type(seq) is int:
                self._live_from.discard(channel)
                self._resume.subscribed(channel, seq)

    def _on_binary(self, data: bytes) -> None:
        self._frames_in += 1
        reason = f"binary frame of {len(data)} bytes (the API sends text)"
        self._reject(data, reason, OTHER, record=False)

    def _reject(self, data: bytes, reason: str, channel: str, *, record: bool = True) -> None:
        self._rejects.add(data, reason)
        rejected = self.counters.rejected
        rejected[channel] = rejected.get(channel, 0) + 1
        if record and self._writer is not None:
            self._record(data)

    def _record(self, data: bytes) -> None:
        writer = self._writer
        if writer is None:
            return
        try:
            writer.write(data)
        except OSError as exc:  # CaptureError too: the disk, not the stream, has a problem
            self._last_error = f"recording stopped: {exc}"
            self._writer = None
        except ValueError:  # junk spanning lines that is not JSON: it is in rejects already
            pass

    def _dispatch(self, obj: dict[str, Any], kind: str, event: str | None) -> None:
        for key in (kind, event):
            for callback in self.listeners.get(key, ()) if key else ():
                try:
                    callback(obj)
                except Exception:
                    errors = self.counters.callback_errors = self.counters.callback_errors + 1
                    if errors <= 5 or errors % 1000 == 0:  # a failing listener must not flood
                        log.exception("listener %r for %r failed (%d so far)", callback, key,
                                      errors)

    def _emit(self, event: dict[str, Any]) -> None:
        if self.listeners:
            self._dispatch(event, event["type"], None)

    def _on_tick(self) -> Failure | None:
        """Every :data:`~.client_conn.TICK` when idle, every 1024 frames when busy."""
        if self._stopping.is_set():
            return _STOPPED
        now = time.monotonic()
        self.counters.sample(now)
        if self._writer is not None:
            self._writer.flush_if_due()
        if self._frames_in != self._seen:
            self._seen, self._quiet_since, self._ping_sent = self._frames_in, now, 0.0
        elif not self._ping_sent:
            if now - self._quiet_since >= self._ping_interval and self._conn is not None:
                self._conn.send(model.ping())
                self._ping_sent = now
        elif now - self._ping_sent >= self._ping_timeout:
            return Failure(Ending(Outcome.NETWORK),
                           f"no message or pong within {self._ping_timeout:g}s of a ping")
        return None

    # --- from other threads --------------------------------------------------------------

    @property
    def channels(self) -> tuple[Channel, ...]:
        return self._channels

    def subscribe(self, channel: Channel) -> None:
        with self._lock:
            if channel in self._channels:
                return
            self._channels = (*self._channels, channel)
            conn = self._conn
        if conn is not None:
            conn.send(model.subscribe(channel))

    def unsubscribe(self, channel: Channel) -> None:
        with self._lock:
            self._channels = tuple(c for c in self._channels if c != channel)
            conn = self._conn
        if conn is not None:
            conn.send(model.unsubscribe(channel))

    def open_recording(self) -> None:
        if self._record_to is not None:
            self._writer = CaptureWriter(self._record_to)

    def request_stop(self) -> None:
        self._stopping.set()
        with self._lock:
            conn = self._conn
        if conn is not None:
            conn.close()

    def abort(self) -> None:
        with self._lock:
            conn = self._conn
        if conn is not None:
            conn.abort()

    def finish(self) -> None:
        """After the thread ended: close the recording, settle the state, wake waiters."""
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
        if self._state is not State.FAILED:
            self._set_state(State.STOPPED)

    def wait(self, n: int, timeout: float | None, channel: Channel | None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                count = self._count(channel)
                if count >= n:
                    return count
                if self._error is not None:
                    raise self._error
                if self._state is State.STOPPED:
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
        self._state = state
        self._notify()

    def stats(self) -> StreamStats:
        c = self.counters
        return StreamStats(
            state=self._state, received=dict(c.received), rejected=dict(c.rejected),
            events_per_second=c.rate(time.monotonic()), lag=self._resume.lag(time.time_ns()),
            reconnects=c.reconnects, gaps=len(self.gap_list()),
            duplicates=self._resume.duplicates, ignored=c.ignored,
            callback_errors=c.callback_errors,
            last_error=scrub(self._last_error, self._token) if self._last_error else None,
            recording=str(self._writer.path) if self._writer is not None else None,
        )

    def rejects_frame(self) -> pd.DataFrame:
        return self._rejects.frame()

    def gap_list(self) -> list[Gap]:
        return [*self._resume.gaps, *self._resume.pending()]

