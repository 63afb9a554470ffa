"""Replay server throughput and memory at ``--speed max``, against a naive baseline.

Measures, with the server in its own process and raw-socket clients in other processes (a
buffered frame reader that is much faster than the server, so the server is what is measured):

1. messages/s delivered to one client subscribed to every channel;
2. total deliveries/s to 50 clients, with drops (holes in ``seq``);
3. the same two with batched clients (docs/protocol.md section 14): the reader sends
   ``{"type":"batch","format":"arrow","compression":"lz4"}`` (``--batch-format``,
   ``--batch-compression``) in the same write as its subscribes and counts the events of each
   batch frame: an Arrow frame by ``pyarrow.ipc.open_stream(..).read_all()`` (``num_rows``, and
   the ``seq`` column for drops; it decompresses the bodies) or, with ``--arrow-count header``,
   by the record batch's ``length`` read from the IPC message's flatbuffer header alone (no
   body touched, no drops counted); a ``"json"`` batch by its header line's ``count``;
4. server memory: idle, with 50 clients, per client;
5. server memory over a looped replay (``--loop-seconds``, 300 by default: the issue's target).

Batched runs read many more events (``--batched-one``, ``--batched-each``) so that they last a
few seconds too. Targets (batches issue): >= 2,000,000 events/s to one batched client,
>= 5,000,000 deliveries/s to 50.

The naive baseline is an aiohttp server doing what most replay servers do: the same pre-encoded
messages, one ``await ws.send_str()`` per message per client. Both run on the same capture in the
same run. The machine may be shared: figures are pessimistic.

    .venv/bin/python benchmarks/bench_server.py [--loop-seconds 30] [--clients 50]
        [--batched-one 10000000] [--batched-each 500000] [--arrow-count read|header]
        [--no-unbatched] [--no-batched] [--no-naive]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import multiprocessing as mp
import os
import selectors
import socket
import subprocess
import sys
import time
import urllib.request
from collections import deque
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
from _launch import launch

from openagi_nb.server._tokens import issue_token

ROOT = Path(__file__).resolve().parent.parent
SECRET = "benchmark-secret-" + "s" * 32
CHANNELS = ("network_events", "consensus_events", "security_events", "monitoring_events")


# --- servers ----------------------------------------------------------------------------------


def start_server(kind: str, capture: str, wait_for: int, extra: list[str] | None = None
                 ) -> tuple[subprocess.Popen[str], str]:
    """Start ``ours`` (openagi-nb serve) or ``naive`` in a subprocess; return it and its URL."""
    if kind == "ours":
        argv = [sys.executable, "-m", "openagi_nb.cli", "serve", capture, "--port", "0",
                "--speed", "max", "--loop", "--wait-for", str(wait_for), "--secret", SECRET,
                *(extra or [])]
    else:
        argv = [sys.executable, __file__, "--naive-server", capture, "--wait-for", str(wait_for)]
    return launch(argv, f"{kind} server")


def naive_server(capture: str, wait_for: int) -> None:
    """The baseline: same messages (encoded once), one ``send_str`` per message per client."""
    from aiohttp import web

    from openagi_nb.server._replay import SecondsFormatter, load_replay

    replay = load_replay(capture)
    clients: list[web.WebSocketResponse] = []
    ready = asyncio.Event()

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=False)
        await ws.prepare(request)
        subscribed = 0
        async for msg in ws:
            subscribed += '"subscribe"' in msg.data
            if subscribed == len(CHANNELS) and ws not in clients:
                clients.append(ws)
                if len(clients) >= wait_for:
                    ready.set()
        if ws in clients:
            clients.remove(ws)
        return ws

    async def publish() -> None:
        await ready.wait()
        fmt, n, seq = SecondsFormatter(), len(replay), 0
        offset = int(time.time()) - replay.first_second
        while True:
            seq += 1
            i, loop = (seq - 1) % n, (seq - 1) // n
            text = replay.payload(i, seq, offset + loop * replay.period, fmt).decode()
            for ws in list(clients):
                try:
                    await ws.send_str(text)
                except ConnectionError:
                    clients.remove(ws)

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/api/v1/ws", handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        print(f"http://127.0.0.1:{runner.addresses[0][1]}", flush=True)
        await publish()

    asyncio.run(main())


def rss_mb(pid: int) -> float:
    """Resident memory of a process, MB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- clients: a raw buffered frame reader ----------------------------------------------------


class RawClient:
    """One WebSocket connection read with a buffered pure-Python frame parser (no JSON).

    ``batch`` (``"arrow lz4"``, ``"json none"``...: format and compression) asks for batches
    and counts the events of each batch frame (``arrow_count``: ``"read"`` or ``"header"``)."""

    def __init__(self, url: str, token: str, batch: str | None = None,
                 arrow_count: str = "read") -> None:
        self.batch, self.arrow_count = batch, arrow_count
        self.frames = 0  # batch frames
        # per channel: each batch's (first, last, count), and the newest few payloads, to count
        # the holes below the lowest channel's last seq at the end (batches of different
        # channels interleave: a client that stops has not got the others' latest yet)
        self.batches: dict[str, list[tuple[int, int, int]]] = {}
        self.recent: dict[str, deque[tuple[int, Any]]] = {}
        host, port = url.split("//")[1].split(":")
        self.sock = socket.create_connection((host, int(port)))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            f"GET /api/v1/ws?token={token} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.sock.recv(4096)
        head, self.buf = head.split(b"\r\n\r\n", 1)
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise SystemExit(f"handshake refused: {head[:80]!r}")
        self.buf = bytearray(self.buf)
        self.data = 0
        self.first_seq = self.last_seq = 0
        self.first_at = self.last_at = 0.0
        self.marker, self.marked_at = 0, 0.0

    def subscribe_all(self) -> None:
        messages = [{"type": "subscribe", "channel": channel} for channel in CHANNELS]
        if self.batch:  # before the first subscribe, in the same write
            fmt, compression = self.batch.split()
            messages.insert(0, {"type": "batch", "format": fmt, "compression": compression})
        frames = b""
        for message in messages:
            payload = orjson.dumps(message)
            mask = os.urandom(4)
            masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            frames += bytes([0x81, 0x80 | len(payload)]) + mask + masked
        self.sock.sendall(frames)  # one write: all four land before the clock starts

    def feed(self, chunk: bytes) -> None:
        """Append received bytes and count the whole data frames they complete."""
        if self.batch:
            self.feed_batches(chunk)
            return
        buf = self.buf
        buf += chunk
        # frame_at() inline: this is the reader that must outrun the server frame by frame
        pos, end, count, last = 0, len(buf), 0, (0, 0)
        while end - pos >= 2:
            size = buf[pos + 1] & 0x7F
            head = 2
            if size == 126:
                if end - pos < 4:
                    break
                size, head = (buf[pos + 2] << 8) | buf[pos + 3], 4
            elif size == 127:
                if end - pos < 10:
                    break
                size, head = int.from_bytes(buf[pos + 2:pos + 10], "big"), 10
            if end - pos < head + size:
                break
            last = (pos + head, pos + head + size)
            pos += head + size
            # data frames start after the acks (which carry a "seq" too, but no "event")
            if self.data or count or b'"event":' in buf[last[0]:last[1]]:
                if not self.data and not count:  # the first data frame: where seq starts
                    self.first_seq = _seq(bytes(buf[last[0]:last[1]]))
                    self.first_at = time.perf_counter()
                count += 1
        if count:
            self.data += count
            self.last_seq = _seq(bytes(buf[last[0]:last[1]]))
            self.last_at = time.perf_counter()
            if self.marker and not self.marked_at and self.data >= self.marker:
                self.marked_at = self.last_at
        del buf[:pos]


    def feed_batches(self, chunk: bytes) -> None:
        """Append received bytes and count the events of the whole batch frames they complete
        (control replies, text frames without a batch header, are skipped)."""
        buf = self.buf
        buf += chunk
        pos, count = 0, 0
        while (frame := frame_at(buf, pos)) is not None:
            opcode, start, pos = frame
            if opcode == 2:  # an Arrow batch: its seqs are kept, not the payload
                channel, n, first, last, kept = arrow_events(bytes(buf[start:pos]),
                                                             self.arrow_count)
            elif opcode == 1 and buf.startswith(b'{"type":"batch",', start):
                payload = bytes(buf[start:pos])
                header = orjson.loads(payload[:payload.index(b"\n")])
                channel, n = header["channel"], header["count"]
                first, last, kept = header["first_seq"], header["last_seq"], payload
            else:
                continue
            self.batches.setdefault(channel, []).append((first, last, n))
            # the batch straddling the end's lowest seq can be this far back: a quiet channel's
            # batch waits up to 50 ms, while a busy one sends dozens
            self.recent.setdefault(channel, deque(maxlen=RECENT[opcode])).append((opcode, kept))
            if not self.data and not count:
                self.first_at = time.perf_counter()
                self.first_seq = first
            count += n
            self.frames += 1
            # batches of different channels interleave: the lowest and highest seq seen
            self.first_seq, self.last_seq = min(self.first_seq, first), max(self.last_seq, last)
        if count:
            self.data += count
            self.last_at = time.perf_counter()
            if self.marker and not self.marked_at and self.data >= self.marker:
                self.marked_at = self.last_at
        del buf[:pos]


    def below(self) -> tuple[int, int]:
        """The lowest channel's last seq, and how many events came with a seq up to it."""
        if not self.batches:
            return self.last_seq, self.data
        top = min(b[-1][1] for b in self.batches.values())
        count = 0
        for channel, batches in self.batches.items():
            count += sum(n for first, last, n in batches if last <= top)
            straddling = [(first, last) for first, last, _ in batches if first <= top < last]
            if straddling:  # at most one per channel: count its seqs up to top
                for opcode, kept in self.recent[channel]:
                    seqs = batch_seqs(opcode, kept)
                    if seqs[0] == straddling[0][0]:
                        count += sum(1 for q in seqs if q <= top)
        return top, count


def frame_at(buf: bytearray, pos: int) -> tuple[int, int, int] | None:
    """The frame starting at ``pos`` in ``buf``: ``(opcode, payload start, payload end)``, or
    None when it is not all there yet (server frames: unmasked)."""
    end = len(buf)
    if end - pos < 2:
        return None
    size, head = buf[pos + 1] & 0x7F, 2
    if size == 126:
        if end - pos < 4:
            return None
        size, head = (buf[pos + 2] << 8) | buf[pos + 3], 4
    elif size == 127:
        if end - pos < 10:
            return None
        size, head = int.from_bytes(buf[pos + 2:pos + 10], "big"), 10
    if end - pos < head + size:
        return None
    return buf[pos] & 0x0F, pos + head, pos + head + size


RECENT = {2: 512, 1: 8}
"""Batches kept per channel to count the end exactly: Arrow batches as their seqs (a few KB),
JSON batches whole (the JSON runs are short)."""


def batch_seqs(opcode: int, kept: Any) -> Any:
    if opcode == 2:
        return kept
    return [orjson.loads(line)["seq"] for line in kept.split(b"\n")[1:]]


def arrow_events(payload: bytes, how: str) -> tuple[str, int, int, int, Any]:
    """The channel of an Arrow IPC stream, its rows, its first and last ``seq`` and its seqs
    (with ``header``: -1, -1 and none, no body being read)."""
    if how == "read":
        table = pa.ipc.open_stream(payload).read_all()
        seqs = table.column("seq").to_numpy()
        channel = table.schema.metadata[b"openagi.channel"].decode()
        return channel, table.num_rows, int(seqs[0]), int(seqs[-1]), seqs
    reader = pa.ipc.MessageReader.open_stream(payload)
    rows = 0
    while True:
        try:
            message = reader.read_next_message()
        except StopIteration:
            break
        if message is None:
            break
        if message.type == "record batch":
            rows += _record_batch_length(message.metadata.to_pybytes())
    return "?", rows, -1, -1, None


def _record_batch_length(fb: bytes) -> int:
    """``Message.header.length`` of an Arrow IPC message's flatbuffer (Message.fbs: field 2 is
    the header table, a RecordBatch whose field 0 is its row count, an int64)."""
    def field(table: int, index: int) -> int:  # the field's absolute position, 0 if absent
        vtable = table - int.from_bytes(fb[table:table + 4], "little", signed=True)
        if 4 + 2 * index >= int.from_bytes(fb[vtable:vtable + 2], "little"):
            return 0
        at = int.from_bytes(fb[vtable + 4 + 2 * index:vtable + 6 + 2 * index], "little")
        return table + at if at else 0

    root = int.from_bytes(fb[0:4], "little")
    header = field(root, 2)
    batch = header + int.from_bytes(fb[header:header + 4], "little")
    length = field(batch, 0)
    return int.from_bytes(fb[length:length + 8], "little", signed=True) if length else 0


def _seq(payload: bytes) -> int:
    return int(payload[payload.rfind(b'"seq":') + 6:-1])


def client_worker(url: str, count: int, target: int, limit: float, out: mp.Queue,
                  batch: str | None = None, arrow_count: str = "read") -> None:
    """Open ``count`` connections, read until each has ``target`` data messages (or ``limit``
    seconds); put one result tuple per connection on ``out``."""
    token = issue_token(SECRET, "bench", 3600)
    clients = [RawClient(url, token, batch, arrow_count) for _ in range(count)]
    for c in clients:
        c.marker = target // 5  # rates are taken after it: the kernel's buffers are full
        c.subscribe_all()
    sel = selectors.DefaultSelector()
    for c in clients:
        c.sock.setblocking(False)
        sel.register(c.sock, selectors.EVENT_READ, c)
    open_, deadline = len(clients), time.perf_counter() + limit
    while open_ and time.perf_counter() < deadline:
        for key, _ in sel.select(1.0):
            c = key.data
            try:
                chunk = c.sock.recv(1 << 20)
            except BlockingIOError:
                continue
            c.feed(chunk)
            if c.data >= target or not chunk:
                sel.unregister(c.sock)
                open_ -= 1
    cpu = time.process_time() / len(clients)
    for c in clients:
        top, below = c.below() if c.batch else (c.last_seq, c.data)
        out.put((c.data, c.first_seq, top, c.first_at, c.last_at, cpu, c.marker,
                 c.marked_at, c.frames, below))
        c.sock.close()


def run_clients(url: str, clients: int, target: int, procs: int, limit: float,
                on_running: object = None, batch: str | None = None,
                arrow_count: str = "read") -> dict[str, float]:
    """Deliveries/s over all clients, drops, and the time span."""
    ctx = mp.get_context("spawn")
    out: mp.Queue = ctx.Queue()
    shares = [clients // procs + (i < clients % procs) for i in range(procs)]
    workers = [ctx.Process(target=client_worker,
                           args=(url, n, target, limit, out, batch, arrow_count))
               for n in shares if n]
    for w in workers:
        w.start()
    samples: list[float] = []
    results = []
    while len(results) < clients:
        if callable(on_running):
            samples.append(on_running())
        try:
            results.append(out.get(timeout=0.5))
        except Exception:  # queue.Empty: keep sampling
            continue
    for w in workers:
        w.join()
    data = sum(r[0] for r in results)
    span = max(r[4] for r in results) - min(r[3] for r in results)
    counted = not (batch and batch.startswith("arrow") and arrow_count == "header")
    drops = sum((r[2] - r[1] + 1) - r[9] for r in results if r[0]) if counted else -1
    # Steady state: from when every client had a fifth of its messages to the last one.
    steady = max(r[4] for r in results) - max(r[7] or r[3] for r in results)
    steady_data = sum(r[0] - r[6] for r in results)
    return {"deliveries": data, "per_s": steady_data / steady if steady > 0 else 0.0,
            "drops": drops,
            "client_cpu_s": sum(r[5] for r in results),
            "seconds": span, "first_seq_min": min(r[1] for r in results),
            "frames": sum(r[8] for r in results),
            "sampled": max(samples) if samples else float("nan")}


# --- scenarios ---------------------------------------------------------------------------------


def throughput(kind: str, capture: str, clients: int, target: int, procs: int,
               limit: float, batch: str | None = None, arrow_count: str = "read"
               ) -> dict[str, float]:
    """Deliveries/s to ``clients`` clients. For our server the clock is held (``--wait-for``
    one more) until all are subscribed, to weigh the idle connections, then started."""
    hold = kind == "ours"
    process, url = start_server(kind, capture, wait_for=clients + hold)
    try:
        idle = rss_mb(process.pid)
        cpu0 = cpu_seconds(process.pid)
        connected: dict[str, float] = {}

        def sample() -> float:
            if hold and not connected and subscribers(url) == clients:
                connected["rss"] = rss_mb(process.pid)
                starter = RawClient(url, issue_token(SECRET, "starter", 60))
                starter.subscribe_all()  # the last subscriber the clock waits for...
                starter.sock.close()  # ...leaves at once, so it never paces the others
            return rss_mb(process.pid)

        result = run_clients(url, clients, target, procs, limit, on_running=sample,
                             batch=batch, arrow_count=arrow_count)
        result["server_cpu_s"] = cpu_seconds(process.pid) - cpu0
        result["rss_idle"], result["rss_busy"] = idle, result.pop("sampled")
        result["rss_connected"] = connected.get("rss", float("nan"))
        return result
    finally:
        process.terminate()
        process.wait(30)


def subscribers(url: str) -> int:
    with urllib.request.urlopen(url + "/api/v1/status", timeout=10) as response:
        return int(orjson.loads(response.read())["subscribers"])


def memory_over_loop(capture: str, seconds: float, clients: int) -> list[tuple[float, float]]:
    """RSS samples (elapsed s, MB) while ``clients`` read a looped replay at max speed."""
    process, url = start_server("ours", capture, wait_for=clients)
    samples: list[tuple[float, float]] = []
    ctx = mp.get_context("spawn")
    out: mp.Queue = ctx.Queue()
    worker = ctx.Process(target=client_worker, args=(url, clients, 10**12, seconds, out))
    worker.start()
    start = time.monotonic()
    try:
        while time.monotonic() - start < seconds:
            samples.append((time.monotonic() - start, rss_mb(process.pid)))
            time.sleep(min(5.0, seconds / 20))
        results = [out.get(timeout=60) for _ in range(clients)]
        delivered = sum(r[0] for r in results)
        drops = sum((r[2] - r[1] + 1) - r[0] for r in results if r[0])
        print(f"  delivered {delivered:,} messages to {clients} clients "
              f"({delivered / seconds:,.0f}/s), drops {drops}")
    finally:
        worker.join(60)
        process.terminate()
        process.wait(30)
    return samples


def report_throughput(title: str, ours: dict[str, float] | None, naive: dict[str, float] | None,
                      batched: dict[str, float] | None = None, batch: str = "") -> None:
    print(f"{title}")
    for name, r in (("ours", ours), ("naive", naive), ("batched", batched)):
        if r is None:
            continue
        drops = "n/a" if r["drops"] < 0 else r["drops"]
        per_frame = (f", {r['deliveries'] / r['frames']:,.0f} events/frame"
                     if name == "batched" and r["frames"] else "")
        print(f"  {name:<7} {r['per_s']:>11,.0f} deliveries/s steady ({r['deliveries']:,} in "
              f"{r['seconds']:.2f} s, drops {drops}, CPU server {r['server_cpu_s']:.1f} s "
              f"clients {r['client_cpu_s']:.1f} s,"
              f" RSS idle {r['rss_idle']:.0f} MB, busy {r['rss_busy']:.0f} MB{per_frame})")
    if ours and naive:
        print(f"  ratio ours/naive: {ours['per_s'] / naive['per_s']:.1f}x")
    if batched:
        print(f"  batched: {batch}")
    if batched and ours:
        print(f"  ratio batched/ours (one per frame): {batched['per_s'] / ours['per_s']:.1f}x")
    if batched and naive:
        print(f"  ratio batched/naive: {batched['per_s'] / naive['per_s']:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--capture", default=str(ROOT / "data" / "sample_capture.jsonl.gz"))
    parser.add_argument("--one", type=int, default=400_000, help="messages to the one client")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--each", type=int, default=100_000, help="messages to each of them")
    parser.add_argument("--batched-one", type=int, default=10_000_000,
                        help="events to the one batched client")
    parser.add_argument("--batched-each", type=int, default=500_000,
                        help="events to each batched client of --clients")
    parser.add_argument("--batch-format", choices=("arrow", "json"), default="arrow")
    parser.add_argument("--batch-compression", choices=("none", "lz4", "zstd"), default="lz4")
    parser.add_argument("--arrow-count", choices=("read", "header"), default="read",
                        help="count an arrow batch's rows by reading it (and its seqs: drops) "
                        "or from its IPC header alone")
    parser.add_argument("--procs", type=int, default=2, help="client processes")
    parser.add_argument("--limit", type=float, default=30.0, help="max seconds per run")
    parser.add_argument("--loop-seconds", type=float, default=300.0, help="0: skip")
    parser.add_argument("--no-naive", action="store_true")
    parser.add_argument("--no-unbatched", action="store_true",
                        help="skip our server's one-per-frame runs (and the memory per client)")
    parser.add_argument("--no-batched", action="store_true")
    parser.add_argument("--naive-server", metavar="CAPTURE", help=argparse.SUPPRESS)
    parser.add_argument("--wait-for", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.naive_server:
        naive_server(args.naive_server, args.wait_for)
        return
    compression = "none" if args.batch_format == "json" else args.batch_compression
    batch = f"{args.batch_format} {compression}"
    print(f"capture {args.capture}; {os.cpu_count()} CPUs; server and clients in separate "
          f"processes; load average {os.getloadavg()[0]:.1f}")

    def runs(clients: int, each: int, batched_each: int, procs: int
             ) -> tuple[dict[str, float] | None, ...]:
        ours = None if args.no_unbatched else throughput(
            "ours", args.capture, clients, each, procs, args.limit)
        naive = None if args.no_naive else throughput(
            "naive", args.capture, clients, each, procs, args.limit)
        batched = None if args.no_batched else throughput(
            "ours", args.capture, clients, batched_each, procs, args.limit, batch=batch,
            arrow_count=args.arrow_count)
        return ours, naive, batched

    one, one_naive, one_batched = runs(1, args.one, args.batched_one, 1)
    report_throughput("1 client, every channel, --speed max", one, one_naive, one_batched,
                      batch)
    if one_batched:
        print(f"  target: >= 2,000,000 events/s to one batched client: "
              f"{one_batched['per_s']:,.0f}/s")
    many, many_naive, many_batched = runs(args.clients, args.each, args.batched_each,
                                          args.procs)
    report_throughput(f"{args.clients} clients, every channel, --speed max", many, many_naive,
                      many_batched, batch)
    if many_batched:
        print(f"  target: >= 5,000,000 deliveries/s to 50 batched clients: "
              f"{many_batched['per_s']:,.0f}/s")
    if many is None or one is None:
        return
    idle_each = (many["rss_connected"] - many["rss_idle"]) / args.clients
    busy_each = (many["rss_busy"] - one["rss_busy"]) / max(args.clients - 1, 1)
    print(f"  server memory per client: {idle_each * 1024:.0f} KB connected and subscribed "
          f"(clock held), {busy_each * 1024:.0f} KB while streaming ({args.clients} vs 1 "
          "client, peak RSS; the ring is shared)")
    if not args.loop_seconds:
        return
    print(f"looped replay for {args.loop_seconds:.0f} s, 2 clients at max speed (RSS MB):")
    samples = memory_over_loop(args.capture, args.loop_seconds, 2)
    settled = [mb for t, mb in samples if t >= min(30.0, args.loop_seconds / 3)] or [
        mb for _, mb in samples]
    print("  " + " ".join(f"{t:.0f}s:{mb:.0f}" for t, mb in samples))
    print(f"  after warm-up: first {settled[0]:.0f} MB, last {settled[-1]:.0f} MB, "
          f"max {max(settled):.0f} MB, growth {settled[-1] - settled[0]:+.0f} MB")


if __name__ == "__main__":
    main()
