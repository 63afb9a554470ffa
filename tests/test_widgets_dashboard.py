"""The dashboard on a real stream from the real replay server (ticks on a fake clock), and its
status line and rows table."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import ipywidgets as w
import plotly.graph_objects as go
import pytest

from openagi_nb.server._options import MAX
from openagi_nb.stream import EventStream, State, StreamStats
from openagi_nb.widgets import Dashboard, dashboard
from openagi_nb.widgets.status import newest_rows, status_html

from .test_widgets_plots import monitoring
from .test_widgets_refresh import FakeClock


def widgets_in(widget: Any) -> Iterator[Any]:
    yield widget
    for child in getattr(widget, "children", ()):
        yield from widgets_in(child)


@pytest.fixture
def stream(serve, capture) -> Iterator[EventStream]:
    server = serve(capture, speed=MAX, wait_for=1)
    with EventStream(server.ws_url, token=server.token("board"),
                     channels=["monitoring_events", "security_events"]) as live:
        live.wait_for(200, timeout=20)
        yield live


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def board(stream, clock) -> Iterator[Dashboard]:
    made = dashboard(stream, window="all", scheduler=clock)
    yield made
    made.close()


def test_a_tab_per_subscribed_channel_and_one_figure_widget_for_all(board):
    assert board.tabs.titles == ("monitoring_events", "security_events")
    figures = [x for x in widgets_in(board) if isinstance(x, go.FigureWidget)]
    assert figures == [board.figure]
    assert board.tabs.children[0].children[0] is board.figure


def test_the_status_line_reads_live_with_the_counters(board, clock):
    clock.advance(0.5)
    text = board.status.value
    assert "data-state='live'" in text
    assert "200 events" in text
    for part in ("events/s", "lag", "reconnects 0", "gaps 0", "rejected 0", "recording off"):
        assert part in text


def test_the_monitoring_tab_shows_the_metric_and_its_newest_rows(board, clock):
    clock.advance(0.5)
    assert board.figure.layout.title.text == "cpu_usage by node_id"
    assert board.controls.metric.options == ("cpu_usage",)
    assert "metric_update" in board.rows[0].value
    assert board.rows[0].value.count("<tr>") == 8  # the header row is <tr style=...>


def test_selecting_a_tab_moves_the_figure_and_shows_that_channel(board, clock):
    board.tabs.selected_index = 1
    assert board.tabs.children[1].children[0] is board.figure
    assert board.tabs.children[0].children == (board.rows[0],)
    clock.advance(0.5)
    assert board.figure.layout.title.text.startswith("attacks per")
    assert "certificate_expired" in board.rows[1].value
    assert board.controls.metric.disabled


def test_the_nodes_control_filters_the_lines(board, clock):
    clock.advance(0.5)
    assert "node_3" in board.controls.nodes.options
    board.controls.nodes.value = ("node_3",)
    clock.advance(0.5)
    shown = [t.name for t in board.figure.data]
    assert shown == ["time axis", "breach", "node_3", "threshold 80", "over threshold"]


def test_the_window_control_changes_the_span(board, clock):
    clock.advance(0.5)
    points = sum(len(t.x) for t in board.figure.data[2:-2])
    board.controls.window.value = "1min"
    clock.advance(0.5)
    assert board.figure.view.window == 60 * 10**9
    assert sum(len(t.x) for t in board.figure.data[2:-2]) == points  # 2 s of data fits


def test_pause_freezes_figure_and_rows_but_not_the_status(board, clock):
    board.pause()
    renders = board.figure.refresher.renders
    board.tabs.selected_index = 1
    clock.advance(2)
    assert board.figure.refresher.renders == renders
    assert "paused" in board.status.value
    board.resume()
    clock.advance(0.5)
    assert board.figure.refresher.renders == renders + 1


def test_stopping_the_stream_reads_stopped_and_ends_the_refresh(board, stream, clock):
    stream.stop()
    clock.advance(0.5)
    assert "data-state='stopped'" in board.status.value
    assert board.refresher.closed
    assert board.figure.refresher.closed
    assert clock.pending == 0


def test_status_html_escapes_what_it_shows():
    stats = StreamStats(state=State.FAILED, received={"monitoring_events": 3},
                        rejected={"other": 2}, events_per_second=1.5,
                        lag=timedelta(seconds=2), last_error="<b>refused</b>")
    text = status_html(stats, paused=True)
    assert "&lt;b&gt;refused&lt;/b&gt;" in text
    assert "rejected 2" in text
    assert "lag 2.0 s" in text
    assert "paused" in text


def test_newest_rows_are_newest_first_and_escaped():
    df = monitoring([(0, "a", 1.0), (1, "<script>", 2.0)])
    text = newest_rows(df)
    assert text.index("&lt;script&gt;") < text.index(">a<")
    assert "<script>" not in text
    assert "extra" not in text
    assert newest_rows(df.iloc[:0]) == "<i>no events yet</i>"


def test_the_dashboard_is_an_ipywidgets_box(board):
    assert isinstance(board, w.VBox)
    assert board.children[0] is board.status


def test_the_status_line_names_the_capture_being_recorded():
    from openagi_nb.stream import State, StreamStats
    from openagi_nb.widgets.status import status_html

    text = status_html(StreamStats(state=State.LIVE, recording="/data/runs/today.jsonl.gz"))
    assert "recording today.jsonl.gz" in text


@pytest.mark.parametrize(("batching", "shown"), [
    ("arrow lz4, up to 4096 events or 50 ms", "batches arrow lz4"),
    ("json, up to 4096 events or 50 ms", "batches json"),
    ("off", "batches off"),
    ("not offered by the server", "batches not offered"),
    ("refused by the server: this server does not send batches", "batches refused"),
])
def test_the_status_line_says_in_a_word_what_batches_were_granted(batching, shown):
    from openagi_nb.stream import State, StreamStats
    from openagi_nb.widgets.status import status_html

    assert shown + " · " in status_html(StreamStats(state=State.LIVE, batching=batching))


def test_the_status_line_shows_the_parts_of_the_stats_line():
    stats = StreamStats(state=State.LIVE, received={"security_events": 1_200,
                                                    "monitoring_events": 10_000},
                        events_per_second=250.0, lag=timedelta(minutes=2), duplicates=3,
                        last_error="server error history_truncated: <old>")
    text = status_html(stats)
    assert "11,200 events (monitoring 10,000, security 1,200) · 250 events/s · lag 2 min" in text
    assert "duplicates 3" in text
    assert "history_truncated" not in text  # live again: an old error is history
