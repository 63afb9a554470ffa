"""Static figures of the bundled capture: what each draws, and that the package imports plotly
only when a figure is asked for."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import plotly.graph_objects as go
import pytest

import openagi_nb as oa
from openagi_nb.analysis import breaches, top_sources
from openagi_nb.widgets import (
    plot_breaches,
    plot_membership,
    plot_metric,
    plot_proposals,
    plot_security_timeline,
    plot_top_sources,
)

from .test_widgets_plots import SAMPLE


@pytest.fixture(scope="module")
def capture() -> oa.Capture:
    return oa.load_capture(SAMPLE)


def test_importing_the_widgets_package_does_not_import_plotly():
    code = ("import sys, openagi_nb, openagi_nb.widgets as w; "
            "assert 'plotly' not in sys.modules; w.plot_metric; assert 'plotly' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_unknown_names_are_not_in_the_widgets_package():
    import openagi_nb.widgets as w

    with pytest.raises(AttributeError, match="no attribute 'plot_everything'"):
        _ = w.plot_everything


def test_plot_metric_draws_every_node_with_threshold_and_breach(capture):
    fig = plot_metric(capture.frame("monitoring_events"), "memory_usage", for_="2min")
    assert isinstance(fig, go.Figure)
    names = [t.name for t in fig.data]
    assert names[-2:] == ["threshold 85", "over threshold"]
    assert len(names) == 28  # breach, 25 nodes, threshold, over
    assert len(fig.data[0].x) == 5  # one episode shaded (4 corners, then a gap)
    assert fig.layout.xaxis.type == "date"


def test_plot_metric_downsamples_unless_told_not_to(capture):
    df = capture.frame("monitoring_events")
    small = plot_metric(df, "cpu_usage", nodes=["node_01"], max_points=50)
    full = plot_metric(df, "cpu_usage", nodes=["node_01"], max_points=None)
    assert len(small.data[1].x) <= 50 < len(full.data[1].x)


def test_plot_breaches_has_a_bar_per_episode(capture):
    df = capture.frame("monitoring_events")
    found = breaches(df, for_="2min")
    fig = plot_breaches(df, for_="2min")
    assert [t.name for t in fig.data] == sorted(found["metric"].unique())
    bar = fig.data[0]
    assert list(bar.y) == [f"{n} {m}" for n, m in zip(found["node_id"], found["metric"],
                                                      strict=True)]
    assert bar.base[0] == found["start"].iloc[0].value / 1e6
    assert bar.x[0] == found["duration"].iloc[0].value / 1e6


def test_plot_top_sources_splits_each_source_into_its_parts(capture):
    df = capture.frame("security_events")
    fig = plot_top_sources(df, n=5)
    table = top_sources(df, 5)
    assert [t.name for t in fig.data] == ["blocked", "unblocked", "other"]
    assert list(fig.data[0].y) == table["source_ip"].tolist()[::-1]  # busiest on top
    total = np.sum([t.x for t in fig.data], axis=0)
    assert total.tolist() == table["events"].tolist()[::-1]


def test_plot_security_timeline_uses_the_given_width(capture):
    fig = plot_security_timeline(capture.frame("security_events"), "10min")
    assert fig.layout.title.text == "attacks per 10min"
    assert fig.layout.barmode == "stack"
    assert fig.data[0].width == 600_000 * 0.9


def test_plot_proposals_shows_the_last_ones(capture):
    fig = plot_proposals(capture.frame("consensus_events"), last=30)
    assert len(fig.layout.yaxis.categoryarray) == 30
    assert "stuck" in [t.name for t in fig.data]


def test_plot_membership_counts_the_initial_nodes(capture):
    nodes = capture.frame("monitoring_events")["node_id"].dropna().unique()
    fig = plot_membership(capture.frame("network_events"), initial=nodes)
    assert max(fig.data[0].y) == 25


def test_static_figures_serialise(capture):
    fig = plot_metric(capture.frame("monitoring_events"))
    assert len(fig.to_json()) < 2_000_000
