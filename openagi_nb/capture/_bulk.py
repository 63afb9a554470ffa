"""Bulk decoding of a block of capture lines with Arrow's JSON reader.

Loading a capture message by message (``model.decode`` + ``model.flatten``) runs at about
150k messages/s; Arrow parses, type-checks and columnises a block of clean lines several times
faster. :func:`decode_block` takes that fast way only when it can prove the result is exactly what
the per-message way gives: Arrow's reader is strict (a value of the wrong JSON type, a key the
schema does not know, a duplicate key, a bad escape are errors), and everything it does not check
(known events, closed sets, timestamps, non-negative ``seq``, fields of another channel) is checked
here, vectorised. On any doubt it returns ``None`` and the caller decodes that block line by line,
which rejects exactly the bad lines with their numbers. A property test holds both ways equal.

This module only parses and checks; the tables become pandas in ``model.arrow_frame``, the
one conversion the other ways share (``openagi_nb/model/_columns.py``).
"""

from __future__ import annotations

import io
import re
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from ..model import (
    CATALOGUE,
    TYPE_OF_CHANNEL,
    Channel,
    Field,
    Kind,
    column_name,
    columns,
)

__all__ = ["decode_block"]

_ARROW_TYPES: Final[dict[Kind, pa.DataType]] = {
    Kind.FLOAT: pa.float64(), Kind.INT: pa.int64(), Kind.BOOL: pa.bool_(),
    Kind.STRING: pa.string(), Kind.TIMESTAMP: pa.string(), Kind.CATEGORY: pa.string(),
    Kind.LIST: pa.list_(pa.string()),
}
# The per-message way reads timestamps with datetime.fromisoformat; pandas reads this common
# form identically (fractions beyond microseconds would differ: fromisoformat truncates them).
_CANONICAL_TIME: Final = (
    r"^(1[7-9]\d\d|2[01]\d\d|22[0-5]\d)-\d{2}-\d{2}"  # years 1700-2259: inside datetime64[ns]
    r"T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)?$"
)
_ZONE: Final = r"(Z|[+-]\d{2}:\d{2})$"


def _arrow_field(name: str, field: Field) -> pa.Field:
    if isinstance(field, dict):
        return pa.field(name, pa.struct([_arrow_field(k, f) for k, f in field.items()]))
    kind = Kind.CATEGORY if isinstance(field, tuple) else field
    return pa.field(name, _ARROW_TYPES[kind])


def _channel_schema(channel: Channel) -> pa.Schema:
    """The envelope and the union of the channel's events' data fields, as Arrow types."""
    fields: dict[str, pa.Field] = {}
    for event_fields in CATALOGUE[channel].values():
        for key, field in event_fields.items():
            new = _arrow_field(key, field)
            old = fields.setdefault(key, new)
            if old.type != new.type:
                raise AssertionError(f"{channel}: data field {key!r} declared as two types")
    return pa.schema([
        ("type", pa.string()), ("event", pa.string()), ("timestamp", pa.string()),
        ("seq", pa.int64()), ("data", pa.struct(list(fields.values()))),
    ])


_SCHEMAS: Final = {c: _channel_schema(c) for c in Channel}
# Keys the schema does not know come out as extra (inferred) fields, which we then refuse; this
# is much faster in Arrow than unexpected_field_behavior="error".
_PARSE: Final = {
    c: pj.ParseOptions(explicit_schema=s, unexpected_field_behavior="infer")
    for c, s in _SCHEMAS.items()
}
_READ: Final = pj.ReadOptions(block_size=1 << 20, use_threads=True)
# A line whose "type" comes first and names a data type; anything else makes the block doubtful.
_LINE: Final = re.compile(
    rb'^(\{\s*"type"\s*:\s*"(network|consensus|security|monitoring)_event".*)$', re.MULTILINE
)
_CHANNEL_OF_WORD: Final = {c.value.split("_")[0].encode(): c for c in Channel}


class _Doubt(Exception):
    """The block is not provably clean: decode it line by line instead."""


def decode_block(block: bytes) -> dict[Channel, pa.Table] | None:
    """Decode a block of complete lines into one Arrow table per channel, or ``None`` if any
    line is not a clean data message (bad, a control message, or with keys the schema does not
    know). The tables hold the declared columns (but ``extra``) with the Arrow types
    ``model.arrow_frame`` turns into the channel's frame."""
    groups: dict[Channel, list[bytes]] = {c: [] for c in Channel}
    found = _LINE.findall(block)
    if len(found) != block.count(b"\n") + (not block.endswith(b"\n")):
        return None  # blank lines, or lines that do not start with a data type
    for line, word in found:
        groups[_CHANNEL_OF_WORD[word]].append(line)
    try:
        return {c: _channel_table(c, lines) for c, lines in groups.items()}
    except (pa.ArrowException, _Doubt):
        return None


def _channel_table(channel: Channel, lines: list[bytes]) -> pa.Table:
    rows = pj.read_json(
        io.BytesIO(b"\n".join(lines)), read_options=_READ, parse_options=_PARSE[channel]
    ) if lines else _SCHEMAS[channel].empty_table()
    _require(rows.num_rows == len(lines) and rows.schema == _SCHEMAS[channel])
    _require(_all(pc.equal(rows.column("type"), TYPE_OF_CHANNEL[channel])))
    _require(rows.column("data").null_count == 0)
    low = pc.min(rows.column("seq")).as_py()
    _require(low is None or low >= 0)
    events = rows.column("event")
    _require(events.null_count == 0 and _all(pc.is_in(events, _EVENTS[channel])))
    out: dict[str, pa.Array | pa.ChunkedArray] = {
        "seq": rows.column("seq"),
        "timestamp": _timestamps(rows.column("timestamp"), allow_null=False),
        "event": events,
    }
    own = {c.name: c for c in columns(channel)}
    for name, array in _flat_fields(rows.column("data").combine_chunks(), ()):
        col = own[name]
        out[name] = _checked(col.kind, col.categories, array)
    return pa.table(out)


_EVENTS: Final = {c: pa.array(list(CATALOGUE[c])) for c in Channel}


def _flat_fields(struct: pa.StructArray, path: tuple[str, ...]) -> list[tuple[str, pa.Array]]:
    found = []
    for index, field in enumerate(struct.type):
        child = struct.field(index)
        if struct.null_count:  # a null parent hides whatever its children hold
            child = pc.if_else(struct.is_valid(), child, pa.nulls(len(child), child.type))
        if pa.types.is_struct(field.type):
            found.extend(_flat_fields(child, (*path, field.name)))
        else:
            found.append((column_name((*path, field.name)), child))
    return found


def _checked(kind: Kind, categories: tuple[str, ...], array: pa.Array) -> pa.Array:
    if kind is Kind.TIMESTAMP:
        return _timestamps(array, allow_null=True)
    if kind is Kind.CATEGORY:
        _require(_all(pc.is_in(array.drop_null(), pa.array(categories))))
    elif kind is Kind.LIST:
        _require(pc.list_flatten(array).null_count == 0)
    return array


def _timestamps(array: pa.Array | pa.ChunkedArray, *, allow_null: bool) -> pa.Array:
    _require(allow_null or array.null_count == 0)
    _require(_all(pc.match_substring_regex(array.drop_null(), _CANONICAL_TIME)))
    has_zone = pc.match_substring_regex(array, _ZONE)
    zoned = pc.if_else(has_zone, array, pc.binary_join_element_wise(array, "Z", ""))
    return pc.cast(zoned, pa.timestamp("ns", tz="UTC"))  # raises on a day or hour out of range


def _all(mask: pa.Array | pa.ChunkedArray) -> bool:
    return pc.all(mask).as_py() is not False  # True, or None for no values


def _require(condition: bool) -> None:
    if not condition:
        raise _Doubt
