"""Reading the batches a server sends once it granted them (``docs/protocol.md`` section 14):
a ``"json"`` batch is its lines, each checked as a message of its own; an ``"arrow"`` batch is
checked by :func:`~openagi_nb.model.read_arrow_batch`, its duplicates dropped by ``seq`` at
once, and handed on as one table."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Final

import numpy as np
import pyarrow as pa

from .. import model
from ..exceptions import InvalidMessage
from ..model import BatchFormat, BatchSettings
from ._events import OTHER, Columns, Event, Rejected
from ._resume import NO_SEQ, Resume

__all__ = ["JSON_BATCH", "arrow_batch", "describe", "json_batch"]

log = logging.getLogger("openagi_nb.client")

JSON_BATCH: Final = b'{"type":"batch",'
"""How a ``"json"`` batch starts (section 14.4); a data message cannot."""


def json_batch(payload: bytes, text: Callable[[bytes], Event | None],
               events: list[Event]) -> None:
    """Append the events of a ``"json"`` batch: ``text`` of each line (None: a duplicate)."""
    try:
        lines = model.split_json_batch(payload)[1]
    except InvalidMessage as exc:
        events.append(Rejected(payload, exc.reason, OTHER, record=False))
        return
    for line in lines:
        event = text(line)
        if event is not None:
            events.append(event)


def arrow_batch(payload: bytes, resume: Resume, events: list[Event]) -> None:
    """Append the events of an ``"arrow"`` batch: its refused rows, then the accepted ones as
    one :class:`~._events.Columns` (none when all were duplicates)."""
    try:
        batch = model.read_arrow_batch(payload)
    except InvalidMessage as exc:
        events.append(Rejected(payload[:256], exc.reason, OTHER, record=False))
        return
    except Exception as exc:  # a bug of ours must not end the stream (as _session._text)
        log.exception("cannot read an arrow batch")
        events.append(Rejected(payload[:256], f"internal error: {exc!r}", OTHER, record=False))
        return
    channel = batch.channel.value
    events.extend(Rejected(raw, reason, channel, record=False)
                  for raw, reason in batch.rejected)
    table = batch.table
    if not table.num_rows:
        return
    n = table.num_rows
    seqs = table.column("seq").fill_null(NO_SEQ).to_numpy() if "seq" in table.column_names \
        else np.full(n, NO_SEQ, np.int64)
    stamps = table.column("timestamp").cast(pa.int64()).to_numpy()
    keep = resume.accept_batch(channel, seqs, stamps)
    if keep is not None:
        table = table.filter(pa.array(keep))
    if table.num_rows:
        events.append(Columns(channel, table))


def describe(granted: BatchSettings) -> str:
    """What ``stats.batching`` says of granted batches: ``arrow lz4, up to 4096 events or
    50 ms``."""
    codec = f" {granted.compression}" if granted.format is BatchFormat.ARROW else ""
    return (f"{granted.format}{codec}, up to {granted.max_events} events or "
            f"{granted.max_delay_ms:g} ms")
