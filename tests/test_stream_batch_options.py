"""stream/_features.py (what a server offers, what to ask of it) and EventStream's ``batch=`` and
``compression=`` arguments (``docs/protocol.md`` section 14.1 and 14.6)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from openagi_nb.model import BatchFormat, BatchSettings, Compression
from openagi_nb.stream import EventStream
from openagi_nb.stream._features import STATUS_PATH, features, offer, status_path
from openagi_nb.stream._stream import BATCH_DELAY_MS, BATCH_EVENTS

ARROW_LZ4 = BatchSettings(BatchFormat.ARROW, Compression.LZ4, 4096, 50.0)
EVERYTHING = {"batch": {"formats": ["arrow", "json"], "compression": ["none", "lz4", "zstd"],
                        "max_events": 4096, "max_delay_ms": 50}}


@pytest.mark.parametrize(("url", "path"), [
    ("ws://127.0.0.1:8080/api/v1/ws", "/api/v1/status"),
    ("wss://example.org/api/v1/ws", "/api/v1/status"),
    ("ws://127.0.0.1:8080/api/v1/ws?token=abc", "/api/v1/status"),
    ("ws://example.org/openagi/api/v1/ws", "/openagi/api/v1/status"),
    ("ws://example.org/a/b/api/v1/ws/", "/a/b/api/v1/status"),
    ("ws://127.0.0.1:8080", "/api/v1/status"),
    ("ws://127.0.0.1:8080/", "/api/v1/status"),
    ("ws://[::1]:8080/api/v1/ws", "/api/v1/status"),
])
def test_status_path_is_on_the_server_of_the_websocket_url(url, path):
    assert status_path(url) == path
    assert path.endswith(STATUS_PATH)


def test_features_of_a_status_answer():
    body = orjson.dumps({"status": "ok", "features": EVERYTHING})
    assert features(body) == EVERYTHING


@pytest.mark.parametrize("body", [
    None, b"", b"not json", b"\xff\xfe", b"[1, 2]", b'"features"', b"42", b"null",
    b'{"status": "ok"}', b'{"features": null}', b'{"features": ["batch"]}',
    b'{"features": "batch"}', b"<html>404 Not Found</html>", b'{"features": {"batch"',
])
def test_features_of_junk_or_no_answer_are_none(body):
    assert features(body) == {}


def test_offer_asks_what_is_wanted_when_offered():
    assert offer(EVERYTHING, ARROW_LZ4) == ARROW_LZ4
    zstd = BatchSettings(BatchFormat.ARROW, Compression.ZSTD, 10, 5.0)
    assert offer(EVERYTHING, zstd) == zstd
    json = BatchSettings(BatchFormat.JSON, Compression.NONE, 10, 5.0)
    assert offer(EVERYTHING, json) == json


def test_arrow_not_offered_falls_back_to_json_without_compression():
    offered = {"batch": {"formats": ["json"], "compression": ["none", "lz4"]}}
    assert offer(offered, ARROW_LZ4) == BatchSettings(BatchFormat.JSON, Compression.NONE,
                                                      4096, 50.0)


@pytest.mark.parametrize("codecs", [["none"], ["none", "zstd"], [], None])
def test_a_compression_not_offered_falls_back_to_none(codecs):
    batch: dict[str, Any] = {"formats": ["arrow", "json"]}
    if codecs is not None:
        batch["compression"] = codecs
    assert offer({"batch": batch}, ARROW_LZ4) == BatchSettings(
        BatchFormat.ARROW, Compression.NONE, 4096, 50.0)


@pytest.mark.parametrize("offered", [
    {}, {"batch": None}, {"batch": True}, {"batch": "arrow"}, {"batch": []},
    {"batch": {}}, {"batch": {"formats": []}}, {"batch": {"formats": ["csv"]}},
    {"other": {"formats": ["arrow", "json"]}},
])
def test_no_usable_batch_feature_offers_nothing(offered):
    assert offer(offered, ARROW_LZ4) is None


def test_json_wanted_but_only_arrow_offered_offers_nothing():
    wanted = BatchSettings(BatchFormat.JSON, Compression.NONE, 10, 5.0)
    assert offer({"batch": {"formats": ["arrow"], "compression": ["none"]}}, wanted) is None


@pytest.mark.parametrize("batch", [
    {"formats": 5}, {"formats": "arrow,json"}, {"formats": {"arrow": 1}},
    {"formats": ["arrow", 3, None]}, {"formats": ["arrow"], "compression": 7},
    {"formats": ["arrow"], "compression": "lz4,zstd"}, {"formats": ["arrow"], "compression": [{}]},
])
def test_junk_in_the_batch_feature_is_no_error(batch):
    """A status with {"formats": 5} made the stream's thread fail (TypeError)."""
    asked = offer({"batch": batch}, ARROW_LZ4)
    assert asked is None or asked.compression is Compression.NONE


def test_features_junk_to_offer_end_to_end():
    body = orjson.dumps({"features": {"batch": {"formats": 5, "compression": "lz4"}}})
    assert offer(features(body), ARROW_LZ4) is None


# --- EventStream's batch= and compression= ----------------------------------------------


def asked(**options: Any) -> BatchSettings | None:
    stream = EventStream("ws://127.0.0.1:1/api/v1/ws", token="t", **options)
    result: BatchSettings | None = stream._loop._session.batch
    return result


def test_by_default_a_stream_asks_arrow_lz4():
    assert asked() == BatchSettings(BatchFormat.ARROW, Compression.LZ4, BATCH_EVENTS,
                                    BATCH_DELAY_MS)


def test_batch_false_asks_nothing():
    assert asked(batch=False) is None
    assert asked(batch=False, compression="bogus") is None


@pytest.mark.parametrize(("compression", "codec"), [
    ("lz4", Compression.LZ4), ("zstd", Compression.ZSTD), (None, Compression.NONE),
    ("none", Compression.NONE),
])
def test_arrow_batches_take_the_compression_asked(compression, codec):
    settings = asked(batch="arrow", compression=compression)
    assert settings is not None
    assert (settings.format, settings.compression) == (BatchFormat.ARROW, codec)


def test_json_batches_are_never_compressed():
    settings = asked(batch="json", compression="zstd")
    assert settings is not None
    assert (settings.format, settings.compression) == (BatchFormat.JSON, Compression.NONE)


@pytest.mark.parametrize("target", ["capture.jsonl", "pieces/"])
def test_recording_with_batch_true_asks_json(tmp_path, target):
    settings = asked(batch=True, record_to=str(tmp_path / target))
    assert settings is not None
    assert (settings.format, settings.compression) == (BatchFormat.JSON, Compression.NONE)


def test_recording_with_batch_arrow_asks_arrow_as_told(tmp_path):
    settings = asked(batch="arrow", record_to=tmp_path / "capture.jsonl")
    assert settings is not None
    assert settings.format is BatchFormat.ARROW


@pytest.mark.parametrize("batch", ["csv", "ARROW", "", "yes", 1, None])
def test_an_unknown_batch_format_is_a_value_error(batch):
    with pytest.raises(ValueError, match=r"^batch must be") as info:
        asked(batch=batch)
    assert str(info.value) == (
        f"batch must be True, False, 'arrow' or 'json', got {batch!r}")


@pytest.mark.parametrize("compression", ["gzip", "LZ4", "brotli", "none "])
def test_an_unknown_compression_is_a_value_error(compression):
    with pytest.raises(ValueError, match=r"^compression must be") as info:
        asked(batch="arrow", compression=compression)
    assert str(info.value) == (
        f"compression must be 'lz4', 'zstd' or None, got {compression!r}")
