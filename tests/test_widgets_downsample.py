"""Min-max downsampling and the zoom cut; the time-axis helpers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openagi_nb.widgets.downsample import MAX_POINTS, minmax, visible
from openagi_nb.widgets.timeaxis import as_ns, bin_width, ms, parse_when, span


def test_a_short_series_is_kept_whole():
    assert minmax(np.arange(10.0), 2000).tolist() == list(range(10))


def test_a_million_points_come_down_to_the_budget_with_both_ends():
    y = np.random.default_rng(1).normal(size=1_000_000).cumsum()
    keep = minmax(y, MAX_POINTS)
    assert len(keep) <= MAX_POINTS
    assert keep[0] == 0
    assert keep[-1] == len(y) - 1
    assert np.all(np.diff(keep) > 0)


def test_the_global_extremes_survive():
    y = np.random.default_rng(2).normal(size=100_003)
    keep = minmax(y, 500)
    assert int(np.argmax(y)) in keep
    assert int(np.argmin(y)) in keep


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(5, 5000),
    n_out=st.integers(4, 300),
    spike=st.floats(0, 1),
    seed=st.integers(0, 2**32 - 1),
)
def test_a_single_spike_is_never_dropped(n, n_out, spike, seed):
    y = np.random.default_rng(seed).uniform(0, 1, n)
    at = int(spike * (n - 1))
    y[at] = 10.0
    keep = minmax(y, n_out)
    assert at in keep
    assert len(keep) <= max(n_out, 4)


def test_too_small_a_budget_is_refused():
    with pytest.raises(ValueError, match="n_out must be at least 4"):
        minmax(np.arange(100.0), 3)


def test_visible_keeps_one_sample_beyond_each_edge():
    x = np.arange(0, 100, 10)
    assert visible(x, 25, 55) == slice(2, 7)  # 20 .. 60
    assert visible(x, None, None) == slice(0, 10)
    assert visible(x, -50, 5) == slice(0, 2)


def test_ms_turns_nanoseconds_into_milliseconds_and_nat_into_nan():
    out = ms(np.array([1_500_000, np.iinfo(np.int64).min], dtype=np.int64))
    assert out[0] == 1.5
    assert np.isnan(out[1])


def test_as_ns_reads_aware_and_naive_timestamps_as_utc():
    aware = pd.Series(pd.to_datetime(["2026-01-05 09:00:00"], utc=True))
    naive = pd.Series(pd.to_datetime(["2026-01-05 09:00:00"]))
    assert as_ns(aware).tolist() == as_ns(naive).tolist() == [1767603600000000000]


@pytest.mark.parametrize(("value", "expected"), [
    ("2026-01-05 09:00:00.5", 1767603600500000000),
    ("2026-01-05T09:00:00Z", 1767603600000000000),
    (1767603600000.0, 1767603600000000000),
])
def test_parse_when_reads_what_plotly_reports(value, expected):
    assert parse_when(value) == expected


@pytest.mark.parametrize("value", ["soon", None, True])
def test_parse_when_refuses_what_is_not_a_time(value):
    with pytest.raises(ValueError, match="not a time on a date axis"):
        parse_when(value)


def test_span_reads_durations_and_refuses_others():
    assert span("5min") == 300 * 10**9
    assert span(None) is None
    with pytest.raises(ValueError, match="window: expected a duration > 0"):
        span("0s")
    with pytest.raises(ValueError, match="window: not a duration"):
        span("often")


@pytest.mark.parametrize(("seconds", "expected"), [
    (60, "1s"), (300, "5s"), (3600, "1min"), (15 * 60, "15s"), (10 * 86400, "6h"),
    (100 * 86400, "1D"),
])
def test_bin_width_is_the_smallest_round_width_within_sixty_bins_else_a_day(seconds, expected):
    assert bin_width(seconds * 10**9) == expected
