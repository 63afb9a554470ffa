"""Batches of data messages (``docs/protocol.md`` section 14): the ``batch`` request and its
``batching`` answer, ``"json"`` batches (a header line, then one message per line) and
``"arrow"`` batches (one Arrow IPC stream of a channel's declared columns).

Pure: bytes and tables in, bytes, tables and reasons out. The server builds batches with
:func:`json_batch` and :func:`arrow_batch`; the client reads them with :func:`split_json_batch`
and :func:`read_arrow_batch`, which checks the schema of the whole batch and each row on its own
(a bad row is refused alone, with its reason).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from ..exceptions import ErrorCode, InvalidMessage
from ._rows import Row, bad_field, is_int
from ._schema import CATALOGUE, Channel, Column, Kind, columns

__all__ = [
    "ArrowBatch",
    "BatchFormat",
    "BatchSettings",
    "Compression",
    "MAX_BATCH_DELAY_MS",
    "MAX_BATCH_EVENTS",
    "arrow_batch",
    "arrow_schema",
    "arrow_table",
    "batch_request",
    "batching",
    "json_batch",
    "parse_batch_request",
    "parse_batching",
    "read_arrow_batch",
    "split_json_batch",
]

MAX_BATCH_EVENTS: Final = 65_536
MAX_BATCH_DELAY_MS: Final = 1_000.0
CHANNEL_KEY: Final = b"openagi.channel"


class BatchFormat(StrEnum):
    """How a batch is written on the wire (section 14.4 and 14.5)."""

    JSON = "json"
    ARROW = "arrow"


class Compression(StrEnum):
    """Arrow IPC body compression of ``"arrow"`` batches (``"none"``: uncompressed)."""

    NONE = "none"
    LZ4 = "lz4"
    ZSTD = "zstd"


_IPC_CODEC: Final = {Compression.NONE: None, Compression.LZ4: "lz4", Compression.ZSTD: "zstd"}


@dataclass(frozen=True, slots=True)
class BatchSettings:
    """What a ``batch`` request asks, or what a ``batching`` answer grants. ``None`` bounds in a
    request mean "the server's"."""

    format: BatchFormat = BatchFormat.JSON
    compression: Compression = Compression.NONE
    max_events: int | None = None
    max_delay_ms: float | None = None


# --- the request and its answer ----------------------------------------------------------


def batch_request(settings: BatchSettings) -> str:
    """The ``batch`` message asking for ``settings`` (bounds left out are the server's)."""
    msg: dict[str, Any] = {"type": "batch", "format": settings.format.value,
                           "compression": settings.compression.value}
    if settings.max_events is not None:
        msg["max_events"] = settings.max_events
    if settings.max_delay_ms is not None:
        msg["max_delay_ms"] = settings.max_delay_ms
    return orjson.dumps(msg).decode()


def batching(settings: BatchSettings) -> str:
    """The server's ``batching`` answer: what the connection gets from now on."""
    return orjson.dumps({
        "type": "batching", "format": settings.format.value,
        "compression": settings.compression.value, "max_events": settings.max_events,
        "max_delay_ms": settings.max_delay_ms,
    }).decode()


def parse_batch_request(obj: dict[str, Any], raw: str | bytes = "") -> BatchSettings:
    """Validate a ``batch`` message (section 14.2).

    Raises:
        InvalidMessage: ``bad_field`` naming the field that is wrong.
    """
    fmt = _choice(obj, "format", BatchFormat, BatchFormat.JSON, raw)
    compression = _choice(obj, "compression", Compression, Compression.NONE, raw)
    if fmt is BatchFormat.JSON and compression is not Compression.NONE:
        raise bad_field("compression", "compression applies to the arrow format only",
                        compression.value, raw)
    events = obj.get("max_events")
    if events is not None and not (is_int(events) and 1 <= events <= MAX_BATCH_EVENTS):
        raise bad_field("max_events", f"expected an integer from 1 to {MAX_BATCH_EVENTS}",
                        events, raw)
    delay = obj.get("max_delay_ms")
    if delay is not None and not (
        isinstance(delay, int | float) and not isinstance(delay, bool)
        and 0 <= delay <= MAX_BATCH_DELAY_MS
    ):
        raise bad_field("max_delay_ms", f"expected a number from 0 to {MAX_BATCH_DELAY_MS:g}",
                        delay, raw)
    return BatchSettings(fmt, compression, events, None if delay is None else float(delay))


def parse_batching(obj: dict[str, Any], raw: str | bytes = "") -> BatchSettings:
    """Validate the server's ``batching`` answer (bounds required).

    Raises:
        InvalidMessage: ``bad_field`` naming the field that is wrong.
    """
    settings = parse_batch_request(obj, raw)
    if settings.max_events is None or settings.max_delay_ms is None:
        raise bad_field("max_events", "expected the bounds granted", obj.get("max_events"), raw)
    return settings


def _choice(obj: dict[str, Any], key: str, kind: type[StrEnum], default: Any,
            raw: str | bytes) -> Any:
    value = obj.get(key)
    if value is None:
        return default
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        return kind(value)
    except ValueError:
        names = ", ".join(repr(m.value) for m in kind)
        raise bad_field(key, f"expected one of {names}", value, raw) from None


# --- "json" batches ------------------------------------------------------------------------


def json_batch(channel: str, payloads: Sequence[bytes], first_seq: int, last_seq: int) -> bytes:
    """A ``"json"`` batch: the header line, then each message (compact JSON, no newline)."""
    header = b'{"type":"batch","channel":"%s","count":%d,"first_seq":%d,"last_seq":%d}' % (
        Channel(channel).value.encode(), len(payloads), first_seq, last_seq)
    return b"\n".join((header, *payloads))


def split_json_batch(payload: bytes) -> tuple[dict[str, Any], list[bytes]]:
    """The header of a ``"json"`` batch and its message lines (not yet validated).

    Raises:
        InvalidMessage: the header is not a batch header.
    """
    head, _, rest = payload.partition(b"\n")
    try:
        header = orjson.loads(head)
    except orjson.JSONDecodeError as exc:
        raise InvalidMessage(f"invalid JSON in a batch header: {exc}",
                             code=ErrorCode.BAD_JSON, raw=head) from None
    if not isinstance(header, dict) or header.get("type") != "batch":
        raise InvalidMessage("not a batch header", code=ErrorCode.BAD_FIELD, raw=head)
    return header, rest.split(b"\n") if rest else []


# --- "arrow" batches -----------------------------------------------------------------------

_DICT: Final = pa.dictionary(pa.int32(), pa.string())
_ARROW: Final[dict[Kind, pa.DataType]] = {
    Kind.INT: pa.int64(), Kind.TIMESTAMP: pa.timestamp("ns", "UTC"), Kind.FLOAT: pa.float64(),
    Kind.BOOL: pa.bool_(), Kind.CATEGORY: _DICT, Kind.STRING: _DICT,
    Kind.LIST: pa.list_(pa.string()),
}
_TEXT: Final = (pa.string(), pa.large_string())
_CHANNEL_NAMES: Final = frozenset(c.value for c in Channel)
_READ: Final = pa.ipc.IpcReadOptions(use_threads=False)  # threads: 2-3x slower per batch here


def _wire_type(col: Column) -> pa.DataType:
    return pa.string() if col.name == "extra" else _ARROW[col.kind]


def arrow_schema(channel: str) -> pa.Schema:
    """The schema of ``channel``'s ``"arrow"`` batches (section 14.5)."""
    return pa.schema([pa.field(c.name, _wire_type(c)) for c in columns(channel)],
                     metadata={CHANNEL_KEY: Channel(channel).value.encode()})


def arrow_table(channel: str, rows: Sequence[Row]) -> pa.Table:
    """Rows as :func:`~._rows.flatten` gives them, as a table of the batch schema."""
    cols = columns(channel)
    values = list(zip(*rows, strict=True)) if rows else [() for _ in cols]
    arrays = []
    for col, vals in zip(cols, values, strict=True):
        kind = col.kind
        if kind is Kind.CATEGORY or (kind is Kind.STRING and col.name != "extra"):
            arrays.append(pa.array(vals, pa.string()).dictionary_encode())
        else:
            arrays.append(pa.array(vals, _wire_type(col)))
    return pa.Table.from_arrays(arrays, schema=arrow_schema(channel))


def arrow_batch(table: pa.Table, compression: Compression = Compression.NONE) -> bytes:
    """One ``"arrow"`` batch: ``table`` (of :func:`arrow_schema`) as an Arrow IPC stream."""
    sink = pa.BufferOutputStream()
    # Arrow's thread pool doubles lz4's cost here (0.29 ms against 0.15 ms for 4,096 monitoring
    # rows) but takes a third off zstd's (0.93 ms against 1.39 ms).
    options = pa.ipc.IpcWriteOptions(compression=_IPC_CODEC[compression],
                                     use_threads=compression is Compression.ZSTD)
    with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
        writer.write_table(table)
    data: bytes = sink.getvalue().to_pybytes()
    return data


@dataclass(frozen=True, slots=True)
class ArrowBatch:
    """An ``"arrow"`` batch read: its ``channel``, the ``table`` of valid rows, and each
    refused row as ``(row as JSON, reason)``."""

    channel: Channel
    table: pa.Table
    rejected: list[tuple[bytes, str]]


def read_arrow_batch(payload: bytes) -> ArrowBatch:
    """Read and check an ``"arrow"`` batch (section 14.5).

    Raises:
        InvalidMessage: the frame is not an Arrow IPC stream, or its schema does not fit its
            channel (the whole batch is refused).
    """
    try:
        table = pa.ipc.open_stream(payload, options=_READ).read_all()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as exc:
        raise InvalidMessage(f"not an Arrow IPC stream: {exc}", code=ErrorCode.BAD_FIELD,
                             raw=payload[:64]) from None
    metadata = table.schema.metadata or {}
    name = metadata.get(CHANNEL_KEY, b"").decode(errors="replace")
    if name not in _CHANNEL_NAMES:
        raise InvalidMessage(f"arrow batch: schema metadata 'openagi.channel' is {name!r}, "
                             "expected a channel name", code=ErrorCode.UNKNOWN_CHANNEL,
                             raw=payload[:64])
    channel = Channel(name)
    _check_schema(channel, table.schema)
    bad = _bad_rows(channel, table)
    if bad is None:
        return ArrowBatch(channel, table, [])
    rejected = [(_row_json(table, i), f"row {i}: {reason}") for i, reason in bad]
    keep = np.ones(table.num_rows, dtype=bool)
    keep[[i for i, _ in bad]] = False
    return ArrowBatch(channel, table.filter(pa.array(keep)), rejected)


def _check_schema(channel: Channel, schema: pa.Schema) -> None:
    declared = {c.name: c for c in columns(channel)}
    for field in schema:
        col = declared.get(field.name)
        if col is None:
            raise InvalidMessage(f"arrow batch of {channel.value}: unknown column "
                                 f"{field.name!r}", code=ErrorCode.BAD_FIELD)
        if not _fits(col, field.type):
            raise InvalidMessage(f"arrow batch of {channel.value}: column {field.name!r} is "
                                 f"{field.type}, expected {_wire_type(col)}",
                                 code=ErrorCode.BAD_FIELD)


def _fits(col: Column, arrow_type: pa.DataType) -> bool:
    if col.kind is Kind.CATEGORY or col.kind is Kind.STRING:
        if pa.types.is_dictionary(arrow_type):
            return pa.types.is_integer(arrow_type.index_type) and arrow_type.value_type in _TEXT
        return arrow_type in _TEXT
    if col.kind is Kind.LIST:
        return pa.types.is_list(arrow_type) and arrow_type.value_type in _TEXT
    return bool(arrow_type == _ARROW[col.kind])


def _bad_rows(channel: Channel, table: pa.Table) -> list[tuple[int, str]] | None:
    """Each refused row and why (the first check it fails), or None when all are valid."""
    n = table.num_rows
    names = set(table.column_names)
    checks: list[tuple[np.ndarray, str]] = []
    if "seq" in names:
        seq = table.column("seq")
        checks.append((_filled(pc.less(seq, 0), False), "field 'seq': expected a "
                       "non-negative integer"))
    stamps = table.column("timestamp") if "timestamp" in names else pa.nulls(n)
    checks.append((_filled(pc.is_null(stamps), True), "field 'timestamp': missing"))
    events = tuple(CATALOGUE[channel])
    event = table.column("event") if "event" in names else pa.chunked_array(
        [pa.nulls(n, pa.string())])
    checks.append((_outside(event, events, null_bad=True), "field 'event': expected one of "
                   + ", ".join(events)))
    checks.extend(
        (_outside(table.column(col.name), col.categories, null_bad=False),
         f"field '{col.name}': expected one of {', '.join(col.categories)}")
        for col in columns(channel)
        if col.kind is Kind.CATEGORY and col.name != "event" and col.name in names)
    if not any(bool(mask.any()) for mask, _ in checks):
        return None
    bad: dict[int, str] = {}
    for mask, reason in checks:
        for i in np.flatnonzero(mask).tolist():
            bad.setdefault(i, reason)
    return sorted(bad.items())


def _filled(mask: pa.ChunkedArray | pa.Array, null: bool) -> np.ndarray:
    return np.asarray(pc.fill_null(mask, null).to_numpy(zero_copy_only=False), dtype=bool)


def _outside(array: pa.ChunkedArray, allowed: tuple[str, ...], null_bad: bool) -> np.ndarray:
    """Rows whose value is not in ``allowed`` (null: ``null_bad``); a dictionary's values are
    looked up once, not per row."""
    out = np.zeros(len(array), dtype=bool)
    start, wanted = 0, set(allowed)
    for chunk in array.chunks:
        if pa.types.is_dictionary(chunk.type):
            ok = np.array([v in wanted for v in chunk.dictionary.to_pylist()] + [not null_bad])
            indices = chunk.indices
            if indices.null_count:  # -1: the last of ``ok``, for nulls (indices may be unsigned)
                indices = pc.fill_null(indices.cast(pa.int64()), -1)
            indices = indices.to_numpy(zero_copy_only=False)
            out[start:start + len(chunk)] = ~ok[indices]
        else:
            found = _filled(pc.is_in(chunk, value_set=pa.array(allowed, chunk.type)), False)
            if not null_bad:
                found |= _filled(pc.is_null(chunk), True)
            out[start:start + len(chunk)] = ~found
        start += len(chunk)
    return out


def _row_json(table: pa.Table, i: int) -> bytes:
    row = table.slice(i, 1).to_pylist()[0]
    return orjson.dumps(row, default=str)
