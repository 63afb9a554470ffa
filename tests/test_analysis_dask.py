"""The analysis functions on Dask frames give exactly the pandas answer, on the synchronous
scheduler and on a ``distributed.Client`` with 2 local worker processes.

The frames are a generated scenario's channels, cut into partitions at times chosen *inside*
the episodes, bursts, proposals and membership changes of the pandas answer (each test asserts
such a straddling item exists, so it cannot pass vacuously), and also split evenly.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openagi_nb import scenario
from openagi_nb.analysis import (
    breaches,
    bursts,
    certificates,
    churn,
    incidents,
    membership,
    partitions,
    proposals,
    resample,
    summary,
    top_sources,
    unblocked,
    view_changes,
)

from .test_analysis_metrics import SAMPLES, frame
from .test_analysis_scenario import frames_of
from .test_analysis_security import block, intrusion
from .test_analysis_security import frame as security_frame

dd = pytest.importorskip("dask.dataframe")
dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")

MON, SEC, CON, NET = "monitoring_events", "security_events", "consensus_events", "network_events"


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    made = scenario.generate(seed=2024, duration=1800.0, nodes=16)
    return frames_of(made.messages)


@pytest.fixture(scope="module", params=["synchronous", "distributed"])
def scheduler(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run the module's tests once on the synchronous scheduler, once on a 2-worker client."""
    if request.param == "synchronous":
        with dask.config.set(scheduler="synchronous"):
            yield request.param
        return
    with distributed.Client(n_workers=2, threads_per_worker=1, processes=True,
                            dashboard_address=None, memory_limit="1GiB") as client:
        assert len(client.scheduler_info()["workers"]) == 2
        yield request.param


def cut_rows(df: pd.DataFrame, cuts: list[int]) -> Any:
    """``df`` as a Dask frame whose partitions start at rows ``cuts`` (modulo its length)."""
    positions = sorted({c % len(df) for c in cuts} - {0})
    whole = dd.from_pandas(df, npartitions=1, sort=True)
    return whole.repartition(divisions=[0, *positions, len(df) - 1])


def cut(df: pd.DataFrame, times: list[pd.Timestamp]) -> Any:
    """``df`` (time-sorted) as a Dask frame whose partitions start at each of ``times``."""
    df = df.reset_index(drop=True)
    stamps = df["timestamp"].array.asi8
    positions = sorted({int(np.searchsorted(stamps, t.value, side="left"))
                        for t in times} - {0, len(df)})
    whole = dd.from_pandas(df, npartitions=1, sort=True)
    return whole.repartition(divisions=[0, *positions, len(df) - 1])


def even(df: pd.DataFrame, k: int) -> Any:
    return dd.from_pandas(df.reset_index(drop=True), npartitions=k, sort=True)


def inside(starts: pd.Series, ends: pd.Series) -> list[pd.Timestamp]:
    """A time strictly inside each of the spans that have one (their middle)."""
    return [a + (b - a) / 2 for a, b in zip(starts, ends, strict=True) if b - a > pd.Timedelta(0)]


def straddled(starts: pd.Series, ends: pd.Series, times: list[pd.Timestamp]) -> int:
    return sum(any(a < t <= b for t in times) for a, b in zip(starts, ends, strict=True))


@pytest.mark.parametrize("options", [{}, {"for_": "2min"}, {"for_": "20s", "clear": 0.0}])
def test_breaches_across_boundaries(frames, scheduler, options):
    df = frames[MON]
    want = breaches(df, **options)
    times = inside(want["start"], want["end"])
    assert straddled(want["start"], want["end"], times) >= 1
    pd.testing.assert_frame_equal(breaches(cut(df, times), **options), want)
    pd.testing.assert_frame_equal(breaches(even(df, 7), **options), want)


def test_summary(frames, scheduler):
    df = frames[MON]
    pd.testing.assert_frame_equal(summary(even(df, 5)), summary(df))
    pd.testing.assert_frame_equal(summary(even(df, 3), metric="cpu_usage"),
                                  summary(df, metric="cpu_usage"))


@pytest.mark.parametrize("args", [(), ("7min", "max"), ("30s", "last"), ("1h", "count")])
def test_resample_bins_across_boundaries(frames, scheduler, args):
    df = frames[MON]
    want = resample(df, *args)
    # cut in the middle of bins: their samples come from two partitions
    times = [want.index[i] + pd.Timedelta(seconds=13) for i in range(1, len(want), 4)]
    pd.testing.assert_frame_equal(resample(cut(df, times), *args), want)
    pd.testing.assert_frame_equal(resample(even(df, 6), *args), want)


def test_top_sources_and_unblocked(frames, scheduler):
    df = frames[SEC]
    for n in (10, None):
        pd.testing.assert_frame_equal(top_sources(even(df, 4), n), top_sources(df, n))
    for level in ("high", "low"):
        want = unblocked(df, level)
        assert len(want)
        pd.testing.assert_frame_equal(unblocked(even(df, 4), level), want)


@pytest.mark.parametrize("options", [{}, {"window": "30s", "min_events": 5},
                                     {"window": "10s", "min_events": 2}])
def test_bursts_across_boundaries(frames, scheduler, options):
    df = frames[SEC]
    want = bursts(df, **options)
    times = inside(want["start"], want["end"])
    times += [t + pd.Timedelta(seconds=1) for t in times]  # two cuts in one burst too
    assert straddled(want["start"], want["end"], times) >= 1
    pd.testing.assert_frame_equal(bursts(cut(df, times), **options), want)
    pd.testing.assert_frame_equal(bursts(even(df, 9), **options), want)


def test_proposals_across_boundaries(frames, scheduler):
    df = frames[CON]
    want = proposals(df)
    done = want.dropna(subset=["submitted_at", "executed_at"])
    times = inside(done["submitted_at"], done["executed_at"])[::3]
    assert straddled(done["submitted_at"], done["executed_at"], times) >= 5
    assert (want["status"] == "stuck").any()
    pd.testing.assert_frame_equal(proposals(cut(df, times)), want)
    pd.testing.assert_frame_equal(proposals(even(df, 4), stuck_after="5s"),
                                  proposals(df, stuck_after="5s"))


def test_membership_across_boundaries(frames, scheduler):
    df = frames[NET]
    want = membership(df, initial=["node-00", "node-01"])
    times = inside(want["timestamp"].iloc[:-1], want["timestamp"].iloc[1:])
    assert len(times) >= 2
    pd.testing.assert_frame_equal(membership(cut(df, times), initial=["node-00", "node-01"]),
                                  want)
    pd.testing.assert_frame_equal(churn(cut(df, times), "5min"), churn(df, "5min"))
    for table in (certificates, view_changes, partitions):  # what incidents reads too
        pd.testing.assert_frame_equal(table(even(frames[table_channel(table)], 3)),
                                      table(frames[table_channel(table)]))


def table_channel(table: Any) -> str:
    return SEC if table is certificates else CON if table is view_changes else NET


class Dataset:
    """What ``open_dataset`` gives, as far as analysis knows: ``to_dask(channel)``."""

    def __init__(self, frames: dict[str, pd.DataFrame], parts: int) -> None:
        self.frames, self.parts = frames, parts

    def to_dask(self, channel: str) -> Any:
        return even(self.frames[channel], self.parts)


def test_incidents_of_a_dataset(frames, scheduler):
    want = incidents(frames)
    assert set(want["kind"]) >= {"breach", "burst", "stuck_proposal", "node_left"}
    pd.testing.assert_frame_equal(incidents(Dataset(frames, 5)), want)
    dask_frames = {name: even(df, 3) for name, df in frames.items()}
    pd.testing.assert_frame_equal(incidents(dask_frames), want)


# --- the stitching on many small random cases (synchronous scheduler) -----------------------


@settings(max_examples=60, deadline=None)
@given(SAMPLES, st.sampled_from(["0s", "5s", "20s"]), st.lists(st.integers(1, 60), max_size=4))
def test_breaches_equal_pandas_wherever_the_partitions_are_cut(rows, for_, cuts):
    df = frame(sorted(rows, key=lambda r: r[0]))
    if not len(df):
        return
    ddf = cut_rows(df, cuts)
    with dask.config.set(scheduler="synchronous"):
        got = breaches(ddf, for_=for_, clear=1.0)
    pd.testing.assert_frame_equal(got, breaches(df, for_=for_, clear=1.0))


ATTACK_EVENTS = st.lists(
    st.tuples(st.integers(0, 120), st.sampled_from(["a", "b"]), st.sampled_from(["1", "2", "3"]),
              st.booleans()),
    max_size=60,
)
"""Attack events ``(second, attack type, source ip, blocked)`` for the bursts property test."""


@settings(max_examples=60, deadline=None)
@given(ATTACK_EVENTS, st.sampled_from([("5s", 2), ("10s", 3), ("30s", 6)]),
       st.lists(st.integers(1, 80), max_size=5))
def test_bursts_equal_pandas_wherever_the_partitions_are_cut(made, options, cuts):
    chosen = [(block if b else intrusion)(sec, ip, attack) for sec, attack, ip, b in made]
    df = security_frame(sorted(chosen, key=lambda e: e[0]))
    if not len(df):
        return
    ddf = cut_rows(df, cuts)
    window, least = options
    with dask.config.set(scheduler="synchronous"):
        got = bursts(ddf, window, least)
    pd.testing.assert_frame_equal(got, bursts(df, window, least))


def test_partitions_out_of_time_order_are_refused(frames):
    df = frames[MON].reset_index(drop=True)
    half = len(df) // 2
    swapped = pd.concat([df.iloc[half:], df.iloc[:half]], ignore_index=True)
    with dask.config.set(scheduler="synchronous"), pytest.raises(ValueError, match="time order"):
        breaches(even(swapped, 2))


def test_the_analysis_does_not_import_dask():
    code = ("import sys, pandas, openagi_nb.analysis as a; from openagi_nb.model import "
            "empty_frame; a.breaches(empty_frame('monitoring_events')); "
            "a.incidents({}); assert 'dask' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
