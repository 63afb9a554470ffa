"""What the replay server is told: :class:`ServeOptions`, validated once, and how to read them
from a command line (``openagi-nb serve``) so the CLI stays a one-liner.

No server library is imported here.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Final

from .. import sizes
from ..exceptions import CaptureError, ServerConfigError

__all__ = ["MAX", "ServeOptions", "add_arguments", "from_arguments", "parse_size", "parse_speed"]

MAX: Final = math.inf
"""``--speed max``: as fast as the slowest subscriber reads."""
MIN_QUEUE_BYTES: Final = 4096
"""The least ``queue_bytes``: less would leave the pump room for a message or two per write."""


@dataclass(frozen=True)
class ServeOptions:
    """Everything ``openagi-nb serve`` can be told; see ``docs`` of each field.

    ``secret`` is kept out of the repr so an options object can be logged.
    """

    capture: str
    host: str = "127.0.0.1"
    port: int = 8080
    speed: float = 1.0
    """Capture time / wall time; :data:`MAX` to go as fast as the slowest subscriber."""
    rate: float | None = None
    """At most this many messages per second (on top of ``speed``)."""
    loop: bool = False
    retime: bool = True
    wait_for: int = 0
    """Hold the clock until this many clients have subscribed."""
    history: int = 100_000
    """Messages kept for ``subscribe`` with ``since`` (resume)."""
    token_ttl: float = 3600.0
    secret: str | None = field(default=None, repr=False)
    certfile: str | None = None
    keyfile: str | None = None
    max_clients: int = 1000
    queue: int = 50_000
    """Messages a client may lag behind the clock before it is closed (finite speed) or the
    clock waits for it (``--speed max``). They cost no memory per client: the ring is shared."""
    queue_bytes: int = 1 << 20
    """Bytes the server holds for one client at most (its transport's buffer and the replies
    not yet written, give or take one message); replies unread past it close it with 1013.
    At least :data:`MIN_QUEUE_BYTES`; keep it well above ``max_frame``, which replies may quote."""
    max_frame: int = 64 * 1024
    """Inbound text frames longer than this are refused with an error."""
    control_rate: float = 50.0
    """Inbound messages per second per connection, sustained."""
    control_burst: int = 100
    strikes: int = 20
    """Inbound messages refused in a row for going too fast before the connection is closed."""
    batch: bool = True
    """Offer batches (``docs/protocol.md`` section 14) to the clients that ask."""
    batch_max_events: int = 4096
    """The most events in one batch (a client may ask for fewer)."""
    batch_max_delay: float = 0.05
    """Seconds an event may wait at most for its batch to fill (a client may ask less)."""

    def __post_init__(self) -> None:
        _check(self)

    @property
    def tls(self) -> bool:
        """Whether the server serves ``https``/``wss``."""
        return self.certfile is not None


def _check(o: ServeOptions) -> None:
    if not (o.speed > 0):
        raise ServerConfigError(f"speed must be positive or 'max', got {o.speed!r}")
    if o.rate is not None and not (o.rate > 0 and math.isfinite(o.rate)):
        raise ServerConfigError(f"rate must be a positive number, got {o.rate!r}")
    for name in ("port", "wait_for", "history"):
        if getattr(o, name) < 0:
            raise ServerConfigError(f"{name} must not be negative, got {getattr(o, name)!r}")
    if o.port > 65535:
        raise ServerConfigError(f"port must be at most 65535, got {o.port!r}")
    for name in ("max_clients", "queue", "max_frame", "control_burst", "strikes"):
        if getattr(o, name) < 1:
            raise ServerConfigError(f"{name} must be at least 1, got {getattr(o, name)!r}")
    if o.queue_bytes < MIN_QUEUE_BYTES:
        raise ServerConfigError(
            f"queue_bytes must be at least {MIN_QUEUE_BYTES}, got {o.queue_bytes!r}")
    from ..model import MAX_BATCH_DELAY_MS, MAX_BATCH_EVENTS  # as pieces below

    if not 1 <= o.batch_max_events <= MAX_BATCH_EVENTS:
        raise ServerConfigError(f"batch_max_events must be from 1 to {MAX_BATCH_EVENTS}, got "
                                f"{o.batch_max_events!r}")
    if not 0 <= o.batch_max_delay <= MAX_BATCH_DELAY_MS / 1000:
        raise ServerConfigError(f"batch_max_delay must be from 0 to "
                                f"{MAX_BATCH_DELAY_MS / 1000:g} s, got {o.batch_max_delay!r}")
    if not (o.token_ttl > 0) or not (o.control_rate > 0):
        raise ServerConfigError("token_ttl and control_rate must be positive")
    if (o.certfile is None) != (o.keyfile is None):
        raise ServerConfigError("certfile and keyfile go together")
    from ..capture import pieces  # not at the top: the CLI's parser imports this module

    try:
        pieces(o.capture)
    except CaptureError as exc:
        reason = str(exc).removeprefix(f"{exc.path}: ")
        raise ServerConfigError(f"capture: {reason} {o.capture!r}") from None
    for name in ("certfile", "keyfile"):
        value = getattr(o, name)
        if value is not None and not Path(value).is_file():
            raise ServerConfigError(f"{name}: no such file {value!r}")


def parse_speed(text: str) -> float:
    """``"max"`` -> :data:`MAX`, else a positive float (argparse ``type=``)."""
    if text.strip().lower() == "max":
        return MAX
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'max', got {text!r}") from None
    if not (value > 0) or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"speed must be positive, got {text!r}")
    return value


def parse_size(text: str) -> int:
    """A size in bytes (argparse ``type=``), as :func:`openagi_nb.sizes.parse_size` reads it."""
    try:
        return sizes.parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``serve``'s arguments to ``parser`` (the CLI's ``serve`` subcommand)."""
    d = ServeOptions.__dataclass_fields__
    add = parser.add_argument
    add("capture", help="capture to replay (.jsonl[.gz], or a directory or glob of pieces)")
    add("--host", default=d["host"].default, help="address to listen on")
    add("--port", type=int, default=d["port"].default, help="port (0: any free port)")
    add("--speed", type=parse_speed, default=1.0, help="capture seconds per second, or 'max'")
    add("--rate", type=float, default=None, help="cap on messages per second")
    add("--loop", action="store_true", help="start over at the end, timestamps increasing")
    add("--no-retime", dest="retime", action="store_false",
        help="keep the capture's timestamps instead of shifting them to now")
    add("--wait-for", type=int, default=0, metavar="N",
        help="hold the clock until N clients have subscribed")
    add("--history", type=int, default=d["history"].default, help="messages kept for resume")
    add("--token-ttl", type=float, default=d["token_ttl"].default, help="token lifetime (s)")
    add("--secret", default=None, help="HS256 secret (else $OPENAGI_NB_SECRET, else random)")
    add("--certfile", default=None, help="TLS certificate (PEM): serve https and wss")
    add("--keyfile", default=None, help="TLS private key (PEM)")
    add("--max-clients", type=int, default=d["max_clients"].default,
        help="WebSocket connections at most (HTTP 503 beyond)")
    add("--queue", type=int, default=d["queue"].default, metavar="N",
        help="messages a client may lag behind the clock before it is closed with 1013 (at max "
             "speed: the clock waits for it instead); costs no memory per client")
    add("--queue-bytes", type=parse_size, default=d["queue_bytes"].default, metavar="SIZE",
        help="bytes the server holds for one client at most: what its socket has not yet "
             "taken plus replies not yet written (default 1MiB; e.g. 256KiB, 8MB). A slow "
             "client is written no more; unread replies past it close it with 1013")
    add("--no-batch", dest="batch", action="store_false",
        help="do not offer batched frames (docs/protocol.md section 14)")
    add("--batch-max-events", type=int, default=d["batch_max_events"].default, metavar="N",
        help="most events in one batch (default %(default)s)")
    add("--batch-max-delay", type=float, default=d["batch_max_delay"].default, metavar="S",
        help="seconds an event waits at most for its batch to fill (default %(default)s)")


def from_arguments(args: argparse.Namespace) -> ServeOptions:
    """Build :class:`ServeOptions` from what :func:`add_arguments` parsed."""
    names = {f.name for f in fields(ServeOptions)}
    values: dict[str, Any] = {k: v for k, v in vars(args).items() if k in names}
    return ServeOptions(**values)
