"""A capture made ready to publish: parsed once at load, re-encoded per message only where it
changes (the seconds of its timestamps, and its ``seq``).

Loading validates every line (:func:`openagi_nb.model.flatten`), skips what is not a valid data
message (counted in ``rejected``), and keeps each message as a *template*: its compact JSON
split around the date-and-seconds of every timestamp it holds, the envelope's and those inside
``data`` (``data.timestamp``, ``executed_at``, ``expired_at``... any ISO 8601 date-time string).
Fractions of a second stay in the template, normalised to ``.ffffffZ``, and replay offsets are
whole seconds, so publishing message ``i`` costs a cached lookup per timestamp and one join, not
a JSON encode. The templates of a capture take about the size of the capture (one blob, a few
arrays).
"""

from __future__ import annotations

import re
from array import array
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any, Final

import orjson

from ..capture import StrPath, iter_lines
from ..exceptions import InvalidMessage
from ..model import CHANNELS, Kind, Row, columns, decode, flatten, parse_timestamp, text_frame
from ._columnar import Columns, build_columns

__all__ = ["CHANNEL_INDEX", "Replay", "SecondsFormatter", "frames", "load_replay"]

CHANNEL_INDEX: Final = {c: i for i, c in enumerate(CHANNELS)}
NS: Final = 1_000_000_000
_STAMP: Final = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?")
_STAMP_COLUMNS: Final = {c: [i for i, col in enumerate(columns(c)) if col.kind is Kind.TIMESTAMP]
                         for c in CHANNELS}
_SENTINEL: Final = "\x00"
_SENTINEL_JSON: Final = b'"\\u0000"'


class SecondsFormatter:
    """Whole seconds since the epoch -> ``b'"YYYY-MM-DDTHH:MM:SS'`` (the opening quote, no
    fraction), cached: a replay formats many timestamps within the same second."""

    def __init__(self, cache_size: int = 4096) -> None:
        self._cache: dict[int, bytes] = {}
        self._size = cache_size

    def __call__(self, seconds: int) -> bytes:
        head = self._cache.get(seconds)
        if head is None:
            if len(self._cache) >= self._size:
                self._cache.clear()
            text = datetime.fromtimestamp(seconds, UTC).strftime('"%Y-%m-%dT%H:%M:%S')
            head = self._cache[seconds] = text.encode()
        return head


@dataclass(frozen=True, eq=False)
class Replay:
    """The templates of a capture, in time order. Build with :func:`load_replay`.

    Attributes:
        path: the capture.
        rejected: lines that were not valid data messages (skipped).
        channels: channel index (into ``schema.CHANNELS``) of each message.
        times: each message's envelope timestamp, ns since the epoch.
        period: whole seconds between the start of one loop and the next (``--loop``): the
            capture's span plus its mean interval, rounded up, so timestamps keep increasing.
    """

    path: str
    rejected: int
    channels: bytes
    times: array[int]
    period: int
    _blob: bytes
    _bounds: array[int]  # part k is _blob[_bounds[k]:_bounds[k+1]]
    _parts: array[int]  # message i's parts are k = _parts[i] .. _parts[i] + _stamps_n[i] ...
    _stamps_n: array[int]  # ... with one timestamp between two parts ...
    _first: array[int]  # ... the seconds of its stamps being _seconds[_first[i]:]
    _seconds: array[int]
    _fallback: dict[int, bytes]
    columns: Columns
    """The same messages as columns, for ``"arrow"`` batches (:mod:`._columnar`)."""

    def __len__(self) -> int:
        return len(self.channels)

    @property
    def first_second(self) -> int:
        """Whole seconds of the first message's timestamp (0 for an empty capture)."""
        return self.times[0] // NS if self.times else 0

    def payload(self, index: int, seq: int, offset: int, fmt: SecondsFormatter) -> bytes:
        """Message ``index`` as compact JSON with every timestamp moved by ``offset`` whole
        seconds, and ``"seq": seq`` as its last key (what :func:`frames` frames)."""
        frame = frames(self, index, 1, seq, offset, fmt)[0]
        return frame[{126: 4, 127: 10}.get(frame[1], 2):]


def frames(
    replay: Replay, index: int, count: int, seq: int, offset: int, fmt: SecondsFormatter,
) -> list[bytes]:
    """Messages ``index`` .. ``index + count - 1`` as WebSocket text frames, ready to write to
    any client: :meth:`Replay.payload` framed, with ``seq`` numbers from ``seq``.

    The publisher's hot path, hence one flat loop with everything in locals.
    """
    bounds, blob, seconds = replay._bounds, replay._blob, replay._seconds
    parts, first, stamps_n, fallback = replay._parts, replay._first, replay._stamps_n, (
        replay._fallback)
    frame = text_frame
    out = []
    for i in range(index, index + count):
        if fallback and i in fallback:
            payload = _slow_payload(fallback[i], seq, offset)
        else:
            k = parts[i]
            pieces = [blob[bounds[k]:bounds[k + 1]]]
            t = first[i]
            for j in range(t, t + stamps_n[i]):
                k += 1
                pieces.append(fmt(seconds[j] + offset))
                pieces.append(blob[bounds[k]:bounds[k + 1]])
            pieces.append(b',"seq":%d}' % seq)
            payload = b"".join(pieces)
        out.append(frame(payload))
        seq += 1
    return out


def load_replay(path: StrPath) -> Replay:
    """Load and template a ``.jsonl[.gz]`` capture for replay.

    Raises:
        CaptureError: the file cannot be read (a bad line is only counted in ``rejected``).
    """
    packer = _Packer()
    rejected = 0
    for _, raw in iter_lines(path):
        if not packer.add(raw):
            rejected += 1
    return packer.build(str(path), rejected)


class _Packer:
    """Accumulates templates in compact arrays, in file order; :meth:`build` sorts by time."""

    def __init__(self) -> None:
        self.blob = bytearray()
        self.bounds = array("q", [0])
        self.parts, self.stamps_n, self.first = array("q"), array("i"), array("q")
        self.seconds, self.times = array("q"), array("q")
        self.channels = bytearray()
        self.fallback: dict[int, bytes] = {}
        self.rows: list[Row] = []
        self.slow: set[int] = set()

    def add(self, raw: bytes) -> bool:
        """Template one line; False if it is not a valid data message."""
        try:
            obj = decode(raw)
            channel, row = flatten(obj, raw)
        except InvalidMessage:
            return False
        obj.pop("seq", None)
        stamps: list[int] = []
        _mark_stamps(obj, stamps, top=True)
        pieces = orjson.dumps(obj).split(_SENTINEL_JSON)
        index = len(self.channels)
        self.channels.append(CHANNEL_INDEX[channel])
        self.times.append(row[1])
        self.parts.append(len(self.bounds) - 1)
        self.first.append(len(self.seconds))
        self.rows.append(row)
        if len(stamps) != sum(row[i] is not None for i in _STAMP_COLUMNS[channel]):
            self.slow.add(index)  # a timestamp outside the declared ones moves too
        if len(pieces) != len(stamps) + 1:  # the message holds the sentinel itself
            self.fallback[index] = _without_seq(raw)
            self.slow.add(index)
            pieces, stamps = [b"{"], []
        self.stamps_n.append(len(stamps))
        self._add_pieces(pieces, stamps)
        return True

    def _add_pieces(self, pieces: list[bytes], stamps: list[int]) -> None:
        blob, bounds = self.blob, self.bounds
        blob += pieces[0]
        bounds.append(len(blob))
        for ns, piece in zip(stamps, pieces[1:], strict=True):
            seconds, rest = divmod(ns, NS)
            self.seconds.append(seconds)
            blob += b'.%06dZ"' % (rest // 1000) if rest >= 1000 else b'Z"'
            blob += piece
            bounds.append(len(blob))
        del blob[-1]  # the closing brace: "seq" goes last
        bounds[-1] -= 1

    def build(self, path: str, rejected: int) -> Replay:
        order = _time_order(self.times)
        if order is not None:
            self._permute(order)
        times = self.times
        table = build_columns(self.channels, self.rows, self.slow)
        self.rows = []
        return Replay(
            path, rejected, bytes(self.channels), times, _period(times), bytes(self.blob),
            self.bounds, self.parts, self.stamps_n, self.first, self.seconds, self.fallback,
            table,
        )

    def _permute(self, order: list[int]) -> None:
        for name in ("parts", "stamps_n", "first", "times"):
            old = getattr(self, name)
            setattr(self, name, array(old.typecode, [old[i] for i in order]))
        self.channels = bytearray(self.channels[i] for i in order)
        self.rows = [self.rows[i] for i in order]
        position = {old: new for new, old in enumerate(order)
                    if old in self.fallback or old in self.slow}
        self.fallback = {position[old]: raw for old, raw in self.fallback.items()}
        self.slow = {position[old] for old in self.slow}


def _time_order(times: array[int]) -> list[int] | None:
    """The stable order by time, or None when the capture is already in time order."""
    if all(a <= b for a, b in pairwise(times)):
        return None
    return sorted(range(len(times)), key=times.__getitem__)


def _mark_stamps(node: Any, stamps: list[int], top: bool = False) -> None:
    """Replace every timestamp string under ``node`` by the sentinel, in the order orjson will
    write them (insertion order), recording their values in ``stamps``."""
    # Replacing values (not keys) while iterating is allowed for dicts and lists alike.
    for key, value in node.items() if isinstance(node, dict) else enumerate(node):
        if isinstance(value, str):
            must = top and key == "timestamp"
            if not must and (len(value) < 19 or value[4] != "-"):  # cheap test first
                continue
            ns = _stamp(value, must)
            if ns is not None:
                stamps.append(ns)
                node[key] = _SENTINEL
        elif isinstance(value, dict | list):
            _mark_stamps(value, stamps)


def _stamp(value: str, must: bool) -> int | None:
    """The ns of a timestamp string; ``must`` for the envelope's (already validated)."""
    if not must and not _STAMP.fullmatch(value):
        return None
    try:
        return parse_timestamp(value)
    except (ValueError, OverflowError):
        return None


def _without_seq(raw: bytes) -> bytes:
    obj = orjson.loads(raw)
    obj.pop("seq", None)
    return orjson.dumps(obj)


def _slow_payload(plain: bytes, seq: int, offset: int) -> bytes:
    obj = orjson.loads(plain)
    _shift_stamps(obj, offset * NS, top=True)
    obj["seq"] = seq
    return orjson.dumps(obj)


def _shift_stamps(node: Any, offset_ns: int, top: bool = False) -> None:
    items = list(node.items()) if isinstance(node, dict) else list(enumerate(node))
    for key, value in items:
        if isinstance(value, str):
            ns = _stamp(value, must=top and key == "timestamp")
            if ns is not None:
                node[key] = _iso(ns + offset_ns)
        elif isinstance(value, dict | list):
            _shift_stamps(value, offset_ns)


def _iso(ns: int) -> str:
    seconds, rest = divmod(ns, NS)
    head = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{head}.{rest // 1000:06d}Z" if rest >= 1000 else f"{head}Z"


def _period(times: array[int]) -> int:
    if len(times) < 2:
        return 1
    span = times[-1] - times[0]
    gap = max(span // (len(times) - 1), 1)
    return -(-(span + gap) // NS)
