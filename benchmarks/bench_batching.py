"""Batches through the real server (docs/protocol.md section 14): bytes on the wire per event,
events/s through a 20 Mbit/s link, and the latency batching adds at 1,000 events/s.

The replay server runs in its own process (``openagi_nb.cli serve``); the clients are
``EventStream`` in this process. Three parts (``--parts``):

a. ``bytes``: the bundled capture (``--capture``) at ``--speed max --wait-for 1`` read whole
   through a counting TCP proxy (``_throttle.py`` with no limit, in a thread of this process):
   every byte the client received on its sockets (status request, handshake, acks, frames) per
   event, for one message per frame (``batch=False``), ``"json"`` batches and ``"arrow"``
   batches uncompressed, lz4 and zstd; ratio to one message per frame.
b. ``link``: the same capture looped (``--loop``) through ``_throttle.py`` in its own process at
   ``--mbit`` (20) Mbit/s each way: events/s over ``--seconds`` (5) after the first event, for
   ``batch=False``, arrow uncompressed, lz4, zstd; ratios to one message per frame and to arrow
   uncompressed.
c. ``latency``: a capture of ``--latency-seconds`` (10) at one message per ms, timestamps on
   whole milliseconds from a whole second, replayed at ``--speed 1`` (1,000 events/s); a
   batched ``EventStream`` (arrow lz4, its default 50 ms max delay) and an unbatched one on the
   same server at the same time, both holding the clock (``--wait-for 2``). Listeners note
   ``time.monotonic()`` per ``seq``; batched latency = batched arrival - unbatched arrival of
   the same ``seq`` (the unbatched arrival is the send time plus a fraction of a ms on
   loopback). The unbatched stream's own arrival - timestamp (wall clock) is printed too: the
   server shifts timestamps by whole seconds, so it carries a constant offset of up to 1 s
   (where in its second the clock started); its spread above its minimum is the unbatched
   delay's jitter. Listeners of an arrow stream get messages rebuilt from the rows
   (``model.messages_of``) once per batch, before the first callback of the batch: at 1,000
   events/s that is ~50 rows a batch, well under a ms, included in the figure.

Targets (batches issue): compressed arrow <= 1/4 of one-per-frame bytes per event; through
20 Mbit/s >= 3x the events/s of the uncompressed stream; p99 batched latency < max delay + 20 ms
(70 ms). The machine has 2 cores shared by server, proxy and client: figures are pessimistic.

    .venv/bin/python benchmarks/bench_batching.py [--parts bytes link latency] [--seconds 5]
        [--mbit 20] [--latency-seconds 10] [--capture PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from _launch import launch
from _throttle import Throttle

from openagi_nb.capture import iter_lines
from openagi_nb.server._tokens import issue_token
from openagi_nb.stream import EventStream

ROOT = Path(__file__).resolve().parent.parent
SECRET = "benchmark-secret-" + "b" * 32
TYPES = ("network_event", "consensus_event", "security_event", "monitoring_event")
VARIANTS: dict[str, dict[str, Any]] = {
    "one/frame": {"batch": False},
    "json": {"batch": "json"},
    "arrow none": {"batch": "arrow", "compression": None},
    "arrow lz4": {"batch": "arrow", "compression": "lz4"},
    "arrow zstd": {"batch": "arrow", "compression": "zstd"},
}


def serve(capture: str, *extra: str) -> tuple[subprocess.Popen[str], str, int]:
    process, base = launch([sys.executable, "-m", "openagi_nb.cli", "serve", capture,
                            "--port", "0", "--secret", SECRET, *extra])
    return process, base, int(base.rsplit(":", 1)[1])


def stream(port: int, **kwargs: Any) -> EventStream:
    return EventStream(f"ws://127.0.0.1:{port}/api/v1/ws",
                       token=issue_token(SECRET, "bench", 3600), **kwargs)


def stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    process.wait(30)


# --- a. bytes on the wire ---------------------------------------------------------------------


def wire_bytes(capture: str, events: int, timeout: float) -> None:
    print(f"\na. bytes received per event, the whole capture ({events:,} events), "
          "every byte on the client's sockets")
    print(f"{'variant':>11} {'events':>8} {'bytes':>12} {'B/event':>8} {'vs one/frame':>13}"
          "  granted")
    base = None
    for name, kwargs in VARIANTS.items():
        server, _, port = serve(capture, "--speed", "max", "--wait-for", "1")
        proxy = Throttle("127.0.0.1", port, mbit=0).start()
        try:
            s = stream(proxy.port, **kwargs).start()
            with contextlib.suppress(TimeoutError):
                s.wait_for(events, timeout=timeout)
            time.sleep(0.2)  # what is still in flight (nothing should be)
            stats = s.stats
            s.stop()
        finally:
            stop(server)
        per = proxy.down / max(stats.total, 1)
        base = base or per
        print(f"{name:>11} {stats.total:>8,} {proxy.down:>12,} {per:>8.1f} {per / base:>12.2f}x"
              f"  {stats.batching}")
    print("target: compressed arrow <= 0.25x one/frame")


# --- b. through a bandwidth-limited link ----------------------------------------------------


def link(capture: str, mbit: float, seconds: float) -> None:
    print(f"\nb. events/s through a {mbit:g} Mbit/s proxy (each way, its own process), "
          f"{seconds:g} s after the first event, server --speed max --loop")
    rates: dict[str, float] = {}
    for name in ("one/frame", "arrow none", "arrow lz4", "arrow zstd"):
        server, _, port = serve(capture, "--speed", "max", "--loop", "--wait-for", "1")
        proxy, base = launch([sys.executable, str(Path(__file__).parent / "_throttle.py"),
                              f"127.0.0.1:{port}", "--mbit", str(mbit)], "proxy")
        try:
            s = stream(int(base.rsplit(":", 1)[1]), **VARIANTS[name]).start()
            s.wait_for(1, timeout=30)
            n0, t0 = s.stats.total, time.perf_counter()
            time.sleep(seconds)
            n1, t1 = s.stats.total, time.perf_counter()
            s.stop()
        finally:
            stop(proxy)
            stop(server)
        rates[name] = (n1 - n0) / (t1 - t0)
        print(f"  {name:>11} {rates[name]:>11,.0f} events/s  "
              f"({rates[name] / rates['one/frame']:.2f}x one/frame"
              + (f", {rates[name] / rates['arrow none']:.2f}x arrow none)" if "arrow none" in rates
                 else ")"), flush=True)
    print("target: compressed >= 3x the uncompressed stream's events/s")


# --- c. latency at 1,000 events/s -----------------------------------------------------------


def latency_capture(source: str, path: str, seconds: float) -> int:
    """Messages of ``source`` one per ms from a whole second, ``seconds`` long (cycled)."""
    lines = [orjson.loads(line) for _, line in iter_lines(source)]
    n = int(seconds * 1000)
    t0 = np.datetime64("2026-01-01T00:00:00", "ms")
    with open(path, "wb") as f:
        for i in range(n):
            obj = dict(lines[i % len(lines)])
            obj["timestamp"] = f"{t0 + np.timedelta64(i, 'ms')}000Z"
            obj["seq"] = i + 1
            f.write(orjson.dumps(obj) + b"\n")
    return n


def latency(source: str, seconds: float) -> None:
    print(f"\nc. latency at 1,000 events/s for {seconds:g} s (--speed 1, one message a ms), "
          "batched arrow lz4 vs unbatched on the same server at once")
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "latency.jsonl")
        n = latency_capture(source, path, seconds)
        server, _, port = serve(path, "--speed", "1", "--wait-for", "2")
        arrivals: dict[str, dict[int, float]] = {"batched": {}, "unbatched": {}}
        walls: dict[int, float] = {}
        stamps: dict[int, str] = {}
        streams = {"batched": stream(port), "unbatched": stream(port, batch=False)}
        for kind, s in streams.items():
            seen = arrivals[kind]

            def note(m: dict[str, Any], seen: dict[int, float] = seen, kind: str = kind) -> None:
                seen[m["seq"]] = time.monotonic()
                if kind == "unbatched":
                    walls[m["seq"]] = time.time()
                    stamps[m["seq"]] = m["timestamp"]

            for t in TYPES:
                s.on(t, note)
        try:
            for s in streams.values():
                s.start()
            for s in streams.values():
                with contextlib.suppress(TimeoutError):
                    s.wait_for(n, timeout=seconds + 30)
            batching = streams["batched"].stats.batching
            for s in streams.values():
                s.stop()
        finally:
            stop(server)
    both = sorted(arrivals["batched"].keys() & arrivals["unbatched"].keys())
    lat = np.array([arrivals["batched"][q] - arrivals["unbatched"][q] for q in both]) * 1e3
    stamp = np.array([np.datetime64(stamps[q].rstrip("Z"), "us").astype(np.int64) / 1e6
                      for q in both])
    own = (np.array([walls[q] for q in both]) - stamp) * 1e3

    def line(name: str, v: np.ndarray) -> None:
        p50, p90, p99 = np.percentile(v, [50, 90, 99])
        print(f"  {name:<44} p50 {p50:7.1f}  p90 {p90:7.1f}  p99 {p99:7.1f}  max "
              f"{v.max():7.1f}  min {v.min():7.1f} ms")

    print(f"  {len(both):,} events seen by both ({n:,} sent); batched: {batching}")
    line("batched - unbatched arrival", lat)
    line("unbatched arrival - timestamp (wall)", own)
    line("  the same minus its minimum (jitter)", own - own.min())
    print(f"  target: p99 of batched - unbatched < 70 ms (50 ms max delay + 20): "
          f"{np.percentile(lat, 99):.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capture", default=str(ROOT / "data" / "sample_capture.jsonl.gz"))
    parser.add_argument("--parts", nargs="+", default=["bytes", "link", "latency"],
                        choices=["bytes", "link", "latency"])
    parser.add_argument("--mbit", type=float, default=20.0, help="link speed, Mbit/s each way")
    parser.add_argument("--seconds", type=float, default=5.0, help="per link variant")
    parser.add_argument("--latency-seconds", type=float, default=10.0)
    parser.add_argument("--timeout", type=float, default=120.0, help="per bytes variant")
    args = parser.parse_args()
    events = sum(1 for _ in iter_lines(args.capture))
    print(f"capture {args.capture}: {events:,} messages; {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}")
    if "bytes" in args.parts:
        wire_bytes(args.capture, events, args.timeout)
    if "link" in args.parts:
        link(args.capture, args.mbit, args.seconds)
    if "latency" in args.parts:
        latency(args.capture, args.latency_seconds)


if __name__ == "__main__":
    main()
