"""Live figures on a LiveFrame (and on a real stream): what they send, when, and when they stop.

Ticks run on ``FakeClock``; what a widget sends goes through a real ``comm`` object whose
transport (``publish_msg``, the kernel's job) records the messages instead (``Wire``).
"""

from __future__ import annotations

from typing import Any

import pytest
from comm.base_comm import BaseComm

from openagi_nb.model import flatten
from openagi_nb.server._options import MAX
from openagi_nb.stream import EventStream, LiveFrame
from openagi_nb.widgets import live_consensus, live_metrics, live_network, live_security
from openagi_nb.widgets.live import LiveFigure
from openagi_nb.widgets.sync import ANCHOR

from .test_widgets_plots import T0, S, sample
from .test_widgets_refresh import FakeClock


class Wire(BaseComm):  # type: ignore[misc]
    """A comm whose transport keeps the messages (the kernel would send them)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Any, Any]] = []
        super().__init__(target_name="jupyter.widget")

    def publish_msg(self, msg_type: str, data: Any = None, metadata: Any = None,
                    buffers: Any = None, **keys: Any) -> None:
        self.sent.append((msg_type, data, buffers))

    def updates(self) -> list[dict[str, Any]]:
        """The ``_py2js_update`` messages sent (Plotly.update in the browser)."""
        return [d["state"]["_py2js_update"] for kind, d, _ in self.sent
                if kind == "comm_msg" and d.get("state", {}).get("_py2js_update")]


def line(fig: LiveFigure, name: str = "a") -> Any:
    """The trace of one node (or another series) by name."""
    return next(t for t in fig.data if t.name == name)


def names(fig: LiveFigure) -> list[str]:
    """The series shown, without the time-axis anchor trace."""
    return [t.name for t in fig.data if t.name != ANCHOR]


def cpu_frame(samples: list[tuple[float, str, float]]) -> LiveFrame:
    frame = LiveFrame("monitoring_events")
    add(frame, samples)
    return frame


def add(frame: LiveFrame, samples: list[tuple[float, str, float]]) -> None:
    frame.extend(flatten(sample(t, n, v))[1] for t, n, v in samples)


def wired(fig: LiveFigure) -> Wire:
    wire = Wire()
    fig.comm = wire
    wire.sent.clear()  # its comm_open
    return wire


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_a_live_figure_draws_the_frame_when_made(clock):
    fig = live_metrics(cpu_frame([(0, "a", 1), (1, "b", 2)]), "cpu_usage", scheduler=clock)
    assert names(fig) == ["breach", "a", "b", "threshold 80", "over threshold"]
    assert fig.data[0].name == ANCHOR
    assert fig.refresher.renders == 1
    assert clock.pending == 1


def test_new_rows_are_drawn_at_the_next_tick_in_one_update(clock):
    frame = cpu_frame([(0, "a", 1), (1, "b", 2)])
    fig = live_metrics(frame, "cpu_usage", scheduler=clock)
    wire = wired(fig)
    add(frame, [(2, "a", 3), (3, "a", 4)])
    assert len(line(fig).x) == 1
    clock.advance(0.5)
    assert list(line(fig).y) == [1, 3, 4]
    assert len(wire.updates()) == 1


def test_nothing_is_sent_while_nothing_arrives(clock):
    fig = live_metrics(cpu_frame([(0, "a", 1)]), scheduler=clock)
    wire = wired(fig)
    clock.advance(10)
    assert wire.sent == []
    assert fig.refresher.renders == 1


def test_rows_arriving_all_the_time_are_drawn_at_most_once_per_refresh(clock):
    frame = cpu_frame([(0, "a", 1)])
    fig = live_metrics(frame, scheduler=clock, refresh=1.0)
    wire = wired(fig)
    for i in range(1, 41):  # a row every 0.1 s for 4 s
        add(frame, [(i, "a", float(i))])
        clock.advance(0.1)
    assert fig.refresher.renders == 1 + 4
    assert len(wire.updates()) == 4


def test_each_date_axis_has_an_anchor_trace_of_date_strings(clock):
    # plotly.js infers an axis type again from the axis' first trace after every restyle of
    # trace data (#2144): the anchor keeps the time axes date axes
    metrics = live_metrics(cpu_frame([(0, "a", 1), (5, "a", 2)]), scheduler=clock)
    anchor = metrics.data[0]
    assert list(anchor.x) == ["2026-01-05 09:00:00.000000", "2026-01-05 09:00:05.000000"]
    assert anchor.showlegend is False
    security = live_security(LiveFrame("security_events"), scheduler=clock)
    assert [(t.xaxis, t.yaxis) for t in security.data if t.name == ANCHOR] == [
        ("x", "y"), ("x2", "y2")]


def test_updates_while_zoomed_leave_the_layout_alone(clock):
    # an update that set the axis type would also reset the browser's zoom
    frame = cpu_frame([(t, "a", 1.0) for t in range(300)])
    fig = live_metrics(frame, scheduler=clock, window=None)
    wire = wired(fig)
    fig.plotly_relayout({"xaxis.range[0]": "2026-01-05 09:01:40",
                         "xaxis.range[1]": "2026-01-05 09:02:30"})
    clock.advance(0.5)
    add(frame, [(120.5, "a", 2.0)])
    clock.advance(0.5)
    updates = wire.updates()
    assert len(updates) == 2
    assert all(not u["layout_data"] for u in updates)


def test_the_browser_echoing_the_zoom_rounded_does_not_redraw(clock):
    fig = live_metrics(cpu_frame([(t, "a", 1.0) for t in range(300)]), scheduler=clock)
    fig.plotly_relayout({"xaxis.range[0]": "2026-01-05 09:01:40",
                         "xaxis.range[1]": "2026-01-05 09:02:30"})
    clock.advance(0.5)
    renders = fig.refresher.renders
    fig.plotly_relayout({"xaxis.range": ["2026-01-05 09:01:40.0004", "2026-01-05 09:02:29.9996"],
                         "xaxis.autorange": False})
    clock.advance(2)
    assert fig.refresher.renders == renders


def test_pause_freezes_the_figure_and_resume_catches_up(clock):
    frame = cpu_frame([(0, "a", 1)])
    fig = live_metrics(frame, scheduler=clock)
    fig.pause()
    add(frame, [(1, "a", 2), (2, "a", 3)])
    clock.advance(5)
    assert list(line(fig).y) == [1]
    assert fig.paused
    fig.resume()
    clock.advance(0.5)
    assert list(line(fig).y) == [1, 2, 3]


def test_a_closed_figure_stops_refreshing(clock):
    frame = cpu_frame([(0, "a", 1)])
    fig = live_metrics(frame, scheduler=clock)
    fig.close()
    add(frame, [(1, "a", 2)])
    clock.advance(5)
    assert fig.refresher.closed
    assert fig.refresher.renders == 1
    assert clock.pending == 0


def test_the_browser_closing_the_widget_stops_its_refresh(clock):
    fig = live_metrics(cpu_frame([(0, "a", 1)]), scheduler=clock)
    wire = wired(fig)
    wire.handle_close({"content": {"comm_id": wire.comm_id, "data": {}}})
    assert fig.refresher.closed
    assert clock.pending == 0


def test_a_zoom_resamples_the_zoomed_range_and_autorange_follows_again(clock):
    frame = cpu_frame([(t, "a", float(t)) for t in range(10_000)])
    fig = live_metrics(frame, scheduler=clock, window=None, max_points=100)
    assert len(line(fig).x) <= 100
    fig.plotly_relayout({"xaxis.range[0]": "2026-01-05 09:01:40",
                         "xaxis.range[1]": "2026-01-05 09:02:30"})
    assert fig.view.x_range == (T0 + 100 * S, T0 + 150 * S)
    clock.advance(0.5)
    assert list(line(fig).y) == [float(t) for t in range(99, 152)]  # every sample
    fig.plotly_relayout({"xaxis.autorange": True})
    clock.advance(0.5)
    assert fig.view.x_range is None
    assert len(line(fig).x) <= 100


def test_the_browser_reporting_its_autorange_does_not_trigger_a_redraw(clock):
    fig = live_metrics(cpu_frame([(0, "a", 1), (9, "a", 2)]), scheduler=clock)
    fig.plotly_relayout({"xaxis.autorange": True,
                         "xaxis.range": ["2026-01-05 09:00:00", "2026-01-05 09:00:09"]})
    clock.advance(2)
    assert fig.refresher.renders == 1


def test_a_new_node_rebuilds_the_traces(clock):
    frame = cpu_frame([(0, "a", 1)])
    fig = live_metrics(frame, scheduler=clock)
    add(frame, [(1, "b", 2)])
    clock.advance(0.5)
    assert names(fig)[1:3] == ["a", "b"]


def test_a_view_made_later_starts_from_the_traces_shown(clock):
    # Voila makes the views once the notebook ran, a reloaded page makes new ones: they start
    # from the widget's state, and the messages sent before them are gone
    frame = cpu_frame([(0, "a", 1)])
    fig = live_metrics(frame, scheduler=clock)
    add(frame, [(1, "b", 2)])
    clock.advance(0.5)
    state = fig.get_state()
    assert [t.get("name") for t in state["_widget_data"]] == [t.name for t in fig.data]
    assert state["_widget_layout"]["xaxis"]["type"] == "date"


def test_set_view_changes_what_is_shown_at_the_next_tick(clock):
    frame = cpu_frame([(0, "a", 1), (0, "b", 2)])
    fig = live_metrics(frame, scheduler=clock)
    fig.set_view(nodes=("b",))
    clock.advance(0.5)
    assert names(fig)[1:2] == ["b"]


def test_a_frame_of_another_channel_is_refused(clock):
    with pytest.raises(ValueError, match="expected a monitoring_events frame"):
        live_metrics(LiveFrame("security_events"), scheduler=clock)
    with pytest.raises(TypeError, match="expected an EventStream or a LiveFrame"):
        live_metrics("monitoring_events", scheduler=clock)  # type: ignore[arg-type]


def test_every_live_figure_draws_from_an_empty_frame(clock):
    for make, channel in ((live_security, "security_events"),
                          (live_consensus, "consensus_events"),
                          (live_network, "network_events")):
        fig = make(LiveFrame(channel), scheduler=clock)
        assert fig.refresher.last_error is None
        assert fig.layout.title.text


def test_stopping_the_stream_stops_its_figures_after_a_last_redraw(serve, capture, clock):
    server = serve(capture, speed=MAX, wait_for=1)
    stream = EventStream(server.ws_url, token=server.token("w"), channels=["monitoring_events"])
    stream.start()
    try:
        fig = live_metrics(stream, scheduler=clock, window=None)
        stream.wait_for(100, timeout=20)
    finally:
        stream.stop()
    clock.advance(0.5)
    assert fig.refresher.closed
    assert clock.pending == 0
    assert sum(len(t.x) for t in fig.data if t.name.startswith("node_")) == 100
