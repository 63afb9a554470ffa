"""Live ingestion: EventStream into LiveFrames vs the raw receive loop vs the naive notebook loop.

One run, one capture (a seeded scenario of about 200,000 messages), the real replay server at
``--speed max --wait-for 1`` in its own process, started afresh for each client, and each client
in its own process, one after the other (raw and eventstream alternating, ``--runs`` each, the
median reported):

- ``raw``: websocket-client's receive loop with ``skip_utf8_validation=True``, payload discarded
  (the ceiling for anything built on websocket-client);
- ``eventstream``: ``EventStream`` with its default ``window=1_000_000``: decode, validate,
  flatten, dedupe, append to typed columns;
- ``naive`` (once: it takes a minute): what a notebook cell does: websocket-client with its
  defaults, ``json.loads``, a list of dicts, ``pd.DataFrame(list)`` rebuilt every 1,000 events.

Then, in another process: a 1M-row monitoring ``LiveFrame`` filled from the capture's rows, its
RSS per buffered event, and ``snapshot()`` time against building the same frame the way
``Capture`` does (``model.to_frame`` from column lists).

Targets (issue 4): eventstream >= 0.6x raw and >= 10x naive events/s; < 200 bytes RSS per
buffered monitoring event; a 1M-row snapshot < 100 ms. The machine has 2 cores shared by the
server, the client and whatever else runs: figures are pessimistic.

    .venv/bin/python benchmarks/bench_ingest.py [--capture PATH] [--runs 3] [--naive-timeout 150]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _launch import launch

ROOT = Path(__file__).resolve().parent.parent
SECRET = "benchmark-secret-" + "i" * 32
CHANNELS = ("network_events", "consensus_events", "security_events", "monitoring_events")
DATA_TYPES = {"network_event", "consensus_event", "security_event", "monitoring_event"}
SNAPSHOT_ROWS = 1_000_000
IDLE = 3.0  # seconds without a message: the replay is over


def rss() -> int:
    """Resident set size of this process, bytes."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# --- the server -------------------------------------------------------------------------------


def start_server(capture: str) -> tuple[subprocess.Popen[str], str]:
    return launch([sys.executable, "-m", "openagi_nb.cli", "serve", capture, "--port", "0",
                   "--speed", "max", "--wait-for", "1", "--secret", SECRET])


def run_client(kind: str, capture: str, expected: int, timeout: float) -> dict[str, Any]:
    from openagi_nb.server._tokens import issue_token

    server, base = start_server(capture)
    try:
        url = base.replace("http", "ws", 1) + "/api/v1/ws"
        token = issue_token(SECRET, "bench", 3600)
        out = subprocess.run(
            [sys.executable, __file__, "--client", kind, url, token, str(expected), str(timeout)],
            capture_output=True, text=True, timeout=timeout + 60, check=True,
        )
    finally:
        server.terminate()
        server.wait(30)
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- the clients (each in its own process) ----------------------------------------------------


def subscribe_all(ws: Any) -> None:
    """Subscribe to every channel in one write, as EventStream does, so no client misses the
    first events of a channel while the server's clock starts."""
    import websocket

    frames = [websocket.ABNF.create_frame(json.dumps({"type": "subscribe", "channel": c}),
                                          websocket.ABNF.OPCODE_TEXT).format() for c in CHANNELS]
    ws.sock.sendall(b"".join(frames))


def raw_client(url: str, token: str, expected: int, timeout: float) -> dict[str, Any]:
    import websocket

    ws = websocket.create_connection(f"{url}?token={token}", skip_utf8_validation=True,
                                     timeout=IDLE)
    t0, c0 = time.perf_counter(), time.process_time()
    subscribe_all(ws)
    n, last = 0, t0
    while n < expected and last - t0 < timeout:
        try:
            _, data = ws.recv_data()
        except websocket.WebSocketTimeoutException:
            break
        if b'"seq"' in data:
            n += 1
            last = time.perf_counter()
    return {"events": n, "seconds": last - t0, "cpu": time.process_time() - c0, "rss": rss()}


def naive_client(url: str, token: str, expected: int, timeout: float) -> dict[str, Any]:
    import pandas as pd
    import websocket

    ws = websocket.create_connection(f"{url}?token={token}", timeout=IDLE)
    t0, c0 = time.perf_counter(), time.process_time()
    subscribe_all(ws)
    events: list[dict[str, Any]] = []
    df = pd.DataFrame()
    last = t0
    while len(events) < expected and last - t0 < timeout:
        try:
            message = json.loads(ws.recv())
        except websocket.WebSocketTimeoutException:
            break
        if message.get("type") in DATA_TYPES:
            events.append(message)
            last = time.perf_counter()
            if len(events) % 1000 == 0:
                df = pd.DataFrame(events)
    return {"events": len(events), "seconds": last - t0, "cpu": time.process_time() - c0,
            "rss": rss(), "rows": len(df)}


def eventstream_client(url: str, token: str, expected: int, timeout: float) -> dict[str, Any]:
    from openagi_nb.stream import EventStream

    stream = EventStream(url, token=token)  # window=1_000_000 rows per channel
    before = rss()
    t0, c0 = time.perf_counter(), time.process_time()
    stream.start()
    try:
        stream.wait_for(expected, timeout=timeout)
        t1 = time.perf_counter()
    except TimeoutError:  # fewer arrived: time to the last one
        t1 = _last_event(stream)
    cpu = time.process_time() - c0
    after = rss()
    stats = stream.stats
    buffered = sum(len(stream.live_frame(c)) for c in CHANNELS)
    start = time.perf_counter()
    df = stream.frame("monitoring_events")
    snap = time.perf_counter() - start
    stream.stop()
    return {"events": stats.total, "seconds": t1 - t0, "cpu": cpu, "rss": after,
            "rss_per_event": (after - before) / max(buffered, 1), "buffered": buffered,
            "rejected": sum(stats.rejected.values()), "duplicates": stats.duplicates,
            "monitoring_rows": len(df), "monitoring_snapshot_ms": snap * 1e3}


def _last_event(stream: Any) -> float:
    total, when = stream.stats.total, time.perf_counter()
    while time.perf_counter() - when < IDLE:
        time.sleep(0.01)
        if stream.stats.total != total:
            total, when = stream.stats.total, time.perf_counter()
    return when


# --- the 1M-row snapshot (its own process) ----------------------------------------------------


def snapshot_bench(capture: str, rows: int) -> dict[str, Any]:
    from openagi_nb import model
    from openagi_nb.capture import iter_lines
    from openagi_nb.stream import LiveFrame

    source = [r for c, r in (model.flatten(model.decode(line)) for _, line in
                             iter_lines(capture)) if c == "monitoring_events"]
    span = source[-1][1] - source[0][1] + 1_000_000
    before = rss()
    frame = LiveFrame("monitoring_events", window=rows)
    append = frame.append  # row by row, as the stream's thread does
    for done in range(0, rows, len(source)):
        shift = done // len(source) * span
        for row in source[: rows - done]:
            append((row[0] + done, row[1] + shift, *row[2:]))
    len(frame)
    filled = rss()
    times, cpu = [], []
    for _ in range(5):
        start, start_cpu = time.perf_counter(), time.process_time()
        df = frame.snapshot()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
        del df
    held = []
    for _ in range(5):  # what snapshot() does under the lock: copy the live slots
        with frame._lock:
            start = time.perf_counter()
            copies = [frame._live(d) for d in frame._data]
            held.append(time.perf_counter() - start)
        del copies
    stored = sum(d.nbytes for d in frame._data)
    cols = list(zip(*(source * (rows // len(source) + 1))[:rows], strict=True))
    start = time.perf_counter()
    model.to_frame("monitoring_events", cols)
    baseline = time.perf_counter() - start
    return {"rows": len(frame), "rss_per_row": (filled - before) / rows,
            "column_bytes_per_row": stored / rows, "first_ms": times[0] * 1e3,
            "median_ms": statistics.median(times) * 1e3, "to_frame_ms": baseline * 1e3,
            "lock_ms": statistics.median(held) * 1e3, "cpu_ms": statistics.median(cpu) * 1e3,
            "load": os.getloadavg()[0]}


# --- main -------------------------------------------------------------------------------------


def make_capture(directory: str) -> tuple[str, int]:
    from openagi_nb import scenario

    path = str(Path(directory) / "ingest_capture.jsonl")
    result = scenario.write(path, seed=7, duration=4.3 * 3600)
    return path, len(result.messages)


def report(results: dict[str, dict[str, Any]], snap: dict[str, Any]) -> None:
    print("\nmedian run of each client:")
    print(f"{'client':<12} {'events':>9} {'seconds':>8} {'events/s':>10} {'cpu us/ev':>10} "
          f"{'RSS MB':>7}")
    for kind, r in results.items():
        rate = r["rate"]
        print(f"{kind:<12} {r['events']:>9,} {r['seconds']:>8.2f} {rate:>10,.0f} "
              f"{r['cpu'] / r['events'] * 1e6:>10.2f} {r['rss'] / 2**20:>7.0f}")
    es, raw, naive = results["eventstream"], results["raw"], results["naive"]
    print(f"\neventstream / raw   = {es['rate'] / raw['rate']:.2f}x  (target >= 0.6x)")
    print(f"eventstream / naive = {es['rate'] / naive['rate']:.1f}x  (target >= 10x)")
    print(f"eventstream: {es['buffered']:,} events buffered, {es['rss_per_event']:.0f} B RSS "
          f"per buffered event (whole process growth), {es['rejected']} rejected, "
          f"{es['duplicates']} duplicates, {es['monitoring_rows']:,}-row snapshot in "
          f"{es['monitoring_snapshot_ms']:.0f} ms")
    print(f"\nLiveFrame, {snap['rows']:,} monitoring rows: {snap['rss_per_row']:.0f} B RSS per "
          f"row ({snap['column_bytes_per_row']:.0f} B of columns; target < 200)")
    print(f"snapshot(): first {snap['first_ms']:.0f} ms, median of 5 {snap['median_ms']:.0f} ms "
          f"wall, {snap['cpu_ms']:.0f} ms CPU (target < 100; load average {snap['load']:.1f} on "
          f"{os.cpu_count()} CPUs); model.to_frame from column lists (the capture's way): "
          f"{snap['to_frame_ms']:.0f} ms = {snap['to_frame_ms'] / snap['median_ms']:.1f}x slower")
    print(f"the lock is held {snap['lock_ms']:.0f} ms of it (the copy of the live slots); "
          f"appends wait that long at most")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capture", help="capture to replay (default: generate ~200k)")
    parser.add_argument("--runs", type=int, default=3, help="runs of raw and eventstream")
    parser.add_argument("--naive-timeout", type=float, default=150.0,
                        help="seconds the naive client may take at most (it is O(n^2))")
    parser.add_argument("--client", nargs=5, help=argparse.SUPPRESS)
    parser.add_argument("--snapshot", nargs=2, metavar=("CAPTURE", "ROWS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:  # KIND URL TOKEN N TIMEOUT
        kind, url, token, n, timeout = args.client
        client = {"raw": raw_client, "naive": naive_client, "eventstream": eventstream_client}
        print(json.dumps(client[kind](url, token, int(n), float(timeout))))
        return
    if args.snapshot:
        print(json.dumps(snapshot_bench(args.snapshot[0], int(args.snapshot[1]))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        if args.capture:
            capture = args.capture
            with open(capture, "rb") as f:
                expected = sum(1 for line in f if line.strip())
        else:
            capture, expected = make_capture(tmp)
        print(f"capture {capture}: {expected:,} messages")
        runs: dict[str, list[dict[str, Any]]] = {"raw": [], "eventstream": [], "naive": []}
        order = ["raw", "eventstream"] * args.runs + ["naive"]  # interleaved: same conditions
        for kind in order:
            timeout = args.naive_timeout if kind == "naive" else 120.0
            result = run_client(kind, capture, expected, timeout)
            result["rate"] = result["events"] / result["seconds"]
            runs[kind].append(result)
            print(f"{kind}: {result['events']:,} events in {result['seconds']:.2f} s "
                  f"({result['rate']:,.0f}/s)", flush=True)
        results = {k: sorted(v, key=lambda r: r["rate"])[len(v) // 2] for k, v in runs.items()}
        out = subprocess.run([sys.executable, __file__, "--snapshot", capture, str(SNAPSHOT_ROWS)],
                             capture_output=True, text=True, check=True, timeout=600)
        report(results, json.loads(out.stdout.strip().splitlines()[-1]))


if __name__ == "__main__":
    main()
