"""Serve options: validation and the command-line arguments."""

from __future__ import annotations

import argparse
import math

import pytest

from openagi_nb.exceptions import ServerConfigError
from openagi_nb.server._options import (
    ServeOptions,
    add_arguments,
    from_arguments,
    parse_size,
    parse_speed,
)

from .conftest import TEST_SECRET, write_capture


def parsed(*argv: str) -> ServeOptions:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return from_arguments(parser.parse_args(list(argv)))


def test_arguments_map_to_options(tmp_path):
    capture = str(write_capture(tmp_path / "c.jsonl", 2))
    options = parsed(capture, "--port", "0", "--speed", "max", "--rate", "500", "--loop",
                     "--no-retime", "--wait-for", "3", "--history", "10", "--token-ttl", "60",
                     "--secret", TEST_SECRET, "--max-clients", "7", "--queue", "99",
                     "--queue-bytes", "256KiB")
    assert options == ServeOptions(capture, port=0, speed=math.inf, rate=500.0, loop=True,
                                   retime=False, wait_for=3, history=10, token_ttl=60.0,
                                   secret=TEST_SECRET, max_clients=7, queue=99,
                                   queue_bytes=256 * 1024)
    assert TEST_SECRET not in repr(options)


def test_defaults_match_the_issue(tmp_path):
    options = parsed(str(write_capture(tmp_path / "c.jsonl", 2)))
    assert (options.host, options.port, options.speed, options.history) == (
        "127.0.0.1", 8080, 1.0, 100_000)
    assert options.retime
    assert not options.loop
    assert options.token_ttl == 3600
    assert (options.queue, options.queue_bytes) == (50_000, 1024 * 1024)


@pytest.mark.parametrize(("text", "value"), [("max", math.inf), ("MAX", math.inf), ("2.5", 2.5)])
def test_speed_is_a_positive_number_or_max(text, value):
    assert parse_speed(text) == value


@pytest.mark.parametrize("text", ["0", "-1", "fast", "nan", "inf"])
def test_bad_speed_is_an_argument_error(text):
    with pytest.raises(argparse.ArgumentTypeError):
        parse_speed(text)


@pytest.mark.parametrize(("text", "value"), [
    ("65536", 65536), ("512KiB", 512 * 1024), ("512k", 512 * 1024), ("1MiB", 1 << 20),
    ("1m", 1 << 20), ("8MB", 8_000_000), ("1.5 MiB", 3 << 19), ("1gib", 1 << 30),
])
def test_size_is_bytes_with_an_optional_unit(text, value):
    assert parse_size(text) == value


@pytest.mark.parametrize("text", ["", "MiB", "-1", "1 PB", "1e6", "big"])
def test_bad_size_is_an_argument_error(text):
    with pytest.raises(argparse.ArgumentTypeError, match="expected a size"):
        parse_size(text)


@pytest.mark.parametrize(("change", "message"), [
    ({"speed": 0.0}, "speed"),
    ({"rate": -1.0}, "rate"),
    ({"port": 70000}, "port"),
    ({"history": -1}, "history"),
    ({"queue": 0}, "queue"),
    ({"queue_bytes": 4095}, "queue_bytes must be at least 4096"),
    ({"max_clients": 0}, "max_clients"),
    ({"certfile": "cert.pem"}, "go together"),
    ({"capture": "missing.jsonl"}, "no such file"),
])
def test_bad_options_are_config_errors(tmp_path, change, message):
    capture = str(write_capture(tmp_path / "c.jsonl", 2))
    with pytest.raises(ServerConfigError, match=message):
        ServeOptions(**{"capture": capture, **change})
