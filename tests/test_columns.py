"""model/_columns.py: every representation of a column becomes the declared dtype and values."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from pandas.testing import assert_frame_equal, assert_series_equal

from openagi_nb import model
from openagi_nb.model import Channel, Column, Kind

from .test_live_frame import rows_of, sample_messages

T0 = 1_767_600_000_000_000_000
INT64_MIN = int(np.iinfo(np.int64).min)
ALL_COLUMNS = {f"{channel.value}.{c.name}": c for channel in Channel
               for c in model.columns(channel)}
COLUMN = {c.name: c for c in reversed(ALL_COLUMNS.values())}  # first declaration of a name
MONITORING = "monitoring_events"


def sample(col: Column) -> list[Any]:
    """Two values and a missing one in the middle, as ``flatten`` gives them."""
    if col.kind is Kind.CATEGORY:
        return [col.categories[-1], None, col.categories[0]]
    return {
        Kind.FLOAT: [1.5, None, -2.0],
        Kind.INT: [3, None, -(2**63)],  # INT64_MIN is a value here, not NA
        Kind.BOOL: [True, None, False],
        Kind.STRING: ["a", None, "é"],
        Kind.TIMESTAMP: [T0, None, T0 + 1],
        Kind.LIST: [["a", "b"], None, []],
    }[col.kind]


def arrow(col: Column, values: list[Any]) -> pa.Array:
    types = {Kind.FLOAT: pa.float64(), Kind.INT: pa.int64(), Kind.BOOL: pa.bool_(),
             Kind.STRING: pa.large_string(), Kind.TIMESTAMP: pa.timestamp("ns", "UTC"),
             Kind.CATEGORY: pa.string(), Kind.LIST: pa.list_(pa.string())}
    return pa.array(values, types[col.kind])


def ring(col: Column) -> tuple[np.ndarray, pa.Array | None]:
    """The sample as a LiveFrame holds it."""
    if col.kind is Kind.STRING:
        return np.array([1, 0, 2], np.int32), pa.array([None, "a", "é"], pa.large_string())
    if col.kind is Kind.CATEGORY:
        return np.array([len(col.categories) - 1, -1, 0], np.int8), None
    data = {
        Kind.FLOAT: np.array([1.5, np.nan, -2.0]),
        Kind.INT: np.array([3, INT64_MIN, 7]),
        Kind.BOOL: np.array([1, -1, 0], np.int8),
        Kind.TIMESTAMP: np.array([T0, INT64_MIN, T0 + 1]),
    }
    if col.kind is Kind.LIST:
        lists = np.empty(3, object)
        lists[:] = [("a", "b"), None, ()]
        return lists, None
    return data[col.kind], None


def series(array: Any) -> pd.Series:
    return pd.Series(array, copy=False)


@pytest.mark.parametrize("name", sorted(ALL_COLUMNS))
def test_python_values_give_the_declared_dtype_with_na_for_none(name):
    col = ALL_COLUMNS[name]
    out = model.from_values(col, sample(col))
    assert out.dtype == col.dtype
    assert series(out).isna().tolist() == [False, True, False]


@pytest.mark.parametrize("name", sorted(ALL_COLUMNS))
def test_arrow_arrays_and_chunked_arrays_equal_the_python_values(name):
    col = ALL_COLUMNS[name]
    values = sample(col)
    expected = series(model.from_values(col, values))
    whole = arrow(col, values)
    assert_series_equal(series(model.from_arrow(col, whole)), expected)
    chunked = pa.chunked_array([whole[:1], whole[1:2], whole[2:]])
    assert_series_equal(series(model.from_arrow(col, chunked)), expected)


@pytest.mark.parametrize("name", sorted(ALL_COLUMNS))
def test_ring_columns_equal_the_python_values(name):
    col = ALL_COLUMNS[name]
    values = sample(col)
    if col.kind is Kind.INT:
        values = [3, None, 7]  # the ring's NA is INT64_MIN
    data, dictionary = ring(col)
    out = model.from_numpy(col, data, dictionary)
    assert out.dtype == col.dtype
    assert_series_equal(series(out), series(model.from_values(col, values)))


def test_nanoseconds_are_utc_and_int64_min_is_nat():
    out = model.from_nanoseconds(np.array([0, INT64_MIN, 1_500]))
    assert out.dtype == model.dtypes(MONITORING)["timestamp"]
    assert out[0] == pd.Timestamp("1970-01-01", tz="UTC")
    assert out[1] is pd.NaT
    assert out[2].value == 1_500


def test_category_codes_minus_one_is_na():
    severity = COLUMN["severity"]
    out = model.from_codes(severity, np.array([3, -1, 0], np.int8))
    assert out.tolist()[0] == "critical"
    assert pd.isna(out.tolist()[1])
    assert out.dtype == severity.dtype


def test_string_codes_take_each_dictionary_value_and_zero_is_na():
    node = COLUMN["node_id"]
    dictionary = pa.array([None, "n1", "n2"], pa.large_string())
    out = model.from_string_codes(node, np.array([2, 0, 2, 1], np.int32), dictionary)
    assert series(out).tolist() == ["n2", pd.NA, "n2", "n1"]
    none = model.from_string_codes(node, np.zeros(3, np.int32), dictionary)
    assert none.dtype == node.dtype
    assert series(none).isna().all()


def test_arrow_dictionaries_are_recoded_into_the_declared_categories():
    severity = COLUMN["severity"]
    def dictionary(indices: list[int | None], values: list[str]) -> pa.DictionaryArray:
        return pa.DictionaryArray.from_arrays(pa.array(indices, pa.uint8()), pa.array(values))

    chunks = [dictionary([0, None, 1, 0], ["high", "low"]), dictionary([0, None], ["critical"])]
    out = model.from_arrow(severity, pa.chunked_array(chunks))  # a dictionary per chunk
    assert out.dtype == severity.dtype
    assert series(out).tolist() == ["high", np.nan, "low", "high", "critical", np.nan]


def outcome(make: Callable[[], Any]) -> tuple[list[Any], list[type[Warning]]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        values = series(make()).tolist()
    return values, [w.category for w in caught]


@pytest.mark.parametrize("values", [["ok", "purple", None], ["ok", float("nan"), pd.NA]],
                         ids=["unknown", "other-na"])
def test_category_values_outside_the_closed_set_go_as_in_pandas(values):
    status = COLUMN["status"]
    expected = outcome(lambda: pd.Categorical(values, dtype=status.dtype))
    assert outcome(lambda: model.from_values(status, values)) == expected
    if values[1] == "purple":
        expected = outcome(lambda: pd.Series(values).astype(status.dtype))
        assert outcome(lambda: model.from_arrow(status, pa.array(values))) == expected
        coded = pa.array(values).dictionary_encode()
        assert outcome(lambda: model.from_arrow(status, coded)) == expected


@pytest.mark.parametrize("channel", list(Channel))
def test_empty_frame_has_the_declared_dtypes(channel):
    frame = model.empty_frame(channel)
    assert len(frame) == 0
    assert dict(frame.dtypes) == model.dtypes(channel)


@pytest.mark.parametrize("channel", list(Channel))
def test_every_way_to_no_rows_is_the_empty_frame(channel):
    cols = model.columns(channel)
    empty = model.empty_frame(channel)
    assert_frame_equal(model.to_frame(channel, [[] for _ in cols]), empty)
    assert_frame_equal(model.arrow_frame(channel, pa.table({})), empty)
    nothing = [model.from_numpy(c, data[:0], dictionary)
               for c, (data, dictionary) in ((c, ring(c)) for c in cols)]
    assert_frame_equal(model.assemble(channel, nothing), empty)


def test_to_frame_turns_none_into_na_of_each_kind():
    cols = model.columns("consensus_events")
    frame = model.to_frame("consensus_events", [
        [0] if c.name == "timestamp" else ["view_change"] if c.name == "event" else [None]
        for c in cols
    ])
    for col in cols:
        if col.name not in ("timestamp", "event"):
            assert frame[col.name].isna().all(), col.name


def test_to_frame_refuses_a_wrong_number_of_columns():
    with pytest.raises(ValueError, match="expected 16 columns, got 2"):
        model.to_frame("network_events", [[], []])


def test_assemble_refuses_an_array_of_another_dtype():
    arrays = [model.missing(c, 1) for c in model.columns(MONITORING)]
    arrays[0] = np.zeros(1)
    with pytest.raises(AssertionError, match=r"monitoring_events\.seq: float64, not Int64"):
        model.assemble(MONITORING, arrays)


@pytest.mark.parametrize("channel", [c.value for c in Channel])
def test_a_frame_through_arrow_comes_back_equal(channel):
    frame = model.to_frame(channel, list(zip(*rows_of(sample_messages(400), channel), strict=True)))
    table = pa.Table.from_pandas(frame, preserve_index=False)  # what convert() writes
    assert_frame_equal(model.arrow_frame(channel, table), frame)
    halves = pa.concat_tables([table.slice(0, 100), table.slice(100)])
    assert_frame_equal(model.arrow_frame(channel, halves), frame)


def test_arrow_columns_of_other_types_are_cast_as_pandas_would():
    table = pa.table({
        "seq": pa.array([1, None], pa.int32()),
        "timestamp": pa.array([T0 // 1000, T0 // 1000 + 1], pa.timestamp("us", "UTC")),
        "event": pa.array(["metric_update", "alert_raised"]),
        "value": pa.array([0.5, None], pa.float32()),
        "severity": pa.array([None, "low"], pa.large_string()).dictionary_encode(),
    })
    out = model.arrow_frame(MONITORING, table)
    assert dict(out.dtypes) == model.dtypes(MONITORING)
    assert_frame_equal(out, model.conform(MONITORING, table.to_pandas()))


def test_arrow_frame_refuses_columns_the_schema_does_not_declare():
    table = pa.table({"value": [1.0], "colour": ["red"], "region": ["eu"]})
    with pytest.raises(ValueError, match=r"not in the schema: \['colour', 'region'\]"):
        model.arrow_frame(MONITORING, table)


def test_conform_casts_adds_missing_and_orders_columns():
    raw = pd.DataFrame({
        "value": [1, 2], "event": ["metric_update"] * 2,
        "timestamp": pd.to_datetime(["2023-01-01", "2023-01-02"], utc=True),
    })
    frame = model.conform(MONITORING, raw)
    assert list(frame.columns) == [c.name for c in model.columns(MONITORING)]
    assert dict(frame.dtypes) == model.dtypes(MONITORING)
    assert frame["node_id"].isna().all()


def test_conform_refuses_undeclared_columns_naming_them():
    with pytest.raises(ValueError, match=r"not in the schema: \['colour', 'region'\]"):
        model.conform(MONITORING, pd.DataFrame({"colour": ["red"], "value": [1.0],
                                                "region": ["eu"]}))


def test_conform_keeps_the_index_and_leaves_its_input_alone():
    raw = pd.DataFrame({"value": [1.0, 2.0]}, index=[10, 20])
    frame = model.conform(MONITORING, raw)
    assert frame.index.tolist() == [10, 20]
    frame.loc[10, "value"] = 99.0
    assert raw["value"].tolist() == [1.0, 2.0]


def test_frames_own_their_memory():
    values = np.array([1.0, 2.0])
    stamps = np.array([T0, T0 + 1])
    frame = model.to_frame(MONITORING, [
        values if c.name == "value" else stamps if c.name == "timestamp" else [None, None]
        for c in model.columns(MONITORING)
    ])
    frame.loc[0, "value"] = 99.0
    frame.loc[0, "timestamp"] = pd.Timestamp("2020-01-01", tz="UTC")
    assert values.tolist() == [1.0, 2.0]
    assert stamps.tolist() == [T0, T0 + 1]


def test_frames_from_arrow_are_writable():
    table = pa.table({"timestamp": arrow(COLUMN["timestamp"], [T0, T0 + 1]),
                      "value": pa.array([1.0, 2.0]), "seq": pa.array([1, 2])})
    frame = model.arrow_frame(MONITORING, table)
    frame.loc[0, "value"] = 99.0
    frame.loc[0, "timestamp"] = pd.Timestamp("2020-01-01", tz="UTC")
    frame.loc[0, "seq"] = 5
    assert frame["value"].tolist() == [99.0, 2.0]
    assert table.column("value").to_pylist() == [1.0, 2.0]
