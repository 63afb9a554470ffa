"""sizes.py: the one parser of user-given sizes (--queue-bytes, rotate=)."""

from __future__ import annotations

import pytest

from openagi_nb.sizes import parse_size
from openagi_nb.stream._rotation import parse_rotate


@pytest.mark.parametrize(("text", "value"), [
    ("100MB", 100_000_000), ("1GiB", 1 << 30), ("2 TB", 2 * 10**12), ("64k", 64 << 10),
])
def test_sizes_in_decimal_and_binary_units(text, value):
    assert parse_size(text) == value


def test_a_bad_size_names_what_was_given():
    with pytest.raises(ValueError, match="got '12 furlongs'"):
        parse_size("12 furlongs")


@pytest.mark.parametrize(("value", "expected"), [
    ("100MB", (None, 100_000_000)), ("5m", (300.0, None)), ("1h", (3600.0, None)),
    ("90", (90.0, None)),
])
def test_rotate_reads_bytes_only_with_a_byte_unit(value, expected):
    assert parse_rotate(value) == expected
