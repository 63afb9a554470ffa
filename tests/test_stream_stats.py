"""stream/_stats.py: a stream's stats read as one line (``str``, the notebook repr), from the
parts the dashboard's status line shares."""

from __future__ import annotations

from datetime import timedelta

from openagi_nb.stream import State, StreamStats

RECEIVED = {"network_events": 245, "consensus_events": 900, "security_events": 1_200,
            "monitoring_events": 10_000}
LINE = ("live · 12,345 events (monitoring 10,000, security 1,200, consensus 900, network 245) · "
        "250 events/s · lag 0.3 s · reconnects 0 · gaps 0 · rejected 0 · batches arrow lz4")


def live() -> StreamStats:
    return StreamStats(state=State.LIVE, received=RECEIVED, events_per_second=250.4,
                       lag=timedelta(milliseconds=345),
                       batching="arrow lz4, up to 4096 events or 50 ms")


class Printer:
    """IPython's pretty printer, as much of it as ``_repr_pretty_`` uses."""

    def __init__(self) -> None:
        self.out = ""

    def text(self, text: str) -> None:
        self.out += text


def test_stats_read_as_one_line():
    assert str(live()) == LINE


def test_the_notebook_shows_the_line_and_the_repr_names_the_class():
    printer = Printer()
    live()._repr_pretty_(printer, cycle=False)
    assert printer.out == LINE
    assert repr(live()) == f"<StreamStats {LINE}>"


def test_a_new_stream_reads_no_events_and_no_lag():
    assert str(StreamStats(state=State.NEW)) == (
        "new · 0 events · 0.0 events/s · lag n/a · reconnects 0 · gaps 0 · rejected 0 · "
        "batches off")


def test_what_is_usually_zero_or_unset_shows_only_when_it_is_not():
    stats = StreamStats(
        state=State.RECONNECTING, received={"security_events": 3, "monitoring_events": 0},
        rejected={"other": 2, "security_events": 1}, events_per_second=1.25,
        lag=timedelta(hours=1, minutes=5), reconnects=4, gaps=1, duplicates=7, ignored=1,
        callback_errors=2, recording="/data/runs/today.jsonl.gz",
        last_error="connection lost: connection reset", batching="not offered by the server")
    assert str(stats) == (
        "reconnecting · 3 events (security 3) · 1.2 events/s · lag 1 h 5 min · reconnects 4 · "
        "gaps 1 · rejected 3 · batches not offered · duplicates 7 · ignored 1 · "
        "callback errors 2 · recording today.jsonl.gz · "
        "last error: connection lost: connection reset")


def test_the_line_is_one_line_and_the_fields_stay():
    stats = live()
    assert "\n" not in str(stats)
    assert "\n" not in repr(stats)
    assert stats.lag == timedelta(milliseconds=345)
    assert stats.total == 12_345
