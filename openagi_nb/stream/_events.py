"""What the protocol session (:mod:`._session`) hands the stream's thread: accepted data
messages one by one (:data:`Delivery`) or as columns (:class:`Columns`), replies, and what was
refused (:class:`Rejected`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import pyarrow as pa

from ..model import Row

__all__ = ["OTHER", "Columns", "Delivery", "Event", "Rejected", "Reply"]

OTHER: Final = "other"
"""The ``rejected`` key of messages that name no channel (bad JSON, binary frames...)."""

Delivery = tuple[str, Row, bytes, dict[str, Any]]
"""An accepted data message: ``(channel, row, raw bytes, decoded message)``. A plain tuple: it
is made once per event on the hot path."""


@dataclass(frozen=True, slots=True)
class Reply:
    """A message that is not data: the server's acks, pongs and errors, and types this version
    does not know (``known`` False: a newer server's additions, ignored but kept)."""

    kind: str
    message: dict[str, Any]
    raw: bytes
    known: bool = True


@dataclass(frozen=True, slots=True)
class Rejected:
    """A message that failed validation: kept with the reason, counted against ``channel``;
    ``record`` is False for what is not a message at all (a binary frame)."""

    raw: bytes
    reason: str
    channel: str
    record: bool = True


@dataclass(frozen=True, slots=True)
class Columns:
    """Accepted data messages of one channel from an ``"arrow"`` batch, as a table of its
    declared columns (duplicates and refused rows already taken out)."""

    channel: str
    table: pa.Table


Event = Delivery | Reply | Rejected | Columns
