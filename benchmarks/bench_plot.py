"""Kernel time and bytes per refresh of a live metrics plot, for windows of 10k, 100k and 1M rows.

A LiveFrame holds a window of N ``metric_update`` rows (25 nodes, one metric, a sample a second
per node). Each refresh first appends 250 new rows (10 s of data), then runs one tick of the
figure's refresher: read the frame, build the plot, push it to the widget (the kernel's cost of a
refresh). What a redraw sends is what the widget hands to its comm (``Wire``: a real ``comm``
object whose transport records the message): the JSON text plus the binary buffers, as the
kernel would put them on the wire. Two views, each measured several ways in the same process:

- view ``5min`` (``live_metrics``' default window) and view ``all`` (the whole window);
- ``range``: ``live_metrics`` as shipped: ``LiveFrame.arrays`` reads only the rows of the view's
  window, as numpy columns; each trace min-max downsampled to 2,000 points (at most 20,000 in
  all), one ``batch_update`` (x as float ms in binary buffers);
- ``range late``: the same while a late row is in the window (found by a scan, then sorted);
- ``today``: the way before ``LiveFrame.arrays``, the baseline of the ratios: ``snapshot()`` of
  the whole window to pandas, then ``metrics_plot`` cuts it to the view, downsampled the same;
- ``range full``: ``range`` with ``max_points=None`` (every point sent);
- ``naive`` (view ``all``): what a notebook does without thinking of size: ``snapshot()``, then
  per node ``fig.data[i].x = timestamps`` / ``.y = values`` in a ``batch_update`` (datetimes go
  as ISO strings in JSON).

Then the downsampler alone on 1M points: NumPy min-max (ours) against tsdownsample's MinMaxLTTB
(if installed), time and how many of 50 one-sample spikes over a threshold each keeps.

    .venv/bin/python benchmarks/bench_plot.py [--sizes 10000 100000 1000000] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
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
from openagi_nb.widgets.metrics_plot import metrics_plot
from openagi_nb.widgets.plotdata import Plot, View

T0 = 1_767_603_600_000_000_000
S = 1_000_000_000
NODES = 25
NEW_ROWS = 250
VIEWS = {"5min": 300 * S, "all": None}
WAYS = {"5min": ("today", "range", "range late"),
        "all": ("naive", "today", "range", "range late", "range full")}


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
    """metric_update rows as ``model.flatten`` gives them, made column-wise."""

    def __init__(self) -> None:
        self.width = len(columns("monitoring_events"))
        self.names = [c.name for c in columns("monitoring_events")]
        self.next = 0
        self.rng = np.random.default_rng(7)

    def take(self, n: int, late: int = 0) -> list[tuple[Any, ...]]:
        """The next ``n`` rows; the first ``late`` seconds late."""
        i = np.arange(self.next, self.next + n)
        self.next += n
        stamps = T0 + (i // NODES) * S
        stamps[:1] -= late * S
        cols: dict[str, Any] = {
            "seq": i.tolist(), "timestamp": stamps.tolist(),
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


def from_snapshot(frame: LiveFrame, view: View) -> Plot:
    """The way a live figure was built before ``LiveFrame.arrays``: the whole window to pandas,
    then cut to the view."""
    return metrics_plot(frame.snapshot(), view)


def figure(frame: LiveFrame, view: str, way: str) -> tuple[go.FigureWidget, Callable[[], None]]:
    if way == "naive":
        return naive_figure(frame)
    live = live_metrics(frame, "cpu_usage", window=None, scheduler=Manual(),
                        max_points=None if way == "range full" else 2000)
    live.set_view(window=VIEWS[view])
    if way == "today":
        live.show_frame(frame, from_snapshot, live.view)
    return live, live.refresher.tick


def measure(size: int, view: str, way: str, runs: int) -> tuple[float, float, int]:
    """Median seconds and bytes per refresh, and points sent at the last one."""
    rows, frame = Rows(), LiveFrame("monitoring_events", size)
    for start in range(0, size, 200_000):
        frame.extend(rows.take(min(200_000, size - start)))
    if way == "range late":
        frame.extend(rows.take(NEW_ROWS, late=60))  # stays in the window: reads scan it
    fig, refresh = figure(frame, view, way)
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
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; kernel time per "
          f"refresh after {NEW_ROWS} new rows, median of {args.runs} (25 nodes, one metric; "
          f"bytes = JSON text + binary buffers)")
    print(f"{'window':>10} {'view':>5} {'way':>11} {'time':>10} {'bytes':>12} {'points':>10} "
          f"{'time vs today':>14}")
    for size in args.sizes:
        for view, ways in WAYS.items():
            results = {way: measure(size, view, way, args.runs if way != "naive" or size < 10**6
                                    else min(args.runs, 3)) for way in ways}
            base = results["today"][0]
            for way, (t, b, points) in results.items():
                print(f"{size:>10,} {view:>5} {way:>11} {t * 1e3:8.1f}ms {b:>12,.0f} "
                      f"{points:>10,} {base / t:>13.1f}x")
    downsampler_race()


if __name__ == "__main__":
    main()
