"""Batch formats (protocol.md section 14): bytes on the wire, server encode and client decode
cost per event, one message per frame against each batch format. The format only: no network.

The capture's messages (compact JSON lines: what the server holds) are cut per channel into
batches of ``--size`` events (several sizes in one run). Per format and event, the median of
``--repeats`` passes over the whole capture (``time.perf_counter``, GC on as usual):

- bytes: payload + WebSocket frame header (2, 4 or 10 bytes a frame: the server does not mask);
- encode: from the held lines (Arrow: the held per-channel tables, below) to the whole frame;
- decode: from the payload to what a LiveFrame takes: rows validated by ``flatten`` (row
  formats), typed numpy columns with each row checked (columnar formats); a decoded batch's
  ``seq`` must equal the baseline's, row for row, or the run stops.

``one/frame``: today, ``orjson.loads`` + ``flatten`` a frame. ``json array``:
``{"type":"batch","channel":..,"messages":[..]}``. ``json lines``: section 14.4, a header line
then one message a line. ``columnar json``: ``{"columns":{name:[..]}}``, timestamps as int ns;
encode = loads + flatten + transpose + dumps, decode = loads + numpy per column (strings stay
lists). ``arrow none|lz4|zstd``: section 14.5, one IPC stream; encode = ``Table.take`` of the
batch's rows from the channel's held table + ``dictionary_encode`` + IPC write (building the held
tables, once per event for all clients, is printed apart); decode = ``read_all`` + numpy per
column (dictionary indices for strings) with ``use_threads=False`` (Arrow's thread pool, its
default, made lz4 decode 3x slower here: ``--arrow-threads``). ``+deflate``: the payload through
raw deflate level 6, a new context a message, as permessage-deflate with no context takeover.

Decode stops at numpy columns: ``LiveFrame.extend_arrow`` (branch ``lf``) is not merged yet, so
neither it nor the row formats' appending of rows to LiveFrame columns is counted.

    .venv/bin/python benchmarks/bench_batch_formats.py [--capture PATH] [--size 256 1024 4096]
                                                       [--repeats 5] [--arrow-threads]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import zlib
from collections.abc import Callable
from itertools import compress, repeat
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from openagi_nb import model
from openagi_nb.capture import iter_lines
from openagi_nb.exceptions import InvalidMessage
from openagi_nb.model import CHANNEL_OF_TYPE, Column, Kind, Row, columns, flatten, text_frame

ROOT = Path(__file__).resolve().parent.parent
NA = int(np.iinfo(np.int64).min)  # NA of LiveFrame's int64 ring columns (NaT's bit pattern)
DICT = pa.dictionary(pa.int32(), pa.string())
ARROW = {Kind.INT: pa.int64(), Kind.FLOAT: pa.float64(), Kind.BOOL: pa.bool_(),
         Kind.TIMESTAMP: pa.timestamp("ns", "UTC"), Kind.STRING: DICT, Kind.CATEGORY: DICT,
         Kind.LIST: pa.list_(pa.string())}
Batch = tuple[str, list[bytes], list[int], int]  # channel, lines, their seqs, first row index
Encoder = Callable[[Batch], list[bytes]]
Decoder = Callable[[bytes], Any]
WIRE = {ch: pa.schema([(c.name, pa.string() if c.name == "extra" else ARROW[c.kind])
                       for c in columns(ch)],
                      metadata={"openagi.channel": ch}) for ch in CHANNEL_OF_TYPE.values()}
CATEGORIES = {c.name: c.categories for ch in WIRE for c in columns(ch) if c.kind is Kind.CATEGORY}


def load(path: str) -> dict[str, tuple[list[bytes], list[int]]]:
    per: dict[str, tuple[list[bytes], list[int]]] = {}
    for _, line in iter_lines(path):
        obj = orjson.loads(line)
        lines, seqs = per.setdefault(CHANNEL_OF_TYPE[obj["type"]], ([], []))
        lines.append(line)
        seqs.append(obj["seq"])
    return per


def held_tables(per: dict[str, tuple[list[bytes], list[int]]]) -> dict[str, pa.Table]:
    """What the server would hold: each channel's events as one Arrow table (plain strings)."""
    out = {}
    for ch, (lines, _) in per.items():
        data = zip(*(flatten(orjson.loads(line))[1] for line in lines), strict=True)
        types = [pa.string() if f.type == DICT else f.type for f in WIRE[ch]]
        out[ch] = pa.table([pa.array(v, t) for v, t in zip(data, types, strict=True)],
                           names=WIRE[ch].names)
    return out


def payload_of(frame: bytes) -> bytes:
    n = frame[1] & 127
    return frame[2 if n < 126 else 4 if n == 126 else 10:]


def deflate(payload: bytes) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return (c.compress(payload) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]  # RFC 7692: drop 00 00 ff ff


def inflate(payload: bytes) -> bytes:
    return zlib.decompressobj(-15).decompress(payload + b"\x00\x00\xff\xff")


def rows_of(items: list[Any], parse: Callable[[Any], Any]) -> list[Row]:
    rows = []
    for item in items:
        try:
            row = flatten(parse(item))[1]
        except (orjson.JSONDecodeError, InvalidMessage):
            continue  # one rejected message, the rest of the batch is kept
        rows.append(row)
    return rows


def jsonl(b: Batch) -> bytes:
    ch, lines, seqs, _ = b
    head = orjson.dumps({"type": "batch", "channel": ch, "count": len(lines),
                         "first_seq": seqs[0], "last_seq": seqs[-1]})
    return b"\n".join([head, *lines])


def dec_jsonl(payload: bytes) -> list[Row]:
    lines = payload.split(b"\n")
    if orjson.loads(lines[0])["count"] != len(lines) - 1:  # a cut batch is rejected whole
        raise ValueError("count")
    return rows_of(lines[1:], orjson.loads)


def enc_columnar(b: Batch) -> list[bytes]:
    ch, lines, _, _ = b
    rows = [flatten(orjson.loads(line))[1] for line in lines]
    cols = dict(zip(WIRE[ch].names, zip(*rows, strict=True), strict=True))
    return [text_frame(orjson.dumps({"type": "batch", "channel": ch, "columns": cols}))]


def typed(col: Column, v: list[Any]) -> Any:
    """LiveFrame's ring layout: int64 (NA = INT64_MIN), float64, int8 codes (-1 NA, -2 bad)."""
    if col.kind in (Kind.INT, Kind.TIMESTAMP):
        if None not in v:
            return np.array(v, np.int64)
        return np.fromiter((NA if x is None else x for x in v), np.int64, len(v))
    if col.kind is Kind.FLOAT:
        return np.array(v, np.float64)
    if col.kind is Kind.BOOL:
        return np.fromiter((-1 if x is None else x for x in v), np.int8, len(v))
    if col.kind is Kind.CATEGORY:
        lookup = {None: -1, **{c: i for i, c in enumerate(col.categories)}}
        return np.fromiter(map(lookup.get, v, repeat(-2)), np.int8, len(v))
    return v  # strings, lists


def checked(ch: str, out: dict[str, Any]) -> dict[str, Any]:
    """Rows with a bad seq, no timestamp or a value outside its closed set are rejected alone."""
    bad = (out["seq"] < 0) | (out["timestamp"] == NA)
    for name in CATEGORIES.keys() & out.keys():
        bad |= out[name] == -2
    return {k: kept(v, ~bad) for k, v in out.items()} if bad.any() else out


def kept(v: Any, keep: np.ndarray) -> Any:
    if isinstance(v, tuple):  # (codes, dictionary)
        return v[0][keep], v[1]
    return v[keep] if isinstance(v, np.ndarray) else list(compress(v, keep))


def dec_columnar(payload: bytes) -> dict[str, Any]:
    obj = orjson.loads(payload)
    ch, cols = obj["channel"], obj["columns"]
    return checked(ch, {c.name: typed(c, cols[c.name]) for c in columns(ch)})


def enc_arrow(held: dict[str, pa.Table], options: pa.ipc.IpcWriteOptions) -> Encoder:
    def encode(b: Batch) -> list[bytes]:
        ch, lines, _, start = b
        taken = held[ch].take(pa.array(np.arange(start, start + len(lines))))
        cols = [pc.dictionary_encode(col) if f.type == DICT else col
                for f, col in zip(WIRE[ch], taken.columns, strict=True)]
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, WIRE[ch], options=options) as writer:
            writer.write_table(pa.table(cols, schema=WIRE[ch]))
        return [model.build_frame(model.BINARY, sink.getvalue())]
    return encode


def dec_arrow(payload: bytes, read: pa.ipc.IpcReadOptions) -> dict[str, Any]:
    table = pa.ipc.open_stream(payload, options=read).read_all()
    ch = (table.schema.metadata or {}).get(b"openagi.channel", b"").decode()
    if ch not in WIRE or not table.schema.equals(WIRE[ch]):
        raise ValueError("schema does not fit: the batch is rejected whole")
    if any(col.num_chunks != 1 for col in table.columns):
        table = table.unify_dictionaries().combine_chunks()
    out: dict[str, Any] = {}
    for c, col in zip(columns(ch), table.columns, strict=True):
        a = col.chunk(0)
        if c.kind is Kind.TIMESTAMP:
            a = a.cast(pa.int64())
        if c.kind is Kind.CATEGORY:  # dictionary values looked up once, not once a row
            lut = pc.index_in(a.dictionary, value_set=pa.array(c.categories)).fill_null(-2)
            lut = np.append(lut.to_numpy(), -1).astype(np.int8)
            out[c.name] = lut[a.indices.fill_null(len(a.dictionary)).to_numpy()]
        elif c.kind is Kind.STRING and c.name != "extra":
            out[c.name] = (a.indices.fill_null(-1).to_numpy(), a.dictionary)
        elif c.kind in (Kind.INT, Kind.TIMESTAMP):
            out[c.name] = a.fill_null(NA).to_numpy(zero_copy_only=False)
        elif c.kind is Kind.FLOAT:
            out[c.name] = a.fill_null(np.nan).to_numpy(zero_copy_only=False)
        elif c.kind is Kind.BOOL:
            out[c.name] = a.cast(pa.int8()).fill_null(-1).to_numpy(zero_copy_only=False)
        else:  # extra (JSON text or None), lists
            out[c.name] = a.to_pylist()
    return checked(ch, out)


def formats(held: dict[str, pa.Table], threads: bool) -> dict[str, tuple[Encoder, Decoder]]:
    read = pa.ipc.IpcReadOptions(use_threads=threads)

    def arrow(codec: str | None) -> tuple[Encoder, Decoder]:
        return (enc_arrow(held, pa.ipc.IpcWriteOptions(compression=codec)),
                lambda p: dec_arrow(p, read))

    return {
        "one/frame": (lambda b: [text_frame(line) for line in b[1]],
                      lambda p: rows_of([p], orjson.loads)),
        "one/frame+deflate": (lambda b: [text_frame(deflate(line)) for line in b[1]],
                              lambda p: rows_of([inflate(p)], orjson.loads)),
        "json array": (lambda b: [text_frame(b'{"type":"batch","channel":"%s","messages":[%s]}'
                                             % (b[0].encode(), b",".join(b[1])))],
                       lambda p: rows_of(orjson.loads(p)["messages"], lambda o: o)),
        "json lines": (lambda b: [text_frame(jsonl(b))], dec_jsonl),
        "json lines+deflate": (lambda b: [text_frame(deflate(jsonl(b)))],
                               lambda p: dec_jsonl(inflate(p))),
        "columnar json": (enc_columnar, dec_columnar),
        "arrow none": arrow(None), "arrow lz4": arrow("lz4"), "arrow zstd": arrow("zstd"),
    }


def median_time(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def measure(batches: list[Batch], enc: Encoder, dec: Decoder, events: int,
            repeats: int, expected: np.ndarray | None) -> tuple[float, float, float, np.ndarray]:
    t_enc, frames = median_time(lambda: [f for b in batches for f in enc(b)], repeats)
    payloads = [payload_of(f) for f in frames]
    t_dec, outs = median_time(lambda: [dec(p) for p in payloads], repeats)
    got = np.concatenate([np.array([r[0] for r in o], np.int64) if isinstance(o, list)
                          else o["seq"] for o in outs])
    if expected is not None and not np.array_equal(got, expected):
        raise SystemExit(f"decoded seqs differ from the baseline's ({len(got)} rows)")
    return sum(map(len, frames)) / events, t_enc / events, t_dec / events, got


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capture", default=str(ROOT / "data" / "sample_capture.jsonl.gz"))
    parser.add_argument("--size", type=int, nargs="+", default=[256, 1024, 4096])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--arrow-threads", action="store_true",
                        help="read IPC with Arrow's thread pool (its default; not the client's)")
    args = parser.parse_args()
    per = load(args.capture)
    events = sum(len(lines) for lines, _ in per.values())
    t0 = time.perf_counter()
    held = held_tables(per)
    ingest = (time.perf_counter() - t0) / events
    print(f"{events:,} messages ({', '.join(f'{ch} {len(v[0]):,}' for ch, v in per.items())}); "
          f"median of {args.repeats}; load average {os.getloadavg()[0]:.2f}")
    print(f"server ingest of lines into the held Arrow tables: {ingest * 1e6:.2f} µs/event "
          "(once per event for all clients; not in the arrow encode figures)")
    cache: dict[str, tuple[float, float, float]] = {}  # one/frame does not depend on size
    expected: np.ndarray | None = None  # the baseline's seqs, in batch order (the same for all)
    for size in args.size:
        batches = [(ch, lines[i:i + size], seqs_[i:i + size], i)
                   for ch, (lines, seqs_) in per.items() for i in range(0, len(lines), size)]
        print(f"\nbatches of up to {size:,} events per channel: {len(batches)} batches")
        print(f"{'format':>19} {'bytes/ev':>9} {'vs base':>8} {'enc µs/ev':>10} "
              f"{'dec µs/ev':>10} {'dec ev/s':>11} {'dec speed vs base':>18}")
        for name, (enc, dec) in formats(held, args.arrow_threads).items():
            if name in cache and name.startswith("one/"):
                b, e, d = cache[name]
            else:
                b, e, d, got = measure(batches, enc, dec, events, args.repeats, expected)
                if expected is None:
                    expected = got
                    if len(got) != events:
                        raise SystemExit(f"baseline decoded {len(got)} of {events} messages")
                cache.setdefault(name, (b, e, d))
            base_b, _, base_d = cache["one/frame"]
            print(f"{name:>19} {b:9.1f} {b / base_b:7.2f}x {e * 1e6:10.3f} {d * 1e6:10.3f} "
                  f"{1 / d:11,.0f} {base_d / d:17.1f}x")


if __name__ == "__main__":
    main()
