"""Load rate of a capture: JSONL.gz and Parquet through load_capture vs the naive pandas way;
the writer's cost of flushing once a second; a directory of 24 pieces against one file.

The naive way is what one writes in a notebook: ``pandas.read_json(lines=True)``, then per
message type ``json_normalize`` of the ``data`` column. Targets (issue 2): JSONL.gz at least 3x
the naive rate, Parquet at least 10x.

Writer (issue 12): the recorder flushes once a second so a crash loses at most that. Here a
second of stream is ``--rate`` messages (default 2,000/s, a busy network), so the writer flushes
every ``--rate`` messages: with a zlib sync flush (what CaptureWriter does), and with a new gzip
member instead, against never flushing (one gzip stream closed at the end). Worst case too: a
flush every 20 messages (a quiet stream of 20 messages/s).

    .venv/bin/python benchmarks/bench_capture.py [--messages 500000] [--runs 3]

The capture is generated once (seeded) and kept in bench-data/.
"""

from __future__ import annotations

import argparse
import gzip
import io
import shutil
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from openagi_nb import load_capture, scenario
from openagi_nb.capture import CaptureWriter, convert, iter_lines

DATA = Path(__file__).resolve().parents[1] / "bench-data"
NODES = 50


def build_capture(messages: int) -> tuple[Path, int]:
    """A seeded scenario capture of at least ``messages`` messages (cached)."""
    probe = len(scenario.generate(seed=11, duration=1200.0, nodes=NODES).messages)
    duration = 1200.0 * messages / probe * 1.02
    path = DATA / f"capture_{messages}.jsonl.gz"
    if not path.exists():
        DATA.mkdir(exist_ok=True)
        scenario.write(path, seed=11, duration=duration, nodes=NODES)
    count = sum(1 for _ in iter_lines(path))
    if count < messages:
        raise SystemExit(f"generated only {count} messages; raise the duration")
    return path, count


def naive_load(path: Path) -> dict[str, pd.DataFrame]:
    """The notebook way: read_json(lines=True), then json_normalize each type's data."""
    raw = pd.read_json(path, lines=True)
    frames = {}
    for kind, group in raw.groupby("type"):
        data = pd.json_normalize(group["data"].tolist(), sep="_").add_prefix("data_")
        data.index = group.index
        envelope = group[["seq", "event"]].assign(
            timestamp=pd.to_datetime(group["timestamp"], utc=True, format="ISO8601"))
        frames[str(kind)] = pd.concat([envelope, data], axis=1)
    return frames


def timed(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def write_sync(lines: list[bytes], every: int | None) -> int:
    """What CaptureWriter does, into memory: GzipFile.flush() (a zlib sync flush) every
    ``every`` messages; bytes written."""
    raw = io.BytesIO()
    gz = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0)
    for i, line in enumerate(lines, 1):
        gz.write(line + b"\n")
        if every and i % every == 0:
            gz.flush()
    gz.close()
    return raw.tell()


def write_members(lines: list[bytes], every: int) -> int:
    """The alternative: a new gzip member every ``every`` messages; bytes written."""
    raw = io.BytesIO()
    for start in range(0, len(lines), every):
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
            for line in lines[start:start + every]:
                gz.write(line + b"\n")
    return raw.tell()


def bench_writer(path: Path, rate: int, runs: int) -> None:
    lines = [line for _, line in iter_lines(path)]
    plain = sum(len(line) + 1 for line in lines)
    count = len(lines)
    cases: list[tuple[str, Callable[[], int]]] = [
        ("no flush (closed at the end)", lambda: write_sync(lines, None)),
        (f"sync flush every {rate:,} msgs", lambda: write_sync(lines, rate)),
        (f"new member every {rate:,} msgs", lambda: write_members(lines, rate)),
        ("sync flush every 20 msgs", lambda: write_sync(lines, 20)),
        ("new member every 20 msgs", lambda: write_members(lines, 20)),
    ]
    base_s = base_bytes = 0.0
    print(f"writer: {count:,} messages, {plain / 1e6:.1f} MB of JSON lines")
    for name, fn in cases:
        size = fn()
        seconds = timed(fn, runs)
        base_s, base_bytes = (seconds, size) if not base_s else (base_s, base_bytes)
        print(f"  {name:<32} {count / seconds:>10,.0f} msg/s  {size / 1e6:7.2f} MB  "
              f"ratio {plain / size:5.2f}  time {seconds / base_s:5.2f}x  "
              f"bytes {size / base_bytes:5.3f}x")
    # the real writer on a real file, timed flushes on (the default), as record_to writes
    target = DATA / "writer_check.jsonl.gz"
    start = time.perf_counter()
    with CaptureWriter(target) as writer:
        writer.write_all(lines)
    seconds = time.perf_counter() - start
    print(f"  CaptureWriter to disk (default) {count / seconds:>10,.0f} msg/s  "
          f"{target.stat().st_size / 1e6:7.2f} MB")
    target.unlink()


def bench_pieces(path: Path, count: int, runs: int) -> None:
    lines = [line for _, line in iter_lines(path)]
    directory = DATA / "pieces_24"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir()
    size = -(-len(lines) // 24)
    for i in range(24):
        with CaptureWriter(directory / f"2026-01-05T{i:02d}-00-00.000000Z.jsonl.gz") as writer:
            writer.write_all(lines[i * size:(i + 1) * size])
    one_s = timed(lambda: load_capture(path), runs)
    dir_s = timed(lambda: load_capture(directory), runs)
    print(f"load_capture(one .jsonl.gz)         {count / one_s:>12,.0f} msg/s  ({one_s:6.2f} s)")
    print(f"load_capture(directory of 24 pieces) {count / dir_s:>11,.0f} msg/s  ({dir_s:6.2f} s)"
          f"  {one_s / dir_s:5.2f}x one file")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=500_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rate", type=int, default=2_000,
                        help="messages per second of stream: the writer flushes that often")
    args = parser.parse_args()

    path, count = build_capture(args.messages)
    size = path.stat().st_size
    print(f"capture: {path.name}, {count:,} messages, {size / 1e6:.1f} MB gzip, {NODES} nodes")

    parquet = DATA / f"capture_{args.messages}.parquet"
    shutil.rmtree(parquet, ignore_errors=True)
    start = time.perf_counter()
    convert(path, parquet)
    convert_s = time.perf_counter() - start

    naive_s = timed(lambda: naive_load(path), 1)
    jsonl_s = timed(lambda: load_capture(path), args.runs)
    parquet_s = timed(lambda: load_capture(parquet), args.runs)

    def rate(seconds: float) -> str:
        return f"{count / seconds:>12,.0f} msg/s  ({seconds:6.2f} s)"

    print(f"naive read_json + json_normalize   {rate(naive_s)}")
    print(f"load_capture(.jsonl.gz)            {rate(jsonl_s)}  {naive_s / jsonl_s:5.1f}x naive"
          "  (target 3x)")
    print(f"load_capture(Parquet dataset)      {rate(parquet_s)}  {naive_s / parquet_s:5.1f}x naive"
          "  (target 10x)")
    print(f"convert to Parquet (load + write)  {convert_s:.2f} s")
    bench_pieces(path, count, args.runs)
    bench_writer(path, args.rate, args.runs)
    ok = naive_s / jsonl_s >= 3 and naive_s / parquet_s >= 10
    print("targets met" if ok else "TARGETS NOT MET")


if __name__ == "__main__":
    main()
