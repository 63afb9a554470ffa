"""A TCP proxy on 127.0.0.1 that counts the bytes it forwards and can limit their rate.

One token bucket per direction, shared by every connection through the proxy (a link, not a
per-connection limit), ``--mbit`` megabits per second (20 by default; 0: no limit, only
counting), a bucket of ``--burst`` bytes. Real sockets, asyncio, one thread.

In a benchmark: ``Throttle(host, port, mbit).start()`` runs it in a thread of this process
(its counters readable: ``down`` bytes server -> client, ``up``); or in its own process::

    python benchmarks/_throttle.py 127.0.0.1:8080 [--mbit 20] [--burst 16384]

which prints ``http://127.0.0.1:PORT`` once listening (``_launch.launch`` reads it).
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time


class Bucket:
    """Tokens (bytes) refilled at ``rate`` bytes/s up to ``burst``; None: no limit."""

    def __init__(self, rate: float | None, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.at = float(burst), time.monotonic()
        self.lock = asyncio.Lock()

    async def take(self, n: int) -> None:
        if self.rate is None:
            return
        async with self.lock:  # one writer at a time: the link is shared
            while True:
                now = time.monotonic()
                self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
                self.at = now
                if self.tokens >= n:
                    self.tokens -= n
                    return
                await asyncio.sleep((n - self.tokens) / self.rate)


class Throttle:
    """Forward 127.0.0.1:``port`` to ``host``:``target``, ``mbit`` Mbit/s each way (0: no
    limit)."""

    def __init__(self, host: str, target: int, mbit: float = 20.0, burst: int = 16384) -> None:
        self.host, self.target = host, target
        rate = mbit * 1e6 / 8 if mbit > 0 else None
        self.chunk = min(burst, 16384)
        self._rates = (rate, burst)
        self.down = self.up = 0  # bytes server -> client, client -> server
        self.port = 0
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    bucket: Bucket, down: bool) -> None:
        try:
            while data := await reader.read(self.chunk):
                await bucket.take(len(data))
                if down:
                    self.down += len(data)
                else:
                    self.up += len(data)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _serve(self) -> None:
        down, up = Bucket(*self._rates), Bucket(*self._rates)

        async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
            try:
                server_r, server_w = await asyncio.open_connection(self.host, self.target)
            except OSError:
                client_w.close()
                return
            await asyncio.gather(self._pump(server_r, client_w, down, True),
                                 self._pump(client_r, server_w, up, False))

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._loop = asyncio.get_running_loop()
        self._ready.set()
        async with server:
            await server.serve_forever()

    def run(self) -> None:
        """Serve in this thread until the process ends."""
        asyncio.run(self._serve())

    def start(self) -> Throttle:
        """Serve in a daemon thread; return once listening."""
        threading.Thread(target=self.run, daemon=True, name="throttle").start()
        self._ready.wait(10)
        return self


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", help="HOST:PORT to forward to")
    parser.add_argument("--mbit", type=float, default=20.0, help="Mbit/s each way (0: no limit)")
    parser.add_argument("--burst", type=int, default=16384, help="bucket size, bytes")
    args = parser.parse_args()
    host, port = args.target.rsplit(":", 1)
    throttle = Throttle(host, int(port), args.mbit, args.burst).start()
    print(f"http://127.0.0.1:{throttle.port}", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
