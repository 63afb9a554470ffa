"""Live ingestion: EventStream (batched and not) into LiveFrames vs the raw receive loop vs the
naive notebook loop.

One run, one capture (a seeded scenario of ``--events`` messages, 1,000,000 by default, so that
even the fastest client takes a few seconds), the real replay server at ``--speed max
--wait-for 1`` in its own process, started afresh for each client, and each client in its own
process, one after the other (raw, unbatched and batched alternating, ``--runs`` each, the
median reported):

- ``raw``: websocket-client's receive loop with ``skip_utf8_validation=True``, one message per
  frame, payload discarded (the ceiling for anything built on websocket-client without batches);
- ``unbatched``: ``EventStream(batch=False)`` with its default ``window=1_000_000``: one message
  per frame, decode, validate, flatten, dedupe, append to typed columns;
- ``batched``: ``EventStream()`` as it comes (``batch=True``: Arrow batches, lz4, up to 4,096
  events or 50 ms, docs/protocol.md section 14), the columns straight into the LiveFrames;
  ``stats.batching`` (what the server granted) is printed;
- ``naive`` (once, on the first ``--naive-events``: it is O(n^2)): what a notebook cell does:
  websocket-client with its defaults, ``json.loads``, a list of dicts, ``pd.DataFrame(list)``
  rebuilt every 1,000 events.

The server's CPU time over each run is read from ``/proc/<pid>/stat``: a server busy nearly all
of the client's wall time (one core: it is one asyncio thread) is the bottleneck, not the client,
and the output says so.

Then, in another process: a 1M-row monitoring ``LiveFrame`` filled from the capture's rows, its
RSS per buffered event, and ``snapshot()`` time against building the same frame the way
``Capture`` does (``model.to_frame`` from column lists).

Targets: issue 4: unbatched >= 0.6x raw and >= 10x naive events/s; < 200 bytes RSS per
buffered monitoring event; a 1M-row snapshot < 100 ms. Batches issue: batched >= 500,000
events/s and >= 4x unbatched in the same run; < 200 B RSS per buffered event. The machine has 2
cores shared by the server, the client and whatever else runs: figures are pessimistic.

    .venv/bin/python benchmarks/bench_ingest.py [--events 1000000 | --capture PATH] [--runs 3]
        [--naive-events 200000] [--naive-timeout 150] [--no-naive] [--no-snapshot]
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
KINDS = ("raw", "unbatched", "batched")
BUSY = 0.85  # server CPU over the client's wall time above which the server is the bottleneck


def rss() -> int:
    """Resident set size of this process, bytes."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# --- the server -------------------------------------------------------------------------------


def start_server(capture: str) -> tuple[subprocess.Popen[str], str]:
    return launch([sys.executable, "-m", "openagi_nb.cli", "serve", capture, "--port", "0",
                   "--speed", "max", "--wait-for", "1", "--secret", SECRET])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_client(kind: str, capture: str, expected: int, timeout: float) -> dict[str, Any]:
    from openagi_nb.server._tokens import issue_token

    server, base = start_server(capture)
    try:
        url = base.replace("http", "ws", 1) + "/api/v1/ws"
        token = issue_token(SECRET, "bench", 3600)
        cpu0 = cpu_seconds(server.pid)  # the capture is loaded: it printed its URL
        out = subprocess.run(
            [sys.executable, __file__, "--client", kind, url, token, str(expected), str(timeout)],
            capture_output=True, text=True, timeout=timeout + 60, check=True,
        )
        server_cpu = cpu_seconds(server.pid) - cpu0  # includes the client's IDLE tail, if any
    finally:
        server.terminate()
        server.wait(30)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["server_cpu"] = server_cpu
    return result


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
    n, last, first_at = 0, t0, 0.0
    while n < expected and last - t0 < timeout:
        try:
            _, data = ws.recv_data()
        except websocket.WebSocketTimeoutException:
            break
        if b'"event":' in data:  # a data message (the subscribe acks have a "seq" too)
            n += 1
            last = time.perf_counter()
            if n == 1:
                first_at = last
    return {"events": n, "seconds": last - t0, "cpu": time.process_time() - c0, "rss": rss(),
            "startup": first_at - t0, "steady": (n - 1) / (last - first_at) if n > 1 else 0.0}


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


def eventstream_client(url: str, token: str, expected: int, timeout: float,
                       batch: bool = False) -> dict[str, Any]:
    from openagi_nb.stream import EventStream

    # window=1_000_000 rows per channel: every event of the run stays buffered
    stream = EventStream(url, token=token, batch=batch)
    before = rss()
    t0, c0 = time.perf_counter(), time.process_time()
    stream.start()
    try:
        stream.wait_for(1, timeout=timeout)  # connected, subscribed, the first frame read
        first_at, first = time.perf_counter(), stream.stats.total
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
            "startup": first_at - t0, "steady": (stats.total - first) / (t1 - first_at),
            "rss_per_event": (after - before) / max(buffered, 1), "buffered": buffered,
            "rejected": sum(stats.rejected.values()), "duplicates": stats.duplicates,
            "monitoring_rows": len(df), "monitoring_snapshot_ms": snap * 1e3,
            "batching": stats.batching}


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


def make_capture(directory: str, events: int) -> tuple[str, int]:
    from openagi_nb import scenario

    path = str(Path(directory) / "ingest_capture.jsonl")
    # the seeded scenario makes about 46,400 messages an hour (4.3 h: about 200,000)
    result = scenario.write(path, seed=7, duration=events / 46_400 * 3600)
    return path, len(result.messages)


def report(results: dict[str, dict[str, Any]], snap: dict[str, Any] | None) -> None:
    print("\nmedian run of each client (server CPU: its /proc stat over the client's run; "
          "busy = server CPU / client wall time, one core at most):")
    print(f"{'client':<10} {'events':>9} {'seconds':>8} {'events/s':>10} {'1st frame':>10} "
          f"{'then ev/s':>10} {'cpu us/ev':>10} {'RSS MB':>7} {'srv us/ev':>10} {'srv busy':>9}")
    for kind, r in results.items():
        busy = r["server_cpu"] / r["seconds"]
        flag = "  <- server-bound" if busy >= BUSY else ""
        first = f"{r['startup'] * 1e3:.0f} ms" if "startup" in r else "-"
        then = f"{r['steady']:,.0f}" if "steady" in r else "-"
        print(f"{kind:<10} {r['events']:>9,} {r['seconds']:>8.2f} {r['rate']:>10,.0f} "
              f"{first:>10} {then:>10} {r['cpu'] / r['events'] * 1e6:>10.2f} "
              f"{r['rss'] / 2**20:>7.0f} "
              f"{r['server_cpu'] / r['events'] * 1e6:>10.2f} {busy:>8.0%}{flag}")
    raw, un, ba = results["raw"], results["unbatched"], results["batched"]
    naive = results.get("naive")
    print("\n'events/s' counts from start() (raw: from the subscribe) to the last event; it "
          "includes the server's\n0.25 s grace after --wait-for is met (WAIT_FOR_GRACE) and the "
          "connect: 'then ev/s' counts from the first data frame on.")
    print(f"batched: {ba['batching']}")
    print(f"batched / unbatched   = {ba['rate'] / un['rate']:.2f}x overall, "
          f"{ba['steady'] / un['steady']:.2f}x after the first frame  (target >= 4x; batched "
          f"{ba['rate']:,.0f}/s overall, {ba['steady']:,.0f}/s after, target >= 500,000/s)")
    print(f"batched / raw         = {ba['rate'] / raw['rate']:.2f}x overall, "
          f"{ba['steady'] / raw['steady']:.2f}x after  (raw: one message a frame, discarded)")
    print(f"unbatched / raw       = {un['rate'] / raw['rate']:.2f}x overall, "
          f"{un['steady'] / raw['steady']:.2f}x after  (target >= 0.6x)")
    if naive:
        print(f"unbatched / naive     = {un['rate'] / naive['rate']:.1f}x  (target >= 10x; naive "
              f"read {naive['events']:,} events)")
        print(f"batched / naive       = {ba['rate'] / naive['rate']:.1f}x")
    for kind in ("unbatched", "batched"):
        r = results[kind]
        print(f"{kind}: {r['buffered']:,} events buffered, {r['rss_per_event']:.0f} B RSS "
              f"per buffered event (whole process growth{', target < 200' * (kind == 'batched')}"
              f"), {r['rejected']} rejected, {r['duplicates']} duplicates, "
              f"{r['monitoring_rows']:,}-row snapshot in {r['monitoring_snapshot_ms']:.0f} ms")
    bound = [k for k, r in results.items() if r["server_cpu"] / r["seconds"] >= BUSY]
    if bound:
        print(f"NOTE: the server was busy >= {BUSY:.0%} of the run for {', '.join(bound)}: "
              "there the server (--speed max, one thread) is the bottleneck, not the client")
    if snap is None:
        return
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
    parser.add_argument("--capture", help="capture to replay (default: generate --events)")
    parser.add_argument("--events", type=int, default=1_000_000,
                        help="messages of the generated capture (about; default 1,000,000)")
    parser.add_argument("--runs", type=int, default=3, help="runs of raw, unbatched, batched")
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="seconds a raw / unbatched / batched client may take at most")
    parser.add_argument("--naive-events", type=int, default=200_000,
                        help="events the naive client reads (it is O(n^2))")
    parser.add_argument("--naive-timeout", type=float, default=150.0,
                        help="seconds the naive client may take at most")
    parser.add_argument("--no-naive", action="store_true", help="skip the naive client")
    parser.add_argument("--no-snapshot", action="store_true", help="skip the 1M-row snapshot")
    parser.add_argument("--client", nargs=5, help=argparse.SUPPRESS)
    parser.add_argument("--snapshot", nargs=2, metavar=("CAPTURE", "ROWS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:  # KIND URL TOKEN N TIMEOUT
        kind, url, token, n, timeout = args.client
        client = {"raw": raw_client, "naive": naive_client, "unbatched": eventstream_client,
                  "batched": lambda *a: eventstream_client(*a, batch=True)}
        print(json.dumps(client[kind](url, token, int(n), float(timeout))))
        return
    if args.snapshot:
        print(json.dumps(snapshot_bench(args.snapshot[0], int(args.snapshot[1]))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        if args.capture:
            capture = args.capture
            from openagi_nb.capture import iter_lines
            expected = sum(1 for _ in iter_lines(capture))
        else:
            capture, expected = make_capture(tmp, args.events)
        print(f"capture {capture}: {expected:,} messages; {os.cpu_count()} CPUs, load average "
              f"{os.getloadavg()[0]:.1f}")
        runs: dict[str, list[dict[str, Any]]] = {k: [] for k in KINDS}
        order = list(KINDS) * args.runs  # interleaved: same conditions
        if not args.no_naive:
            runs["naive"] = []
            order.append("naive")
        for kind in order:
            n = min(expected, args.naive_events) if kind == "naive" else expected
            timeout = args.naive_timeout if kind == "naive" else args.timeout
            result = run_client(kind, capture, n, timeout)
            result["rate"] = result["events"] / result["seconds"]
            runs[kind].append(result)
            print(f"{kind}: {result['events']:,} events in {result['seconds']:.2f} s "
                  f"({result['rate']:,.0f}/s; server CPU {result['server_cpu']:.2f} s)",
                  flush=True)
        results = {k: sorted(v, key=lambda r: r["rate"])[len(v) // 2] for k, v in runs.items()}
        snap = None
        if not args.no_snapshot:
            out = subprocess.run(
                [sys.executable, __file__, "--snapshot", capture, str(SNAPSHOT_ROWS)],
                capture_output=True, text=True, check=True, timeout=600)
            snap = json.loads(out.stdout.strip().splitlines()[-1])
        report(results, snap)


if __name__ == "__main__":
    main()
