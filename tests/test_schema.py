"""model/_schema.py: one declared column schema per channel, the same for every way a frame is
built."""

from __future__ import annotations

import pandas as pd
import pytest

from openagi_nb import model
from openagi_nb.model import Channel, Kind


@pytest.mark.parametrize("channel", list(Channel))
def test_every_channel_starts_with_the_envelope_and_ends_with_extra(channel):
    names = [c.name for c in model.columns(channel)]
    assert names[:3] == ["seq", "timestamp", "event"]
    assert names[-1] == "extra"
    assert len(names) == len(set(names))


def test_the_catalogue_has_the_sixteen_events_of_the_spec():
    events = {e for events in model.CATALOGUE.values() for e in events}
    assert len(events) == 16
    assert {"node_joined", "decision_executed", "intrusion_detected", "metric_update"} <= events


def test_declared_dtypes_follow_the_kinds():
    dtypes = model.dtypes("monitoring_events")
    assert dtypes["seq"] == "Int64"
    assert str(dtypes["timestamp"]) == "datetime64[ns, UTC]"
    assert dtypes["value"] == "float64"
    assert dtypes["node_id"] == pd.StringDtype()
    assert list(dtypes["severity"].categories) == ["low", "medium", "high", "critical"]
    assert dtypes["severity"].ordered
    assert model.dtypes("security_events")["blocked"] == "boolean"


def test_severity_is_ordered_low_to_critical():
    frame = model.to_frame("security_events", [
        [1, 2], [0, 0], ["intrusion_detected"] * 2, [None] * 2, [None] * 2, [None] * 2,
        ["critical", "low"], *[[None] * 2] * 6,
    ])
    assert frame["severity"].max() == "critical"
    assert (frame["severity"] >= "high").tolist() == [True, False]


def test_list_columns_are_arrow_lists_of_strings():
    col = next(c for c in model.columns("network_events") if c.name == "nodes")
    assert col.kind is Kind.LIST


def test_a_closed_set_has_one_dtype_object_so_frames_share_its_lookup():
    severity = next(c for c in model.columns("security_events") if c.name == "severity")
    assert severity.dtype is severity.dtype
