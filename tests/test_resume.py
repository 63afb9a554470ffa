"""stream/_resume.py: what to resume from, which messages are duplicates, which outages are gaps."""

from __future__ import annotations

import pandas as pd

from openagi_nb.model import Channel
from openagi_nb.stream._resume import Resume

M, S = Channel.MONITORING, Channel.SECURITY
T0 = 1_767_600_000_000_000_000


def ts(seconds: float) -> pd.Timestamp:
    return pd.Timestamp(T0 + int(seconds * 1e9), unit="ns", tz="UTC")


def ns(seconds: float) -> int:
    return T0 + int(seconds * 1e9)


def test_since_is_none_before_any_seq():
    assert Resume().since(M) is None


def test_since_is_the_last_seq_of_the_channel():
    resume = Resume()
    resume.accept(M, 4, ns(0))
    resume.accept(S, 9, ns(1))
    assert (resume.since(M), resume.since(S)) == (4, 9)


def test_a_channel_without_events_resumes_from_the_newest_seq_of_any():
    resume = Resume()
    resume.accept(S, 12, ns(0))
    assert resume.since(M) == 12


def test_a_seq_already_seen_is_a_duplicate():
    resume = Resume()
    assert resume.accept(M, 5, ns(0))
    assert not resume.accept(M, 5, ns(0))
    assert not resume.accept(M, 3, ns(0))
    assert resume.duplicates == 2
    assert resume.gaps == []


def test_a_resumed_connection_leaves_no_gap():
    resume = Resume()
    resume.accept(M, 5, ns(0))
    resume.disconnected((M, S))
    assert resume.accept(M, 6, ns(1))
    assert resume.gaps == []
    assert resume.pending() == []


def test_without_seq_an_outage_is_a_gap_from_the_last_event_to_the_next():
    resume = Resume()
    resume.accept(M, None, ns(1))
    resume.accept(M, None, ns(2))
    resume.disconnected((M,))
    assert [(g.channel, g.start, g.end) for g in resume.pending()] == [(M, ts(2), None)]
    resume.accept(M, None, ns(7))
    assert [(g.channel, g.start, g.end) for g in resume.gaps] == [(M, ts(2), ts(7))]
    assert resume.pending() == []


def test_two_outages_before_the_next_event_are_one_gap():
    resume = Resume()
    resume.accept(M, None, ns(1))
    resume.disconnected((M,))
    resume.disconnected((M,))
    resume.accept(M, None, ns(5))
    assert len(resume.gaps) == 1


def test_a_channel_never_heard_of_on_a_seq_less_server_gets_a_gap_without_start():
    resume = Resume()
    resume.disconnected((S,))
    resume.accept(S, None, ns(3))
    assert [(g.start, g.end) for g in resume.gaps] == [(None, ts(3))]


def test_a_sequence_that_restarts_after_a_reconnect_is_accepted_and_is_a_gap():
    resume = Resume()
    resume.accept(M, 500, ns(1))
    resume.disconnected((M,))
    assert resume.accept(M, 1, ns(9))
    assert resume.accept(M, 2, ns(10))
    assert [(g.start, g.end, g.reason) for g in resume.gaps] == [
        (ts(1), ts(9), "server sequence restarted")
    ]
    assert resume.since(M) == 2


def test_truncated_history_is_a_gap_until_the_next_event():
    resume = Resume()
    resume.accept(M, 5, ns(1))
    resume.disconnected((M,))
    resume.truncated((M,))
    resume.accept(M, 900, ns(60))
    assert [(g.start, g.end, g.reason) for g in resume.gaps] == [
        (ts(1), ts(60), "history no longer retained")
    ]


def test_a_channel_acked_live_after_seq_resumes_from_there_before_any_event():
    resume = Resume()
    resume.subscribed(M, 41)
    assert resume.since(M) == 41
    resume.disconnected((M,))
    assert resume.accept(M, 42, ns(1))
    assert resume.gaps == []


def test_an_ack_does_not_move_a_channel_that_has_seen_events():
    resume = Resume()
    resume.accept(M, 7, ns(0))
    resume.subscribed(M, 41)
    assert resume.since(M) == 7


def test_the_newest_event_is_the_newest_of_any_channel():
    resume = Resume()
    assert resume.newest_ns() is None
    resume.accept(M, 1, ns(2))
    resume.accept(S, 2, ns(4))
    resume.accept(M, 3, ns(3))
    assert resume.newest_ns() == ns(4)
