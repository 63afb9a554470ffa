"""Weeks of a large network: generate a Parquet dataset, read a slice by push-down, analyse it
all with Dask on a 2-worker LocalCluster, and compare Dask with pandas on a day.

1. **Generation**: ``openagi-nb generate --nodes N --duration D -o fleet.parquet`` in its own
   process: seconds, events/s, its peak RSS (``ru_maxrss`` of the finished child). Or
   ``--dataset PATH`` to use one already written (then nothing is generated).
2. **Push-down**: ``open_dataset(path).frame("monitoring_events", nodes=[one node], start=,
   end=)`` for one day and for the whole span: seconds, and the bytes this process read from
   files while answering (``rchar`` of ``/proc/self/io``) against the dataset's bytes on disk.
3. **Analysis on Dask**: ``breaches``, ``summary`` and ``top_sources`` of the whole dataset on a
   ``LocalCluster(n_workers=2, threads_per_worker=1, memory_limit=--worker-memory)``: seconds,
   each worker's peak RSS (sampled every 0.2 s) against its limit, whether a worker was
   restarted, and what the channels would take as pandas frames (bytes per row measured on the
   day's frame, times the rows).
4. **A day, pandas against Dask**: the same three functions on one day's frames in pandas, and
   on the same day through Dask on the same cluster: Dask's overhead as a ratio.

Targets (issue 14): a 7-day, 500-node dataset generated with RSS under 1 GiB; the analysis
finishing with no worker over its 2 GiB limit on data several times the cluster's memory; the
push-down reading under 2 % of the dataset's bytes in under a second.

    .venv/bin/python benchmarks/bench_scale.py [--nodes 500] [--duration 7d] [--out DIR]
        [--dataset PATH] [--worker-memory 2GiB] [--seed 7]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from openagi_nb import analysis
from openagi_nb.capture import Dataset, open_dataset

GiB = 1 << 30


def rchar() -> int:
    """Bytes this process has read through read(2) and friends so far (Linux)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise RuntimeError("no rchar in /proc/self/io")


def dataset_bytes(root: Path) -> int:
    return sum(f.stat().st_size for f in root.rglob("*.parquet"))


def rows(root: Path, channel: str) -> int:
    return sum(pq.ParquetFile(f).metadata.num_rows
               for f in (root / f"channel={channel}").rglob("*.parquet"))


# --- 1. generation ----------------------------------------------------------------------------


def generate(nodes: int, duration: str, seed: int, out: Path) -> dict[str, Any]:
    argv = [sys.executable, "-m", "openagi_nb.cli", "generate", "--nodes", str(nodes),
            "--duration", duration, "--seed", str(seed), "-o", f"{out}/"]
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    events = sum(rows(out, c) for c in CHANNELS)
    return {"seconds": seconds, "events": events, "rss": peak}


CHANNELS = ("network_events", "consensus_events", "security_events", "monitoring_events")


# --- 2. push-down -----------------------------------------------------------------------------


def push_down(fleet: Dataset, node: str, start: pd.Timestamp | None,
              end: pd.Timestamp | None) -> dict[str, Any]:
    before, t0 = rchar(), time.perf_counter()
    frame = fleet.frame("monitoring_events", nodes=[node], start=start, end=end)
    return {"seconds": time.perf_counter() - t0, "read": rchar() - before, "rows": len(frame)}


# --- 3. and 4. analysis -----------------------------------------------------------------------


class Peaks:
    """Each worker's peak RSS, sampled in the background."""

    def __init__(self, client: Any) -> None:
        self.client, self.peak, self._stop = client, {}, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Peaks:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        def rss() -> int:
            import psutil

            return int(psutil.Process().memory_info().rss)

        while not self._stop.wait(0.2):
            try:
                for worker, value in self.client.run(rss).items():
                    self.peak[worker] = max(self.peak.get(worker, 0), value)
            except Exception:
                pass


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    result = call()
    return time.perf_counter() - t0, result


def analyses(source: Callable[[str], Any]) -> dict[str, Callable[[], Any]]:
    return {
        "breaches": lambda: analysis.breaches(source("monitoring_events"), for_="2min"),
        "summary": lambda: analysis.summary(source("monitoring_events")),
        "top_sources": lambda: analysis.top_sources(source("security_events")),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--duration", default="7d")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=None, help="where to write the dataset")
    parser.add_argument("--dataset", type=Path, default=None, help="use this dataset instead")
    parser.add_argument("--worker-memory", default="2GiB")
    args = parser.parse_args()

    print(f"2 CPUs, load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="bench_scale_") as scratch:  # 1.7 GB for a week
        run(args, args.dataset or (args.out or Path(scratch)) / "fleet.parquet")


def run(args: argparse.Namespace, root: Path) -> None:
    """Every part, on the dataset at ``root`` (generated there first without ``--dataset``)."""
    if args.dataset is None:
        made = generate(args.nodes, args.duration, args.seed, root)
        print(f"1. generated {made['events']:,} events ({args.nodes} nodes, {args.duration}) in "
              f"{made['seconds']:.1f} s: {made['events'] / made['seconds']:,.0f} events/s, "
              f"peak RSS {made['rss'] / 2**20:,.0f} MiB (target < 1,024)")
    total = dataset_bytes(root)
    counts = {c: rows(root, c) for c in CHANNELS}
    print(f"dataset {root}: {total / 2**20:,.0f} MiB on disk, "
          + ", ".join(f"{c} {n:,}" for c, n in counts.items()))

    fleet = open_dataset(root)
    first = fleet.files("monitoring_events")[0]
    node = pq.ParquetFile(first).read_row_group(0, columns=["node_id"]).column(0)[0].as_py()
    stamps = fleet.frame("monitoring_events", nodes=[node], columns=["timestamp"])["timestamp"]
    middle = stamps.iloc[len(stamps) // 2].floor("D")
    for label, start, end in (("one day", middle, middle + pd.Timedelta("1D")),
                              ("whole span", None, None)):
        found = push_down(fleet, node, start, end)
        print(f"2. {node}, {label}: {found['rows']:,} rows in {found['seconds']:.2f} s, "
              f"read {found['read'] / 2**20:,.1f} MiB = {found['read'] / total:.2%} of the "
              f"dataset (targets < 2 %, < 1 s)")

    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, memory_limit=args.worker_memory,
                      processes=True) as cluster, Client(cluster) as client:
        workers = set(client.scheduler_info()["workers"])
        with Peaks(client) as peaks:
            for name, call in analyses(fleet.to_dask).items():
                seconds, result = timed(call)
                print(f"3. {name} of the whole dataset on Dask: {seconds:.1f} s, "
                      f"{len(result):,} rows")
        restarted = workers != set(client.scheduler_info()["workers"])
        print("   worker peak RSS: " + ", ".join(f"{v / 2**20:,.0f} MiB" for v in
                                                 peaks.peak.values())
              + f" (limit {args.worker_memory} each); a worker restarted: {restarted}")
        start, end = middle, middle + pd.Timedelta("1D")
        one_day = {c: fleet.frame(c, start=start, end=end) for c in CHANNELS}
        per_row = one_day["monitoring_events"].memory_usage(deep=True).sum() / max(
            len(one_day["monitoring_events"]), 1)
        print(f"   as pandas frames the channels would take about "
              f"{sum(counts.values()) * per_row / GiB:,.1f} GiB "
              f"({per_row:,.0f} B a row) against the cluster's 2 x {args.worker_memory}")
        for name in analyses(one_day.__getitem__):
            p_seconds, _ = timed(analyses(one_day.__getitem__)[name])
            d_seconds, _ = timed(analyses(
                lambda c: fleet.to_dask(c, start=start, end=end))[name])
            print(f"4. {name}, one day: pandas {p_seconds:.2f} s, Dask {d_seconds:.2f} s "
                  f"({d_seconds / p_seconds:.1f}x)")


if __name__ == "__main__":
    main()
