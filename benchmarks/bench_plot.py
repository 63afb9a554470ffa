"""Time and bytes per refresh of a live metrics plot, for windows of 10k, 100k and 1M rows.

A LiveFrame holds a window of N ``metric_update`` rows (25 nodes, one metric, a sample a second
per node). Each refresh first appends 250 new rows (10 s of data), then redraws; what a redraw
sends is what the widget hands to its comm (``Wire``: a real ``comm`` object whose transport
records the message): the JSON text plus the binary buffers, as the kernel would put them on the
wire. Three ways are measured in the same process:

- ``downsampled``: ``live_metrics`` as shipped: snapshot, figure data, each trace min-max
  downsampled to 2,000 points, one ``batch_update`` (x as float ms in binary buffers);
- ``full``: the same with ``max_points=None`` (every point sent);
- ``naive``: what a notebook does without thinking of size: ``snapshot()``, then per node
  ``fig.data[i].x = timestamps`` / ``.y = values`` in a ``batch_update`` (datetimes go as ISO
  strings in JSON).

Then the downsampler alone on 1M points: NumPy min-max (ours) against tsdownsample's MinMaxLTTB
(if installed), time and how many of 50 one-sample spikes over a threshold each keeps.

    .venv/bin/python benchmarks/bench_plot.py [--sizes 10000 100000 1000000] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import plotly.graph_objects as go
from comm.base_comm import BaseComm

from openagi_nb.model import columns
from openagi_nb.stream import LiveFrame
from openagi_nb.widgets.downsample import minmax
from openagi_nb.widgets.live import LiveFigure, live_metrics

T0 = 1_767_603_600_000_000_000
S = 1_000_000_000
NODES = 25
NEW_ROWS = 250


class Wire(BaseComm):
    """A comm whose transport counts what it would send."""

    def __init__(self) -> None:
        self.bytes = 0
        super().__init__(target_name="jupyter.widget")

    def publish_msg(self, msg_type: str, data: Any = None, metadata: Any = None,
                    buffers: Any = None, **keys: Any) -> None:
        self.bytes += len(json.dumps(data, separators=(",", ":"), default=str))
        self.bytes += sum(memoryview(b).nbytes for b in buffers or ())


class Rows:
    """metric_update rows as ``protocol.flatten`` gives them, made column-wise."""

    def __init__(self) -> None:
        self.width = len(columns("monitoring_events"))
        self.names = [c.name for c in columns("monitoring_events")]
        self.next = 0
        self.rng = np.random.default_rng(7)

    def take(self, n: int) -> list[tuple[Any, ...]]:
        i = np.arange(self.next, self.next + n)
        self.next += n
        cols: dict[str, Any] = {
            "seq": i.tolist(), "timestamp": (T0 + (i // NODES) * S).tolist(),
            "event": ["metric_update"] * n,
            "node_id": [f"node_{k % NODES + 1:02d}" for k in i.tolist()],
            "metric": ["cpu_usage"] * n, "value": self.rng.uniform(20, 85, n).tolist(),
            "threshold": [80.0] * n, "status": ["ok"] * n,
        }
        blank = [None] * n
        return list(zip(*(cols.get(name, blank) for name in self.names), strict=True))


class Manual:
    """A scheduler that never fires: the benchmark calls ``tick`` itself."""

    def call_later(self, delay: float, callback: Callable[[], object], /) -> Any:
        return self

    def cancel(self) -> None:
        pass


def naive_figure(frame: LiveFrame) -> tuple[go.FigureWidget, Callable[[], None]]:
    fig = go.FigureWidget(layout={"xaxis": {"type": "date"}})
    nodes = [f"node_{k:02d}" for k in range(1, NODES + 1)]
    fig.add_traces([go.Scatter(name=n, mode="lines") for n in nodes])

    def refresh() -> None:
        df = frame.snapshot()
        with fig.batch_update():
            for trace, (_, part) in zip(fig.data, df.groupby("node_id", sort=True),
                                        strict=True):
                trace.x = part["timestamp"]
                trace.y = part["value"]
    return fig, refresh


def measure(size: int, mode: str, runs: int) -> tuple[float, float, int]:
    """Median seconds and bytes per refresh, and points sent at the last one."""
    rows, frame = Rows(), LiveFrame("monitoring_events", size)
    for start in range(0, size, 200_000):
        frame.extend(rows.take(min(200_000, size - start)))
    if mode == "naive":
        fig, refresh = naive_figure(frame)
    else:
        live = live_metrics(frame, "cpu_usage", window=None, scheduler=Manual(),
                            max_points=2000 if mode == "downsampled" else None)
        fig, refresh = live, live.refresher.tick
    wire = Wire()
    fig.comm = wire
    refresh()  # warm: string dictionaries converted once, structure built
    seconds, sent = [], []
    for _ in range(runs):
        frame.extend(rows.take(NEW_ROWS))
        wire.bytes = 0
        began = time.perf_counter()
        refresh()
        seconds.append(time.perf_counter() - began)
        sent.append(wire.bytes)
    points = sum(len(t.x) for t in fig.data if t.x is not None)
    if isinstance(fig, LiveFigure):
        assert fig.refresher.last_error is None, fig.refresher.last_error
    return statistics.median(seconds), statistics.median(sent), points


def downsampler_race(n: int = 1_000_000, runs: int = 5) -> None:
    rng = np.random.default_rng(11)
    y = rng.uniform(20, 70, n)
    spikes = rng.choice(n, 50, replace=False)
    y[spikes] = 95.0  # one sample each over a threshold of 80
    x = np.arange(n, dtype=np.int64)
    contenders: dict[str, Callable[[], np.ndarray]] = {"numpy min-max (ours)": lambda: minmax(y)}
    try:
        from tsdownsample import MinMaxLTTBDownsampler
    except ImportError:
        print("tsdownsample not installed: MinMaxLTTB not measured")
    else:
        lttb = MinMaxLTTBDownsampler()
        contenders["tsdownsample MinMaxLTTB"] = lambda: lttb.downsample(x, y, n_out=2000)
    print(f"\ndownsampling {n:,} points to 2,000 (median of {runs}):")
    for name, run in contenders.items():
        run()
        times = []
        for _ in range(runs):
            began = time.perf_counter()
            kept = run()
            times.append(time.perf_counter() - began)
        hit = np.isin(spikes, kept).sum()
        print(f"  {name:26s} {statistics.median(times) * 1e3:7.2f} ms  {len(kept):5d} points"
              f"  spikes kept {hit}/50")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(f"per refresh after {NEW_ROWS} new rows, median of {args.runs} "
          f"(25 nodes, one metric; bytes = JSON text + binary buffers)")
    print(f"{'window':>10} {'mode':>12} {'time':>10} {'bytes':>14} {'points':>10} "
          f"{'bytes vs naive':>15} {'time vs naive':>14}")
    for size in args.sizes:
        results = {mode: measure(size, mode, args.runs if mode != "naive" or size < 10**6
                                 else min(args.runs, 3))
                   for mode in ("naive", "full", "downsampled")}
        base_t, base_b, _ = results["naive"]
        for mode, (t, b, points) in results.items():
            print(f"{size:>10,} {mode:>12} {t * 1e3:8.1f}ms {b:>14,.0f} {points:>10,} "
                  f"{base_b / b:>14.1f}x {base_t / t:>13.1f}x")
    downsampler_race()


if __name__ == "__main__":
    main()
