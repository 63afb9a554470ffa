"""EventStream: the live Open-A.G.I WebSocket API as bounded, typed pandas frames.

::

    stream = EventStream("ws://127.0.0.1:8080/api/v1/ws", token=token,
                         channels=["monitoring_events"], window="15min")
    stream.start()                       # a background daemon thread does all the I/O
    stream.wait_for(1000, timeout=10)
    df = stream.frame("monitoring_events")

One thread per stream (``_loop``) moves bytes between the socket (``_transport``) and the
sans-I/O protocol session (``_session``), which validates every message, drops duplicates,
answers pings and tracks what to resume from (``_resume``); the thread appends the rows to one
:class:`~._live_frame.LiveFrame` per channel, records raw messages, and calls listeners. When
the connection ends it reconnects as ``_reconnect.decide`` and ``_reconnect.backoff`` say, asks
``token_provider`` for a fresh token when the server refuses one, and subscribes again with
``since`` so no event is lost or duplicated (``docs/protocol.md`` section 11). Nothing the server
sends can kill that thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import pandas as pd

from ..exceptions import StreamError, StreamTimeout
from ..model import CHANNELS, MAX_MESSAGE, BatchFormat, BatchSettings, Channel, Compression
from ._listeners import Listener
from ._live_frame import LiveFrame, Window
from ._loop import StreamLoop
from ._resume import Gap
from ._rotation import Rotate, parse_rotate
from ._stats import State, StreamStats
from ._token import token_fetcher
from ._transport import split_token, tls_context
from ._urls import websocket_url

__all__ = ["ALL", "EventStream", "Gap", "State", "StreamStats"]

ALL: Final[tuple[Channel, ...]] = CHANNELS
"""Every channel: the default subscription."""
CLOSE_GRACE: Final = 0.6
"""Seconds stop() lets the server answer our close frame before it cuts the connection."""
BATCH_EVENTS: Final = 4096
"""Events per batch asked: large enough to make the per-batch cost vanish (a 4,096-row Arrow
batch costs about 0.1 µs per event to read), small enough to keep each frame under 1 MB."""
BATCH_DELAY_MS: Final = 50.0
"""The longest an event may wait in the server for its batch: well under a refresh."""



class EventStream:
    """A live subscription to an Open-A.G.I WebSocket API, kept as one frame per channel.

    Args:
        url: the server: its root as ``openagi-nb serve`` prints it (``http://host:port``),
            its WebSocket root (``ws://host:port``) or the API's URL (``ws://host:port/api/v1/ws``;
            ``https``/``wss`` alike); a ``?token=`` in it works as ``token``.

            Raises ValueError for anything else, saying what it could not understand.
        token: the JWT to connect with (``fetch_token``). It never appears in a repr, log or
            error.
        node_id: who you are to the server: with it, the stream asks the server's token
            endpoint for a token for this node (``fetch_token``) when it has none, and for a
            fresh one whenever the server refuses it (expired): ``EventStream(url,
            node_id="analyst")`` is all a replay server needs. ``token`` and ``token_provider``
            win when given.
        token_provider: called for a token when there is none and whenever the server refuses
            one (HTTP 401, close 4001), e.g. a function that asks your identity provider.
            With none of ``token``, ``node_id`` or a provider, the stream connects without a
            token; a server that wants one refuses (state failed, :meth:`wait_for` raises
            AuthenticationFailed saying so). Without a provider or ``node_id`` a refused token
            ends the stream the same way.
        channels: the channels to subscribe to (default: all four).
        window: rows (``1_000_000``) or a time span (``"15min"``) each channel's frame keeps.
        record_to: also write every message as received to this capture (``.jsonl[.gz]``),
            or to pieces ``<start time>.jsonl.gz`` in this directory (with ``rotate``, or a
            path ending in ``/``). Flushed every second: a crash loses at most the last one.
        rotate: start the next piece of ``record_to`` when this one is this old (``"1h"``,
            a ``timedelta``, seconds) or this large (``"100MB"``).
        ping_interval: seconds without a message before a ``ping`` is sent.
        ping_timeout: seconds after that ping with still no message before reconnecting.
        connect_timeout: seconds for the TCP connect and the handshakes (TLS, WebSocket).
        max_message: the most bytes one message may have, its fragments together (default
            64 MiB); a server that sends more is disconnected (close 1009, ``last_error``
            says so) and the stream reconnects.
        sslopt: TLS options for ``wss://``, websocket-client's keys: ``{"ca_certs": path}``,
            ``cert_reqs``, ``check_hostname``, ``certfile``/``keyfile``, or ``{"context":
            an ssl.SSLContext}``.
        batch: take batched frames when the server offers them (``docs/protocol.md``
            section 14): True (``"arrow"`` batches, columns straight into the frames, about
            5x the events per second of one message per frame; ``"json"`` batches when
            recording, so the capture holds the server's own message text), ``"arrow"``,
            ``"json"``, or False: one message per frame. ``stats.batching`` says what the
            server granted.
        compression: of ``"arrow"`` batches: ``"lz4"`` (default: a fifth of the bytes of
            plain JSON for little CPU), ``"zstd"`` (smaller, for slow links), or None.
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        token_provider: Callable[[], str] | None = None,
        node_id: str | None = None,
        channels: Iterable[str] = ALL,
        window: Window = 1_000_000,
        record_to: str | Path | None = None,
        rotate: Rotate | None = None,
        ping_interval: float = 20.0,
        ping_timeout: float = 10.0,
        connect_timeout: float = 10.0,
        max_message: int = MAX_MESSAGE,
        sslopt: dict[str, Any] | None = None,
        batch: bool | str = True,
        compression: str | None = "lz4",
    ) -> None:
        asked = _batch(batch, compression, recording=record_to is not None)
        base, in_url = split_token(websocket_url(url))
        self.url = base
        """The URL without its token."""
        if token_provider is None and node_id is not None:
            context = tls_context(sslopt) if sslopt and base.startswith("wss") else None
            token_provider = token_fetcher(base, node_id, context)
        chosen = _channels(channels)
        self._frames = {c: LiveFrame(c, window) for c in CHANNELS}
        self._loop = StreamLoop(
            base, token or in_url, token_provider, chosen, self._frames, record_to,
            ping=(ping_interval, ping_timeout), connect_timeout=connect_timeout, sslopt=sslopt,
            max_message=max_message, rotate=parse_rotate(rotate), batch=asked,
        )
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> EventStream:
        """Start the background thread (connect, subscribe, receive); return at once.

        Raises:
            StreamError: already started.
            CaptureError: ``record_to`` cannot be opened.
        """
        if self._thread is not None:
            raise StreamError(f"stream to {self.url} already started")
        self._loop.recording.open()
        self._thread = threading.Thread(target=self._loop.run, name="openagi-nb-stream",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 1.0) -> None:
        """Close the connection, stop the thread, flush and close the recording; idempotent.
        The frames stay readable.

        Returns within ``timeout`` seconds whatever the stream is doing: connecting, in the
        TLS or WebSocket handshake, open, backing off, closing. The server gets
        :data:`CLOSE_GRACE` to answer our close; then the connection is cut. ``stats.state``
        says ``stopped`` once the thread has ended (``stopping`` until then: only a name lookup
        in progress, which the system resolver does not let us interrupt, can outlast
        ``timeout``).

        Raises:
            CaptureError: the recording failed (disk full, permission) while the stream ran;
                raised once. The stream had gone on without it (``stats.last_error``).
        """
        self._loop.request_stop()
        thread = self._thread
        if thread is not None and thread.is_alive():
            thread.join(min(CLOSE_GRACE, timeout / 2))
            if thread.is_alive():  # no closing handshake in time: cut the socket
                self._loop.abort()
                thread.join(max(timeout - CLOSE_GRACE, 0.0))
        if thread is None or not thread.is_alive():
            self._loop.finish()
        recording = self._loop.recording
        error, recording.error = recording.error, None
        if error is not None:
            raise error

    def __enter__(self) -> EventStream:
        return self.start() if self._thread is None else self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def wait_for(self, n: int, timeout: float | None = None, *,
                 channel: str | None = None) -> int:
        """Block until ``n`` events have arrived since :meth:`start` (on ``channel``, or on all
        channels); return how many have.

        Raises:
            StreamTimeout: (a ``TimeoutError``) ``timeout`` seconds passed first (the message
                says what the stream was doing and its last error).
            AuthenticationFailed: the server refused the token and no provider could help.
            ConnectionFailed: the stream gave up (a URL or HTTP status it cannot use).
            StreamError: the stream was stopped, or never started.
        """
        if self._thread is None:
            raise StreamError(f"stream to {self.url} not started: call start() first")
        target = None if channel is None else Channel(channel)
        count = self._loop.wait(n, timeout, target)
        if count >= n:
            return count
        stats = self.stats
        detail = f"; last error: {stats.last_error}" if stats.last_error else ""
        raise StreamTimeout(
            f"{count} of {n} events after {timeout}s from {self.url} ({stats.state}{detail})"
        )

    # --- subscriptions and listeners ---------------------------------------------------

    @property
    def channels(self) -> tuple[Channel, ...]:
        """The channels subscribed to (or to be, once connected)."""
        return self._loop.channels

    def subscribe(self, channel: str) -> None:
        """Add ``channel`` to the subscription (now if connected, else on connect)."""
        self._loop.subscribe(_channels([channel])[0])

    def unsubscribe(self, channel: str) -> None:
        """Stop receiving ``channel``; what its frame holds stays."""
        self._loop.unsubscribe(_channels([channel])[0])

    def on(self, type_or_event: str, callback: Listener) -> None:
        """Call ``callback(message)`` for every message of a type (``"security_event"``,
        ``"pong"``, ``"error"``...) or a data event (``"intrusion_detected"``), as the example
        clients of the published API do; ``"connected"`` and ``"disconnected"`` get
        ``{"type": ..., "url": ...}``.

        Callbacks run on the stream's thread: keep them short. An exception in one is logged
        and counted (``stats.callback_errors``), never fatal. A stream that takes ``"arrow"``
        batches has no message text: listeners of data messages get the messages the rows
        stand for (:func:`openagi_nb.model.messages_of`, about 3 µs an event, paid only while
        a listener is registered).
        """
        self._loop.listeners.add(type_or_event, callback)

    # --- data ----------------------------------------------------------------------------

    def frame(self, channel: str) -> pd.DataFrame:
        """A snapshot of ``channel``'s window: the declared schema, as ``Capture.frame`` gives."""
        return self.live_frame(channel).snapshot()

    @property
    def frames(self) -> dict[Channel, pd.DataFrame]:
        """Snapshots of every channel, like ``Capture.frames``."""
        return {c: f.snapshot() for c, f in self._frames.items()}

    def live_frame(self, channel: str) -> LiveFrame:
        """The live buffer of ``channel`` (for views that poll ``version`` / ``since``)."""
        return self._frames[_channels([channel])[0]]

    @property
    def stats(self) -> StreamStats:
        """A snapshot of the counters: state, received, rejected, events/s, lag, reconnects..."""
        return self._loop.stats()

    @property
    def rejects(self) -> pd.DataFrame:
        """Messages that failed validation: ``received_at``, ``raw`` (1 KB at most),
        ``reason`` (the newest 10,000)."""
        return self._loop.rejects_frame()

    @property
    def gaps(self) -> list[Gap]:
        """Outages that may have lost events (channel, start, end): empty when every reconnect
        resumed by ``seq``; ``end`` is None while no event has come since."""
        return self._loop.gap_list()

    def __repr__(self) -> str:
        stats = self.stats
        return (f"<EventStream {self.url} {stats.state}: {stats.total:,} events, "
                f"{stats.reconnects} reconnects, channels={[c.value for c in self.channels]}>")


def _channels(channels: Iterable[str]) -> tuple[Channel, ...]:
    if isinstance(channels, str):
        channels = [channels]
    return tuple(dict.fromkeys(Channel(name) for name in channels))



def _batch(batch: bool | str, compression: str | None, recording: bool) -> BatchSettings | None:
    """What to ask for (see ``EventStream``'s ``batch`` and ``compression``).

    Raises:
        ValueError: an unknown format or compression.
    """
    if batch is False:
        return None
    if batch is True:
        fmt = BatchFormat.JSON if recording else BatchFormat.ARROW
    else:
        try:
            fmt = BatchFormat(batch)
        except ValueError:
            raise ValueError(f"batch must be True, False, 'arrow' or 'json', got {batch!r}"
                             ) from None
    try:
        codec = Compression(compression or "none")
    except ValueError:
        names = ", ".join(repr(c.value) for c in Compression if c is not Compression.NONE)
        raise ValueError(f"compression must be {names} or None, got {compression!r}") from None
    if fmt is BatchFormat.JSON:
        codec = Compression.NONE
    return BatchSettings(fmt, codec, BATCH_EVENTS, BATCH_DELAY_MS)
