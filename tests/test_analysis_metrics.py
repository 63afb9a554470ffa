"""Tests for openagi_nb.analysis.metrics: breaches (for / hysteresis), summary, resample,
anomalies, on hand-built monitoring frames with known answers."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openagi_nb import model
from openagi_nb.analysis import metrics

MON = "monitoring_events"
T0 = pd.Timestamp("2026-01-05T09:00:00Z")


def at(seconds: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(seconds=seconds)


def frame(rows: list[tuple[Any, ...]], event: str = "metric_update") -> pd.DataFrame:
    """A monitoring frame from ``(seconds, node, metric, value, threshold)`` rows, built through
    the real protocol so it has the declared schema; ``seq`` is the row's position."""
    flat = []
    for seq, (sec, node, metric, value, threshold) in enumerate(rows, 1):
        data = {"node_id": node, "metric": metric, "value": value, "threshold": threshold}
        stamp = model.format_timestamp(T0.value + round(sec * 1e9))
        message = model.data_message(MON, event, data, stamp, seq)
        flat.append(model.flatten(dict(message))[1])
    if not flat:
        return model.empty_frame(MON)
    return model.to_frame(MON, list(zip(*flat, strict=True)))


def series(values: list[float | None], *, node: str = "n1", metric: str = "cpu",
           threshold: float | None = 90.0, every: float = 10.0) -> list[tuple[Any, ...]]:
    return [(k * every, node, metric, v, threshold) for k, v in enumerate(values)]


def episodes(df: pd.DataFrame) -> list[tuple[float, float, float, bool]]:
    """``(start s, end s, peak, ongoing)`` of each episode, for short asserts."""
    return [
        ((r.start - T0).total_seconds(), (r.end - T0).total_seconds(), r.peak, bool(r.ongoing))
        for r in df.itertuples()
    ]


# --- breaches -----------------------------------------------------------------------------


def test_breaches_spike_shorter_than_for_is_not_an_episode():
    df = frame(series([50, 95, 96, 50, 50]))
    assert metrics.breaches(df, for_="20s").empty
    assert episodes(metrics.breaches(df, for_="10s")) == [(10.0, 20.0, 96.0, False)]


def test_breaches_episode_starts_at_first_sample_above_not_when_it_fired():
    df = frame(series([50, 91, 92, 93, 94, 50]))
    assert episodes(metrics.breaches(df, for_="25s")) == [(10.0, 40.0, 94.0, False)]


def test_breaches_condition_held_exactly_for_counts():
    df = frame(series([50, 91, 92, 93, 50]))
    assert len(metrics.breaches(df, for_="20s")) == 1
    assert metrics.breaches(df, for_="20.001s").empty


def test_breaches_for_zero_counts_a_single_sample():
    out = metrics.breaches(frame(series([50, 95, 50])))
    assert episodes(out) == [(10.0, 10.0, 95.0, False)]
    assert out["duration"].iloc[0] == pd.Timedelta(0)


def test_breaches_value_equal_to_threshold_is_not_above():
    assert metrics.breaches(frame(series([90, 90, 90]))).empty


def test_breaches_clear_keeps_episode_between_clear_and_threshold():
    df = frame(series([50, 95, 95, 85, 95, 80, 99]))
    out = metrics.breaches(df, for_="10s", clear=82)
    assert episodes(out) == [(10.0, 40.0, 95.0, False)]
    assert out["duration"].iloc[0] == pd.Timedelta(seconds=30)


def test_breaches_without_clear_a_dip_below_threshold_ends_episode():
    df = frame(series([50, 95, 95, 85, 95, 95, 50]))
    assert episodes(metrics.breaches(df, for_="10s")) == [
        (10.0, 20.0, 95.0, False), (40.0, 50.0, 95.0, False),
    ]


def test_breaches_clear_does_not_start_an_episode_from_below_threshold():
    # 85 is above clear but not above the threshold: it keeps an episode, never starts one
    df = frame(series([85, 85, 95, 85, 70]))
    assert episodes(metrics.breaches(df, clear=80)) == [(20.0, 30.0, 95.0, False)]


def test_breaches_uncounted_spike_does_not_arm_hysteresis():
    # the spike at 10 s is too short; the band values after it must not extend it
    df = frame(series([50, 95, 85, 85, 85, 50]))
    assert metrics.breaches(df, for_="20s", clear=80).empty


def test_breaches_short_spike_inside_a_counted_episode_stays_in_it():
    df = frame(series([95, 95, 95, 85, 95, 85, 70]))
    assert episodes(metrics.breaches(df, for_="20s", clear=80)) == [(0.0, 50.0, 95.0, False)]


def test_breaches_episode_still_open_at_end_of_data_is_ongoing():
    out = metrics.breaches(frame(series([50, 95, 96, 97])), for_="10s")
    assert episodes(out) == [(10.0, 30.0, 97.0, True)]


def test_breaches_ongoing_counts_samples_in_the_band_at_the_end():
    out = metrics.breaches(frame(series([95, 95, 85, 85])), for_="10s", clear=80)
    assert episodes(out) == [(0.0, 30.0, 95.0, True)]


def test_breaches_run_still_pending_at_end_of_data_is_not_reported():
    assert metrics.breaches(frame(series([50, 50, 95, 95])), for_="1min").empty


def test_breaches_for_longer_than_the_data_finds_nothing_with_the_declared_columns():
    out = metrics.breaches(frame(series([95] * 10)), for_="1h")
    assert list(out.columns) == list(metrics.breaches(model.empty_frame(MON)).columns)
    assert out.empty


def test_breaches_empty_frame_has_documented_columns_and_dtypes():
    out = metrics.breaches(model.empty_frame(MON))
    assert list(out.columns) == [
        "node_id", "metric", "start", "end", "duration", "peak", "threshold", "ongoing",
    ]
    assert out["start"].dtype == "datetime64[ns, UTC]"
    assert out["duration"].dtype == "timedelta64[ns]"
    assert out["ongoing"].dtype == bool
    assert out["node_id"].dtype == "string"


def test_breaches_single_row():
    out = metrics.breaches(frame(series([95])))
    assert episodes(out) == [(0.0, 0.0, 95.0, True)]


def test_breaches_unsorted_input_gives_the_same_episodes():
    rows = series([50, 95, 96, 85, 97, 50], node="a") + series([99, 99, 50], node="b")
    ordered = metrics.breaches(frame(rows), for_="10s", clear=80)
    shuffled = metrics.breaches(frame(rows[::-1]), for_="10s", clear=80)
    rng = np.random.default_rng(3)
    permuted = metrics.breaches(frame([rows[i] for i in rng.permutation(len(rows))]),
                                for_="10s", clear=80)
    pd.testing.assert_frame_equal(ordered, shuffled)
    pd.testing.assert_frame_equal(ordered, permuted)
    assert len(ordered) == 2


def test_breaches_skip_rows_with_missing_value_or_threshold():
    rows = series([50, 95, None, 96, 50])
    rows[3] = (30.0, "n1", "cpu", 96, None)  # no threshold: skipped as well
    rows.insert(2, (15.0, "n1", "cpu", 97, 90.0))
    out = metrics.breaches(frame(rows), for_="5s")
    assert episodes(out) == [(10.0, 15.0, 97.0, False)]


def test_breaches_state_does_not_leak_from_one_series_to_the_next():
    # node a ends inside an episode; node b starts in the band: b must not be in an episode
    rows = series([95, 95, 95], node="a") + series([85, 85, 70], node="b")
    out = metrics.breaches(frame(rows), clear=80)
    assert list(out["node_id"]) == ["a"]
    assert bool(out["ongoing"].iloc[0])


def test_breaches_series_are_per_node_and_metric():
    rows = series([95, 95], node="a", metric="cpu") + series([95, 50], node="a", metric="mem")
    out = metrics.breaches(frame(rows))
    assert sorted(zip(out["node_id"], out["metric"], out["ongoing"], strict=True)) == [
        ("a", "cpu", True), ("a", "mem", False),
    ]


def test_breaches_use_each_samples_own_threshold_and_report_the_starting_one():
    rows = [(0, "n", "cpu", 85, 80.0), (10, "n", "cpu", 85, 90.0), (20, "n", "cpu", 95, 90.0)]
    out = metrics.breaches(frame(rows))
    assert episodes(out) == [(0.0, 0.0, 85.0, False), (20.0, 20.0, 95.0, True)]
    assert list(out["threshold"]) == [80.0, 90.0]


def test_breaches_read_only_metric_updates():
    alert = frame(series([95, 96, 97]), event="alert_raised")
    assert metrics.breaches(alert).empty


def test_breaches_metric_filter():
    rows = series([95], metric="cpu") + series([95], metric="mem") + series([95], metric="disk")
    assert set(metrics.breaches(frame(rows), metric="mem")["metric"]) == {"mem"}
    assert set(metrics.breaches(frame(rows), metric=["cpu", "disk"])["metric"]) == {"cpu", "disk"}


def test_breaches_clear_per_metric_mapping_defaults_to_threshold():
    rows = series([95, 85, 70], metric="cpu") + series([95, 85, 70], metric="mem")
    out = metrics.breaches(frame(rows), clear={"cpu": 80})
    ends = dict(zip(out["metric"], (out["end"] - T0).dt.total_seconds(), strict=True))
    assert ends == {"cpu": 10.0, "mem": 0.0}


@pytest.mark.parametrize("clear", [95, {"cpu": 91}])
def test_breaches_clear_above_threshold_raises(clear):
    with pytest.raises(ValueError, match=r"clear 9[15] is above the threshold 90 of metric 'cpu'"):
        metrics.breaches(frame(series([50, 95])), clear=clear)


@pytest.mark.parametrize("bad", ["soon", "-1s"])
def test_breaches_bad_for_raises(bad):
    with pytest.raises(ValueError, match="for_"):
        metrics.breaches(frame(series([95])), for_=bad)


def test_breaches_frame_of_another_channel_raises():
    with pytest.raises(ValueError, match="breaches: frame has no column 'node_id'"):
        metrics.breaches(model.empty_frame("consensus_events"))


def naive_breaches(rows, for_s, clear):
    """The rule as a per-sample state machine (off -> pending -> firing), for comparison."""
    out = []
    ordered = sorted(enumerate(rows), key=lambda r: (r[1][1], r[1][2], r[1][0], r[0]))
    for (node, metric), group in itertools.groupby(
        (r for _, r in ordered), key=lambda r: (r[1], r[2])
    ):
        state, run, episode = "off", [], None
        for t, _, _, v, thr in group:
            level = thr if clear is None else clear
            if state == "firing":
                if v <= level:
                    out.append((node, metric, *episode, False))
                    state, episode = "off", None
                else:
                    episode = (episode[0], t, max(episode[2], v), episode[3])
                continue
            if v > thr:
                run = [*run, (t, v, thr)] if state == "pending" else [(t, v, thr)]
                state = "pending"
                if t - run[0][0] >= for_s:
                    state = "firing"
                    episode = (run[0][0], t, max(x[1] for x in run), run[0][2])
            else:
                state, run = "off", []
        if state == "firing":
            out.append((node, metric, *episode, True))
    return sorted(out, key=lambda e: (e[2], e[0], e[1]))


SAMPLES = st.lists(
    st.tuples(st.integers(0, 40), st.sampled_from(["a", "b"]), st.sampled_from(["x", "y"]),
              st.integers(0, 10), st.sampled_from([5.0, 6.0])),
    max_size=40,
)
"""Samples ``(second, node, metric, value, threshold)`` for the property tests of breaches."""


@settings(max_examples=150, deadline=None)
@given(
    SAMPLES,
    st.sampled_from([0, 5, 10, 20]),
    st.sampled_from([None, 2.0, 4.0, 5.0]),
)
def test_breaches_agree_with_a_per_sample_state_machine(rows, for_s, clear):
    got = metrics.breaches(frame([(t, n, m, float(v), thr) for t, n, m, v, thr in rows]),
                           for_=f"{for_s}s", clear=clear)
    expected = naive_breaches(rows, for_s, clear)
    assert [
        (r.node_id, r.metric, (r.start - T0).total_seconds(), (r.end - T0).total_seconds(),
         r.peak, r.threshold, bool(r.ongoing))
        for r in got.itertuples()
    ] == [(n, m, float(s), float(e), float(p), thr, o) for n, m, s, e, p, thr, o in expected]


# --- summary ------------------------------------------------------------------------------


def test_summary_statistics_per_node_and_metric():
    values = [float(v) for v in range(1, 101)]
    rows = series(values, node="a") + series([5.0], node="b")
    out = metrics.summary(frame(rows))
    a = out.set_index("node_id").loc["a"]
    assert list(out.columns) == [
        "node_id", "metric", "count", "mean", "p50", "p95", "p99", "max", "threshold",
        "share_above",
    ]
    assert (a["count"], a["mean"], a["max"]) == (100, 50.5, 100.0)
    assert a["p50"] == pytest.approx(np.quantile(values, 0.5))
    assert a["p95"] == pytest.approx(np.quantile(values, 0.95))
    assert a["p99"] == pytest.approx(np.quantile(values, 0.99))


def test_summary_share_above_is_weighted_by_time():
    # 95 holds for 30 s, 50 for 10 s; the last sample has no duration
    rows = [(0, "n", "cpu", 95, 90.0), (30, "n", "cpu", 50, 90.0), (40, "n", "cpu", 95, 90.0)]
    assert metrics.summary(frame(rows))["share_above"].iloc[0] == pytest.approx(0.75)


def test_summary_single_sample_share_is_share_of_samples():
    out = metrics.summary(frame(series([95])))
    assert out[["count", "share_above", "p99"]].iloc[0].tolist() == [1, 1.0, 95.0]


def test_summary_ignores_missing_values_and_counts_missing_threshold_as_not_above():
    rows = [(0, "n", "cpu", 95, None), (10, "n", "cpu", None, 90.0), (20, "n", "cpu", 40, 90.0),
            (30, "n", "cpu", 40, 90.0)]
    row = metrics.summary(frame(rows)).iloc[0]
    assert (row["count"], row["mean"], row["share_above"], row["threshold"]) == (
        3, 175 / 3, 0.0, 90.0)


def test_summary_unsorted_equals_sorted():
    rows = series([1, 5, 3, 99, 2], node="a") + series([7, 8], node="b")
    pd.testing.assert_frame_equal(metrics.summary(frame(rows)),
                                  metrics.summary(frame(rows[::-1])))


def test_summary_empty():
    out = metrics.summary(model.empty_frame(MON))
    assert out.empty
    assert out["count"].dtype == np.int64


# --- resample -----------------------------------------------------------------------------


def test_resample_is_wide_with_a_bin_for_every_step():
    rows = [(0, "a", "cpu", 10, 90.0), (20, "a", "cpu", 20, 90.0), (5, "b", "cpu", 1, 90.0),
            (130, "a", "cpu", 30, 90.0), (70, "a", "mem", 5, 90.0)]
    out = metrics.resample(frame(rows), "1min")
    assert list(out.index) == [at(0), at(60), at(120)]
    assert list(out.columns) == [("cpu", "a"), ("cpu", "b"), ("mem", "a")]
    assert out[("cpu", "a")].tolist() == [15.0, pytest.approx(np.nan, nan_ok=True), 30.0]
    assert out["cpu"]["b"].iloc[0] == 1.0


def test_resample_other_aggregation():
    rows = [(0, "a", "cpu", 10, 90.0), (20, "a", "cpu", 20, 90.0)]
    assert metrics.resample(frame(rows), "1min", agg="max").iloc[0, 0] == 20.0


def test_resample_empty_and_bad_frequency():
    assert metrics.resample(model.empty_frame(MON)).empty
    with pytest.raises(ValueError, match="freq"):
        metrics.resample(frame(series([1])), "often")


# --- anomalies ----------------------------------------------------------------------------


def wave(n: int, spike_at: int | None = None, spike: float = 0.0) -> list[float]:
    values = [50 + 2 * np.sin(k / 3) + (k % 5) * 0.3 for k in range(n)]
    if spike_at is not None:
        values[spike_at] += spike
    return values


def test_anomalies_flag_a_spike_and_nothing_else():
    out = metrics.anomalies(frame(series(wave(120, 90, 30.0))), window="5min")
    assert list(out.columns) == ["timestamp", "node_id", "metric", "value", "median", "mad",
                                 "score"]
    assert list(out["timestamp"]) == [at(900)]
    assert out["score"].iloc[0] > 4


def test_anomalies_regular_series_has_none():
    assert metrics.anomalies(frame(series(wave(120))), window="5min").empty


def test_anomalies_spike_does_not_hide_itself_in_its_window():
    # only 10 samples per window: a spike included in its own window would inflate the MAD
    out = metrics.anomalies(frame(series(wave(40, 30, 15.0))), window="100s", min_samples=5)
    assert at(300) in list(out["timestamp"])


def test_anomalies_flat_series_that_jumps_scores_infinite():
    out = metrics.anomalies(frame(series([10.0] * 20 + [11.0])), window="5min")
    assert list(out["timestamp"]) == [at(200)]
    assert np.isinf(out["score"].iloc[0])


def test_anomalies_need_min_samples_in_the_window():
    df = frame(series([10.0] * 6 + [90.0]))
    assert metrics.anomalies(df, min_samples=6).empty
    assert len(metrics.anomalies(df, min_samples=5)) == 1


def test_anomalies_empty_and_bad_arguments():
    assert metrics.anomalies(model.empty_frame(MON)).empty
    with pytest.raises(ValueError, match="window"):
        metrics.anomalies(frame(series([1])), window="0s")
    with pytest.raises(ValueError, match="z"):
        metrics.anomalies(frame(series([1])), z=0)
