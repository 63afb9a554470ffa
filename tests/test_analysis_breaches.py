"""analysis.breaches.episode_times: the episodes of ``breaches`` from arrays, for live plots
(the episode logic itself is tested through ``breaches`` in test_analysis_metrics.py)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openagi_nb.analysis.breaches import breaches, episode_times

from .test_analysis_metrics import SAMPLES, T0, frame

S = 1_000_000_000
LAST = int(np.iinfo(np.int64).max)


def arrays(rows: list[tuple[int, str, str, int, float]]) -> tuple[np.ndarray, ...]:
    """``frame(rows)`` as episode_times reads it: series codes, times, values, thresholds, seq."""
    keys = sorted({(node, metric) for _, node, metric, _, _ in rows})
    series = np.array([keys.index((n, m)) for _, n, m, _, _ in rows], np.int64)
    t = np.array([T0.value + sec * S for sec, *_ in rows], np.int64)
    value = np.array([v for *_, v, _ in rows], np.float64)
    threshold = np.array([th for *_, th in rows], np.float64)
    return series, t, value, threshold, np.arange(1, len(rows) + 1, dtype=np.int64)


@settings(max_examples=150, deadline=None)
@given(SAMPLES, st.sampled_from(["0s", "5s", "10s", "20s"]))
def test_episode_times_are_the_starts_and_ends_of_breaches(rows, for_):
    expected = breaches(frame(rows), for_=for_)
    start, end = episode_times(*arrays(rows), for_=for_)
    got = sorted(zip(start.tolist(), end.tolist(), strict=True))
    assert got == sorted(zip(expected["start"].array.asi8.tolist(),
                             expected["end"].array.asi8.tolist(), strict=True))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.sampled_from(["a", "b", "c"]),
                          st.just("x"), st.integers(0, 10), st.just(5.0)), max_size=40))
def test_arrays_sorted_already_need_no_tiebreak(rows):
    series, t, value, threshold, seq = arrays(rows)
    order = np.lexsort((seq, t, series))
    presorted = episode_times(series[order], t[order], value[order], threshold[order], None)
    for got, want in zip(presorted, episode_times(series, t, value, threshold, seq), strict=True):
        assert sorted(got.tolist()) == sorted(want.tolist())


def test_samples_of_one_time_follow_their_seq_and_missing_seq_comes_last():
    t = np.full(3, T0.value, np.int64)
    value, threshold = np.array([9.0, 1.0, 9.0]), np.full(3, 5.0)
    seq = np.array([3, 1, LAST], np.int64)  # so: 1.0 (seq 1), 9.0 (seq 3), 9.0 (no seq)
    start, end = episode_times(np.zeros(3, np.int64), t, value, threshold, seq)
    assert (start.tolist(), end.tolist()) == ([T0.value], [T0.value])


def test_a_negative_for_is_refused():
    with pytest.raises(ValueError, match="for_"):
        episode_times(*arrays([(0, "a", "x", 9, 5.0)]), for_="-1s")
