"""Channels, the event catalogue and the ONE declared column schema of each channel.

This module declares the columns (name, kind, pandas dtype); it converts nothing. Every way a
frame is made (the live stream's snapshots, a capture read line by line, the Arrow bulk reader,
Parquet) builds it in ``_columns.py`` from these declarations, so all have the same columns and
dtypes, and every analysis function works on each. No I/O happens here.

A channel's columns are ``seq`` (Int64), ``timestamp`` (datetime64[ns, UTC]), ``event``
(category), then the union of its events' ``data`` fields in catalogue order, nested objects
flattened with ``_`` (``decision_action``), then ``extra``: the keys the schema does not know, as
JSON object text (NA when there are none). A ``data`` field whose name would clash with an
envelope column gets a ``data_`` prefix (``data.timestamp`` of ``node_joined`` is
``data_timestamp``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa

__all__ = [
    "CHANNELS",
    "CHANNEL_OF_TYPE",
    "CATALOGUE",
    "Channel",
    "Column",
    "Kind",
    "MessageType",
    "SEVERITIES",
    "Severity",
    "columns",
    "dtypes",
]


class Channel(StrEnum):
    """The four channels of the API (``docs/protocol.md`` section 6)."""

    NETWORK = "network_events"
    CONSENSUS = "consensus_events"
    SECURITY = "security_events"
    MONITORING = "monitoring_events"

    @classmethod
    def _missing_(cls, value: object) -> None:
        # Enum raises this instead of its bare "'x' is not a valid Channel"
        names = ", ".join(c.value for c in reversed(cls))
        raise ValueError(f"unknown channel {value!r} (the channels are {names})")


class MessageType(StrEnum):
    """Every ``type`` a message can have: the four data types, the published control messages
    and our replies (``docs/protocol.md`` section 5.2)."""

    NETWORK_EVENT = "network_event"
    CONSENSUS_EVENT = "consensus_event"
    SECURITY_EVENT = "security_event"
    MONITORING_EVENT = "monitoring_event"
    SUBSCRIBE = "subscribe"
    UNSUBSCRIBE = "unsubscribe"
    PING = "ping"
    PONG = "pong"
    SUBSCRIBED = "subscribed"
    UNSUBSCRIBED = "unsubscribed"
    ERROR = "error"
    BATCH = "batch"
    BATCHING = "batching"


class Severity(StrEnum):
    """Severity of security events and alerts, ordered low < medium < high < critical."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


CHANNELS: Final[tuple[Channel, ...]] = tuple(Channel)
SEVERITIES: Final[tuple[str, ...]] = tuple(s.value for s in Severity)
CHANNEL_OF_TYPE: Final[dict[str, Channel]] = {
    MessageType.NETWORK_EVENT: Channel.NETWORK,
    MessageType.CONSENSUS_EVENT: Channel.CONSENSUS,
    MessageType.SECURITY_EVENT: Channel.SECURITY,
    MessageType.MONITORING_EVENT: Channel.MONITORING,
}
TYPE_OF_CHANNEL: Final[dict[Channel, str]] = {c: t for t, c in CHANNEL_OF_TYPE.items()}


class Kind(StrEnum):
    """How a column is typed, in the wire value and in pandas."""

    FLOAT = "float"  # JSON number -> float64 (NaN when missing)
    INT = "int"  # JSON integer -> Int64
    BOOL = "bool"  # JSON true/false -> boolean
    STRING = "string"  # JSON string -> string
    TIMESTAMP = "timestamp"  # ISO 8601 string -> datetime64[ns, UTC]
    CATEGORY = "category"  # JSON string from a closed set -> category
    LIST = "list"  # JSON array of strings -> list<string> (Arrow)


@dataclass(frozen=True, slots=True)
class Column:
    """One declared column: its name, kind, and for categories the closed set of values."""

    name: str
    kind: Kind
    categories: tuple[str, ...] = ()
    ordered: bool = False

    @property
    def dtype(self) -> Any:
        """The pandas dtype this column has in every frame."""
        if self.kind is Kind.CATEGORY:
            return _categorical_dtype(self.categories, self.ordered)
        return _DTYPES[self.kind]


@functools.cache
def _categorical_dtype(categories: tuple[str, ...], ordered: bool) -> pd.CategoricalDtype:
    """One dtype object per closed set: its categories' hash table is built once, not at each
    frame (pandas dtypes are immutable, so frames may share it)."""
    return pd.CategoricalDtype(list(categories), ordered=ordered)


_DTYPES: Final[dict[Kind, Any]] = {
    Kind.FLOAT: np.dtype("float64"),
    Kind.INT: pd.Int64Dtype(),
    Kind.BOOL: pd.BooleanDtype(),
    Kind.STRING: pd.StringDtype(),
    Kind.TIMESTAMP: pd.DatetimeTZDtype("ns", "UTC"),
    Kind.LIST: pd.ArrowDtype(pa.list_(pa.string())),
}

F, I, B, S, T, L = Kind.FLOAT, Kind.INT, Kind.BOOL, Kind.STRING, Kind.TIMESTAMP, Kind.LIST  # noqa: E741
_DECISION = {"action": S, "parameter": S, "value": F}
Field = Kind | tuple[str, ...] | dict[str, Kind]
"""A data field's declaration: a kind, a closed set of strings, or a nested object of kinds."""

REASONS: Final = ("graceful", "timeout", "banned")
PHASES: Final = ("pre_prepare", "prepare", "commit", "reply")
STATUSES: Final = ("ok", "warning", "critical")

CATALOGUE: Final[dict[Channel, dict[str, dict[str, Field]]]] = {
    Channel.NETWORK: {
        "node_joined": {"node_id": S, "address": S, "timestamp": T},
        "node_left": {"node_id": S, "address": S, "reason": REASONS},
        "network_partition": {"partition_id": S, "nodes": L, "detected_by": S},
        "consensus_reached": {"proposal_id": S, "round": I, "decision": _DECISION},
    },
    Channel.CONSENSUS: {
        "proposal_submitted": {
            "proposal_id": S, "proposer": S, "data": _DECISION, "consensus_round": I,
        },
        "consensus_phase": {"proposal_id": S, "phase": PHASES, "view": I, "votes": I, "quorum": I},
        "decision_executed": {"proposal_id": S, "decision": _DECISION, "executed_at": T},
        "view_change": {"old_view": I, "new_view": I, "new_leader": S, "reason": S},
    },
    Channel.SECURITY: {
        "intrusion_detected": {
            "attack_type": S, "source_ip": S, "blocked": B, "severity": SEVERITIES,
        },
        "attack_blocked": {"attack_type": S, "source_ip": S, "rule": S, "severity": SEVERITIES},
        "certificate_expired": {"node_id": S, "expired_at": T, "severity": SEVERITIES},
        "suspicious_activity": {
            "source_ip": S, "description": S, "severity": SEVERITIES, "score": F,
        },
    },
    Channel.MONITORING: {
        "metric_update": {
            "node_id": S, "metric": S, "value": F, "threshold": F, "status": STATUSES,
        },
        "alert_raised": {
            "alert_id": S, "node_id": S, "metric": S, "value": F, "threshold": F,
            "severity": SEVERITIES, "message": S,
        },
        "performance_degradation": {
            "node_id": S, "component": S, "metric": S, "value": F, "baseline": F,
        },
        "resource_exhausted": {"node_id": S, "resource": S, "value": F, "limit": F},
    },
}
"""Every event of every channel with the fields of its ``data`` (``docs/protocol.md`` section 6)."""

ENVELOPE: Final = ("seq", "timestamp", "event", "extra")
ORDERED_CATEGORIES: Final = {SEVERITIES, PHASES, STATUSES}


def column_name(path: tuple[str, ...]) -> str:
    """The column a ``data`` path lands in: ``("decision", "action")`` -> ``decision_action``."""
    name = "_".join(path)
    return "data_" + name if name in ENVELOPE else name


def _field_columns(path: tuple[str, ...], field: Field) -> list[Column]:
    if isinstance(field, dict):
        return [c for key, sub in field.items() for c in _field_columns((*path, key), sub)]
    if isinstance(field, tuple):
        return [Column(column_name(path), Kind.CATEGORY, field, field in ORDERED_CATEGORIES)]
    return [Column(column_name(path), field)]


def _declare(channel: Channel) -> tuple[Column, ...]:
    events = tuple(CATALOGUE[channel])
    cols = {
        "seq": Column("seq", I),
        "timestamp": Column("timestamp", T),
        "event": Column("event", Kind.CATEGORY, events),
    }
    for fields in CATALOGUE[channel].values():
        for key, field in fields.items():
            for col in _field_columns((key,), field):
                if cols.setdefault(col.name, col) != col:
                    raise AssertionError(f"column {col.name!r} declared twice with other types")
    cols["extra"] = Column("extra", S)
    return tuple(cols.values())


SCHEMAS: Final[dict[Channel, tuple[Column, ...]]] = {c: _declare(c) for c in Channel}


def columns(channel: str) -> tuple[Column, ...]:
    """The declared columns of ``channel``, in frame order."""
    return SCHEMAS[Channel(channel)]


def dtypes(channel: str) -> dict[str, Any]:
    """Column name -> pandas dtype of ``channel``'s frames."""
    return {c.name: c.dtype for c in columns(channel)}
