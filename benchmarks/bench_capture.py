"""Load rate of a capture: JSONL.gz and Parquet through load_capture vs the naive pandas way.

The naive way is what one writes in a notebook: ``pandas.read_json(lines=True)``, then per
message type ``json_normalize`` of the ``data`` column. Targets (issue 2): JSONL.gz at least 3x
the naive rate, Parquet at least 10x.

    .venv/bin/python benchmarks/bench_capture.py [--messages 500000] [--runs 3]

The capture is generated once (seeded) and kept in bench-data/.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from openagi_nb import load_capture, scenario
from openagi_nb.capture import convert, iter_lines

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=500_000)
    parser.add_argument("--runs", type=int, default=3)
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
    ok = naive_s / jsonl_s >= 3 and naive_s / parquet_s >= 10
    print("targets met" if ok else "TARGETS NOT MET")


if __name__ == "__main__":
    main()
