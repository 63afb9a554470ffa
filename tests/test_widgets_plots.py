"""What the figures hold: traces, downsampled sizes, threshold lines, breach shading, bars and
markers, checked on their numbers (no browser, no widget).

``frame_of(channel, messages)`` builds a channel's frame through ``model.flatten`` as the stream
and captures do; other widget tests use it too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import openagi_nb as oa
from openagi_nb.analysis import proposals, timeline, unblocked
from openagi_nb.model import columns, data_message, flatten, format_timestamp, to_frame
from openagi_nb.widgets.consensus_plot import consensus_plot
from openagi_nb.widgets.metrics_plot import metrics_plot
from openagi_nb.widgets.network_plot import network_plot
from openagi_nb.widgets.plotdata import View
from openagi_nb.widgets.security_plot import security_plot

T0 = 1_767_603_600_000_000_000  # 2026-01-05 09:00 UTC
S = 10**9
SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample_capture.jsonl.gz"


def frame_of(channel: str, messages: list[dict[str, Any]]) -> pd.DataFrame:
    rows = [flatten(dict(m))[1] for m in messages]
    return to_frame(channel, [list(c) for c in zip(*rows, strict=True)] if rows
                    else [[] for _ in columns(channel)])


def sample(t: float, node: str, value: float, *, metric: str = "cpu_usage",
           threshold: float | None = 80.0) -> dict[str, Any]:
    data: dict[str, Any] = {"node_id": node, "metric": metric, "value": value, "status": "ok"}
    if threshold is not None:
        data["threshold"] = threshold
    return dict(data_message("monitoring_events", "metric_update", data,
                             format_timestamp(T0 + int(t * S))))


def monitoring(samples: list[tuple[float, str, float]], **kw: Any) -> pd.DataFrame:
    return frame_of("monitoring_events", [sample(t, n, v, **kw) for t, n, v in samples])


def big_series(n: int, nodes: int = 1) -> pd.DataFrame:
    """``n`` cpu samples a second apart, spread over ``nodes`` nodes, built column-wise."""
    cols = {c.name: [None] * n for c in columns("monitoring_events")}
    cols["timestamp"] = list(T0 + np.arange(n, dtype=np.int64) * S)
    cols["event"] = ["metric_update"] * n
    cols["node_id"] = [f"node_{i % nodes:02d}" for i in range(n)]
    cols["metric"] = ["cpu_usage"] * n
    cols["value"] = list(np.random.default_rng(3).uniform(0, 79, n))
    cols["threshold"] = [80.0] * n
    return to_frame("monitoring_events", list(cols.values()))


def by_name(plot: Any) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in plot.traces}


@pytest.fixture(scope="module")
def capture() -> oa.Capture:
    return oa.load_capture(SAMPLE)


# --- metrics ---------------------------------------------------------------------------


def test_metrics_has_a_line_per_node_then_threshold_then_over():
    df = monitoring([(0, "b", 10), (1, "a", 20), (2, "b", 90), (3, "a", 30)])
    plot = metrics_plot(df, View(metric="cpu_usage"))
    assert [t["name"] for t in plot.traces] == ["breach", "a", "b", "threshold 80",
                                                "over threshold"]
    assert by_name(plot)["b"]["y"].tolist() == [10, 90]
    assert by_name(plot)["a"]["x"].tolist() == [(T0 + S) / 1e6, (T0 + 3 * S) / 1e6]


def test_threshold_line_spans_the_shown_time_at_the_threshold():
    df = monitoring([(0, "a", 10), (60, "a", 20)])
    line = by_name(metrics_plot(df, View()))["threshold 80"]
    assert line["x"].tolist() == [T0 / 1e6, (T0 + 60 * S) / 1e6]
    assert line["y"].tolist() == [80.0, 80.0]
    assert line["line"]["dash"] == "dash"


def test_nodes_with_other_thresholds_get_one_segment_each():
    df = pd.concat([monitoring([(0, "a", 1), (9, "a", 2)]),
                    monitoring([(0, "b", 1), (9, "b", 2)], threshold=50.0)], ignore_index=True)
    line = by_name(metrics_plot(df, View()))["threshold"]
    assert line["y"][~np.isnan(line["y"])].tolist() == [50.0, 50.0, 80.0, 80.0]


def test_over_threshold_marks_exactly_the_samples_above_their_threshold():
    df = monitoring([(0, "a", 79), (1, "a", 81), (2, "b", 80), (3, "b", 95)])
    over = by_name(metrics_plot(df, View()))["over threshold"]
    assert over["y"].tolist() == [81, 95]
    assert over["x"].tolist() == [(T0 + S) / 1e6, (T0 + 3 * S) / 1e6]


def test_breach_episodes_are_shaded_and_short_spikes_are_not_with_for():
    values = [(t, "a", 90.0 if 100 <= t <= 400 else 10.0) for t in range(0, 600, 10)]
    values.append((500, "b", 99.0))  # one sample over: a spike
    df = monitoring(values)
    plot = metrics_plot(df, View(), for_="2min")
    assert plot.meta["breaches"] == [(T0 + 100 * S, T0 + 400 * S)]
    shade = by_name(plot)["breach"]
    a, b = (T0 + 100 * S) / 1e6, (T0 + 400 * S) / 1e6
    assert shade["x"][:4].tolist() == [a, a, b, b]
    assert shade["y"][:4].tolist() == [10.0, 99.0, 99.0, 10.0]  # lowest to highest value shown
    assert shade["fill"] == "toself"
    assert len(metrics_plot(df, View()).meta["breaches"]) == 2


def test_overlapping_episodes_of_several_nodes_merge_into_one_shape():
    values = [(t, n, 90.0 if lo <= t <= hi else 10.0)
              for n, lo, hi in (("a", 100, 300), ("b", 200, 400)) for t in range(0, 600, 10)]
    spans = metrics_plot(monitoring(values), View()).meta["breaches"]
    assert spans == [(T0 + 100 * S, T0 + 400 * S)]


def test_nested_and_touching_episodes_merge_and_apart_ones_do_not():
    from openagi_nb.widgets.metrics_plot import _merged

    start = np.array([20, 0, 2, 5, 12], dtype=np.int64)
    end = np.array([25, 10, 3, 12, 14], dtype=np.int64)
    assert _merged(start, end) == [(0, 14), (20, 25)]
    assert _merged(start[:0], end[:0]) == []


def test_each_trace_is_downsampled_to_the_budget():
    df = big_series(100_000, nodes=2)
    plot = metrics_plot(df, View(max_points=2000))
    lines = [t for t in plot.traces if t["mode"] == "lines" and t["name"].startswith("node")]
    assert len(lines) == 2
    assert all(1000 < len(t["x"]) <= 2000 for t in lines)  # a min and a max per bin
    full = metrics_plot(df, View(max_points=None))
    assert [len(t["x"]) for t in full.traces[1:3]] == [50_000, 50_000]


def test_many_lines_share_the_plot_budget():
    plot = metrics_plot(big_series(100_000, nodes=25), View())
    sizes = [len(t["x"]) for t in plot.traces[1:26]]
    assert all(400 < n <= 800 for n in sizes)  # 20,000 points / 25 lines
    assert View(total_points=None).budget(25) == 2000
    assert View().budget(1000) == 100


def test_a_zoom_shows_the_full_detail_of_its_range():
    df = big_series(100_000)
    lo, hi = T0 + 1000 * S, T0 + 1500 * S
    line = metrics_plot(df, View(x_range=(lo, hi))).traces[1]
    assert len(line["x"]) == 503  # 501 samples inside, one beyond each edge
    assert line["x"][1] == lo / 1e6
    assert line["x"][-2] == hi / 1e6


def test_the_window_keeps_the_newest_span_only():
    df = monitoring([(t, "a", 1.0) for t in range(0, 600, 60)])
    line = metrics_plot(df, View(window=120 * S)).traces[1]
    assert line["x"].tolist() == [(T0 + t * S) / 1e6 for t in (420, 480, 540)]


def test_nodes_filter_the_lines():
    df = monitoring([(0, "a", 1), (0, "b", 2), (0, "c", 3)])
    plot = metrics_plot(df, View(nodes=("a", "c")))
    assert [t["name"] for t in plot.traces[1:-2]] == ["a", "c"]
    assert plot.meta["groups"] == ["a", "b", "c"]


def test_no_metric_given_shows_the_one_nearest_its_threshold():
    df = pd.concat([monitoring([(0, "a", 70.0)]),
                    monitoring([(0, "a", 4.9)], metric="error_rate", threshold=5.0)],
                   ignore_index=True)
    plot = metrics_plot(df, View())
    assert plot.meta == {"metrics": ["cpu_usage", "error_rate"], "groups": ["a"],
                         "metric": "error_rate", "breaches": []}
    assert plot.layout["title"]["text"] == "error_rate by node_id"


def test_an_empty_frame_gives_an_empty_plot_that_says_it_waits():
    plot = metrics_plot(frame_of("monitoring_events", []), View())
    assert [t["name"] for t in plot.traces] == ["breach", "threshold", "over threshold"]
    assert plot.meta["breaches"] == []
    assert "waiting" in plot.layout["title"]["text"]


def test_a_frame_of_another_channel_is_refused():
    with pytest.raises(ValueError, match="not a monitoring_events frame"):
        metrics_plot(frame_of("security_events", []), View())


# --- security, consensus, network -------------------------------------------------------


def test_security_bars_add_up_to_the_attacks_per_interval(capture):
    df = capture.frame("security_events")
    plot = security_plot(df, View(), freq="5min")
    table = timeline(df, "5min")
    types = [t for t in plot.traces if t["type"] == "bar" and t["yaxis"] == "y"]
    levels = [t for t in plot.traces if t["type"] == "bar" and t["yaxis"] == "y2"]
    assert sorted(t["name"] for t in types) == sorted(table.columns.get_level_values(0).unique())
    assert [t["name"] for t in levels] == ["low", "medium", "high", "critical"]
    per_bin = table.sum(axis=1).to_numpy(np.float64)
    assert np.array_equal(np.sum([t["y"] for t in types], axis=0), per_bin)
    assert np.array_equal(np.sum([t["y"] for t in levels], axis=0), per_bin)


def test_unblocked_intrusions_are_marked_on_top_of_their_bar(capture):
    df = capture.frame("security_events")
    marks = by_name(security_plot(df, View(), freq="1min"))["unblocked (>= high)"]
    assert len(marks["x"]) == len(unblocked(df, "high")) > 0
    assert all(y > 0 for y in marks["y"])


def test_security_bars_get_finer_when_zoomed(capture):
    df = capture.frame("security_events")
    assert security_plot(df, View()).layout["title"]["text"] == "attacks per 1min"
    start = int(df["timestamp"].iloc[0].value)
    zoomed = security_plot(df, View(x_range=(start, start + 300 * S)))
    assert zoomed.layout["title"]["text"] == "attacks per 5s"


def test_consensus_marks_each_step_seen_and_the_stuck_proposal(capture):
    df = capture.frame("consensus_events")
    table = proposals(df).tail(40)
    plot = consensus_plot(df, View(), max_proposals=40)
    traces = by_name(plot)
    assert len(traces["executed"]["x"]) == table["executed_at"].notna().sum()
    assert len(traces["commit"]["x"]) == table["commit_at"].notna().sum()
    assert traces["stuck"]["y"] == table.loc[table["status"] == "stuck",
                                             "proposal_id"].astype(str).tolist()
    assert len(traces["latency (s)"]["y"]) == table["latency"].notna().sum()
    assert plot.layout["yaxis"]["categoryarray"] == table["proposal_id"].astype(str).tolist()


def test_network_step_line_holds_the_count_to_the_end_and_marks_changes(capture):
    df = capture.frame("network_events")
    plot = network_plot(df, View())
    traces = by_name(plot)
    active = traces["active nodes"]
    end = df["timestamp"].max().value / 1e6
    assert active["x"][-1] == end
    assert active["y"][-1] == active["y"][-2]
    events = df["event"].value_counts()
    assert len(traces["joined"]["x"]) == events["node_joined"]
    assert len(traces["left"]["x"]) == events["node_left"]
    assert len(plot.shapes) == 1  # the scenario's one partition
