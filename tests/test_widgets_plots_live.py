"""The ``*_plot_live`` builders read a LiveFrame's shown range only and draw exactly what the
frame builders draw from its snapshot: the same traces, layout, shapes and meta, value for value.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from openagi_nb.model import CHANNELS, data_message, flatten, format_timestamp
from openagi_nb.stream import LiveFrame
from openagi_nb.widgets import live_consensus, live_metrics, live_security
from openagi_nb.widgets.consensus_plot import consensus_plot, consensus_plot_live
from openagi_nb.widgets.metrics_live import metrics_plot_live
from openagi_nb.widgets.metrics_plot import metrics_plot
from openagi_nb.widgets.network_plot import network_plot, network_plot_live
from openagi_nb.widgets.plotdata import Plot, View
from openagi_nb.widgets.security_plot import security_plot, security_plot_live

from .test_widgets_plots import SAMPLE, T0, S, sample
from .test_widgets_refresh import FakeClock

M = 60 * S
BUILDERS: dict[str, tuple[Callable[..., Plot], Callable[..., Plot]]] = {
    "monitoring_events": (metrics_plot, metrics_plot_live),
    "security_events": (security_plot, security_plot_live),
    "consensus_events": (consensus_plot, consensus_plot_live),
    "network_events": (network_plot, network_plot_live),
}


def same(a: Any, b: Any) -> bool:
    """Equal, arrays by dtype and content (NaN equal to NaN)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        return a.shape == b.shape and a.dtype == b.dtype and bool(
            np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return type(a) is type(b) and len(a) == len(b) and all(map(same, a, b))
    return bool(a == b) or (a != a and b != b)


def assert_same_plot(frame: LiveFrame, view: View, channel: str = "monitoring_events",
                     **options: Any) -> Plot:
    from_snapshot, live = BUILDERS[channel]
    expected, got = from_snapshot(frame.snapshot(), view, **options), live(frame, view, **options)
    for part in ("traces", "layout", "shapes", "meta"):
        assert same(getattr(got, part), getattr(expected, part)), part
    return got


def monitoring(samples: list[tuple[float, str, float]], **kw: Any) -> LiveFrame:
    frame = LiveFrame("monitoring_events")
    frame.extend(flatten(sample(t, n, v, **kw))[1] for t, n, v in samples)
    return frame


def alert(t: float) -> tuple[Any, ...]:
    data = {"alert_id": "a1", "node_id": "a", "metric": "cpu_usage", "value": 99.0,
            "threshold": 80.0, "severity": "high", "message": "hot"}
    msg = data_message("monitoring_events", "alert_raised", data, format_timestamp(T0 + int(t * S)))
    return flatten(dict(msg))[1]


@pytest.fixture(scope="module")
def captured() -> dict[str, LiveFrame]:
    """The bundled capture's channels as LiveFrames, rows as the stream appends them."""
    frames = {c.value: LiveFrame(c.value) for c in CHANNELS}
    with gzip.open(SAMPLE, "rt") as lines:
        for line in lines:
            channel, row = flatten(json.loads(line))
            frames[channel].append(row)
    return frames


def replayed(channel: str, limit: int = 5000) -> list[tuple[Any, ...]]:
    """The first rows of ``channel`` in the bundled capture."""
    with gzip.open(SAMPLE, "rt") as lines:
        flat = (flatten(json.loads(line)) for line in lines)
        rows = [row for ch, row in flat if ch == channel]
    return rows[:limit]


def views(frame: LiveFrame) -> list[View]:
    newest = frame.arrays(end=0).bounds
    assert newest is not None
    zoom = (newest[1] - 20 * M, newest[1] - 13 * M)
    return [View(), View(window=5 * M), View(window=15 * M), View(x_range=zoom),
            View(window=5 * M, x_range=zoom), View(window=2 * 3600 * S)]


@pytest.mark.parametrize("channel", [c.value for c in CHANNELS])
def test_every_live_builder_draws_the_snapshot_plot_of_the_capture(captured, channel):
    frame = captured[channel]
    for view in views(frame):
        assert_same_plot(frame, view, channel)


@pytest.mark.parametrize("options", [
    {"for_": "2min"}, {"by": "status"}, {"view": View(metric="memory_usage")},
    {"view": View(nodes=("node_03", "node_11"))}, {"view": View(max_points=None)},
    {"view": View(metric="no_such_metric")},
])
def test_the_metrics_options_draw_the_snapshot_plot(captured, options):
    options = dict(options)
    for view in [options.pop("view", View()), View(window=10 * M)]:
        assert_same_plot(captured["monitoring_events"], view, **options)


def test_a_window_of_five_minutes_reads_five_minutes_of_rows(captured, monkeypatch):
    frame, read = captured["monitoring_events"], []
    arrays = frame.arrays
    monkeypatch.setattr(frame, "arrays", lambda *a, **k: read.append(arrays(*a, **k)) or read[-1])
    monkeypatch.setattr(frame, "snapshot", lambda: pytest.fail("the whole window was read"))
    metrics_plot_live(frame, View(window=5 * M, metric="cpu_usage"))
    newest = read[0].bounds[1]
    assert len(read) == 1
    assert read[0]["timestamp"].min() >= newest - 5 * M
    assert set(read[0].data) == {"seq", "timestamp", "event", "node_id", "metric", "value",
                                 "threshold"}


def test_newer_events_than_the_newest_sample_do_not_move_the_window():
    frame = monitoring([(t, "a", float(t)) for t in range(0, 600, 10)])
    frame.extend([alert(700), alert(800)])  # newer than every sample
    plot = assert_same_plot(frame, View(window=120 * S))
    assert plot.traces[1]["x"][0] == (T0 + 470 * S) / 1e6


def test_a_window_with_no_sample_reaches_back_to_the_newest_sample():
    frame = monitoring([(t, "a", float(t)) for t in range(0, 60, 10)])
    frame.extend([alert(5000)])
    assert len(assert_same_plot(frame, View(window=60 * S)).traces[1]["x"]) == 6


def test_late_rows_draw_the_snapshot_plot():
    samples = [(t, n, float(t % 97)) for t in range(0, 900, 3) for n in ("a", "b")]
    samples[200:200] = [(100, "a", 99.0), (40, "b", 91.0), (590, "c", 85.0)]  # late rows
    frame = monitoring(samples)
    for view in (View(), View(window=5 * M), View(x_range=(T0 + 90 * S, T0 + 150 * S))):
        assert_same_plot(frame, view, for_="10s")


def test_a_time_window_with_an_expired_late_row_draws_the_snapshot_plot():
    frame = LiveFrame("monitoring_events", "10min")
    frame.extend(flatten(sample(t, "a", 90.0))[1] for t in range(0, 1200, 5))
    frame.extend([flatten(sample(30, "a", 99.0))[1], flatten(sample(1200, "b", 1.0))[1]])
    assert_same_plot(frame, View())
    assert_same_plot(frame, View(window=5 * M))


@pytest.mark.parametrize("channel", [c.value for c in CHANNELS])
def test_an_empty_frame_draws_the_snapshot_plot(channel):
    for view in (View(), View(window=5 * M), View(x_range=(T0, T0 + M))):
        assert_same_plot(LiveFrame(channel), view, channel)


def test_lines_split_by_a_column_of_numbers_draw_the_snapshot_plot():
    assert_same_plot(monitoring([(0, "a", 1.0), (1, "b", 2.0)]), View(), by="value")


def test_a_live_metrics_plot_of_another_channel_is_refused():
    with pytest.raises(ValueError, match="not a monitoring_events frame"):
        metrics_plot_live(LiveFrame("security_events"), View())


@pytest.mark.parametrize(("make", "channel"), [
    (live_metrics, "monitoring_events"), (live_security, "security_events"),
    (live_consensus, "consensus_events"),
])
def test_live_figures_never_convert_the_whole_window(make, channel, monkeypatch):
    rows, frame, clock = replayed(channel), LiveFrame(channel), FakeClock()
    frame.extend(rows[:-50])
    monkeypatch.setattr(frame, "snapshot", lambda: pytest.fail("the whole window was read"))
    fig = make(frame, window="5min", scheduler=clock)
    frame.extend(rows[-50:])
    clock.advance(1.0)
    assert fig.refresher.renders == 2
    assert fig.refresher.last_error is None
    fig.close()
