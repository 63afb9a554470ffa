"""Tests for openagi_nb.analysis.incidents and for what holds across the analysis package:
the public names, and that no function changes the frame it is given."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

import openagi_nb.analysis as analysis
from openagi_nb import model, scenario
from openagi_nb.analysis import incidents
from openagi_nb.model import Channel

from .events import T0, frame


def metric(sec: float, value: float, node: str = "n1") -> tuple[float, str, dict[str, Any]]:
    return sec, "metric_update", {"node_id": node, "metric": "cpu_usage", "value": value,
                                  "threshold": 80.0, "status": "ok"}


def monitoring(values: list[float]) -> pd.DataFrame:
    return frame("monitoring_events", [metric(10 * k, v) for k, v in enumerate(values)])


def security() -> pd.DataFrame:
    return frame("security_events", [
        (5, "intrusion_detected", {"attack_type": "rce", "source_ip": "7.7.7.7",
                                   "blocked": False, "severity": "critical"}),
    ])


def network() -> pd.DataFrame:
    return frame("network_events", [
        (1, "node_left", {"node_id": "n2", "address": "a", "reason": "graceful"}),
        (2, "node_left", {"node_id": "n3", "address": "a", "reason": "banned"}),
        (3, "network_partition", {"partition_id": "p1", "nodes": ["n4"], "detected_by": "n1"}),
    ])


class Frames:
    """Anything with ``.frame(channel)``, as the live EventStream has."""

    def __init__(self, frames: dict[str, pd.DataFrame]) -> None:
        self.frames = frames

    def frame(self, channel: str) -> pd.DataFrame:
        return self.frames.get(channel, model.empty_frame(channel))


def test_incidents_columns_and_dtypes_when_nothing_happened():
    out = incidents({})
    assert list(out.columns) == ["time", "channel", "kind", "subject", "detail"]
    assert out.empty
    assert out["time"].dtype == "datetime64[ns, UTC]"
    assert out["kind"].dtype == "category"
    assert out["channel"].dtype == "category"


def test_incidents_from_a_mapping_with_missing_channels_in_time_order():
    out = incidents({"monitoring_events": monitoring([50] + [90] * 15), "security_events":
                     security(), "network_events": network()})
    assert list(zip(out["time"], out["kind"].astype(str), out["subject"], strict=True)) == [
        (T0 + pd.Timedelta(seconds=2), "node_left", "n3"),
        (T0 + pd.Timedelta(seconds=3), "partition", "p1"),
        (T0 + pd.Timedelta(seconds=5), "unblocked_intrusion", "7.7.7.7"),
        (T0 + pd.Timedelta(seconds=10), "breach", "n1 cpu_usage"),
    ]
    assert out["channel"].astype(str).tolist() == [
        "network_events", "network_events", "security_events", "monitoring_events"]
    assert out["detail"].iloc[3] == "peak 90 over threshold 80 for 2min 20s (ongoing)"
    assert out["detail"].iloc[2] == "rce (critical), not blocked"


def test_incidents_from_anything_with_frame_and_channel_enum_keys():
    source = {"monitoring_events": monitoring([90] * 20)}
    by_name = incidents(source)
    pd.testing.assert_frame_equal(by_name, incidents(Frames(source)))
    pd.testing.assert_frame_equal(
        by_name, incidents({Channel.MONITORING: source["monitoring_events"]}))  # type: ignore[dict-item]


def test_incidents_default_for_ignores_short_spikes_and_can_be_changed():
    df = {"monitoring_events": monitoring([50, 95, 95, 50, 50])}
    assert incidents(df).empty
    assert list(incidents(df, for_="0s")["kind"].astype(str)) == ["breach"]


def test_incidents_leave_reasons_can_be_changed():
    src = {"network_events": network()}
    assert incidents(src, leave_reasons=()).query("kind == 'node_left'").empty
    assert len(incidents(src, leave_reasons=["graceful", "banned"])
               .query("kind == 'node_left'")) == 2


def test_package_exports_every_documented_name():
    names = {"breaches", "summary", "resample", "anomalies", "top_sources", "unblocked",
             "bursts", "timeline", "certificates", "audit", "AuditReport", "proposals",
             "view_changes", "parameter_history", "phase_latencies", "quorum_violations",
             "membership", "churn", "partitions", "incidents"}
    assert names <= set(analysis.__all__)
    assert analysis.__all__ == sorted(analysis.__all__)
    for name in names:
        assert callable(getattr(analysis, name))


FUNCTIONS = {
    "monitoring_events": ["breaches", "summary", "resample", "anomalies"],
    "security_events": ["top_sources", "unblocked", "bursts", "timeline", "certificates",
                        "audit"],
    "consensus_events": ["proposals", "view_changes", "parameter_history", "phase_latencies",
                         "quorum_violations"],
    "network_events": ["membership", "churn", "partitions"],
}


@pytest.fixture(scope="module")
def generated() -> dict[str, pd.DataFrame]:
    made = scenario.generate(seed=3, duration=1200.0, nodes=16)
    rows: dict[str, list[Any]] = {c.value: [] for c in Channel}
    for message in made.messages:
        channel, row = model.flatten(dict(message))
        rows[channel.value].append(row)
    return {c: model.to_frame(c, list(zip(*r, strict=True))) for c, r in rows.items()}


@pytest.mark.parametrize(("channel", "name"), [
    (channel, name) for channel, names in FUNCTIONS.items() for name in names
])
def test_functions_leave_their_input_unchanged_and_accept_one_row(generated, channel, name):
    df = generated[channel]
    before = df.copy(deep=True)
    getattr(analysis, name)(df)
    pd.testing.assert_frame_equal(df, before)
    getattr(analysis, name)(df.iloc[:1])
    getattr(analysis, name)(model.empty_frame(channel))


def test_incidents_leave_a_capture_unchanged(generated):
    before = {c: f.copy(deep=True) for c, f in generated.items()}
    incidents(generated)
    for channel, df in generated.items():
        pd.testing.assert_frame_equal(df, before[channel])


@pytest.mark.parametrize(("channel", "name"), [
    (channel, name) for channel, names in FUNCTIONS.items() for name in names if name != "audit"
])
def test_functions_ignore_row_order_and_index_labels(generated, channel, name):
    df = generated[channel]
    shuffled = df.iloc[::-1].set_axis([7] * len(df))  # reversed, every label the same
    pd.testing.assert_frame_equal(getattr(analysis, name)(shuffled), getattr(analysis, name)(df))


def test_incidents_judge_stuck_proposals_as_of_the_newest_event_on_any_channel():
    quiet = frame("consensus_events", [
        (0, "proposal_submitted", {"proposal_id": "p1", "proposer": "n1",
                                   "data": {"action": "set", "parameter": "x", "value": 1.0}}),
    ])
    assert incidents({"consensus_events": quiet}).empty
    later = {"consensus_events": quiet, "monitoring_events": monitoring([50] * 8)}  # to 70 s
    out = incidents(later)
    assert list(zip(out["kind"].astype(str), out["subject"], strict=True)) == [
        ("stuck_proposal", "p1")]
    assert out["detail"].iloc[0] == "not executed; last phase none; proposed set x 1"
