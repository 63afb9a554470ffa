"""The shared ring of published frames."""

from __future__ import annotations

import pytest

from openagi_nb.server._ring import Ring


def filled(capacity: int, count: int) -> Ring:
    ring = Ring(capacity)
    for seq in range(1, count + 1):
        ring.append(f"m{seq}".encode(), seq % 4)
    return ring


def test_window_returns_frames_and_channels_in_seq_order():
    ring = filled(8, 5)
    frames, channels = ring.window(1, 4)
    assert frames == [b"m2", b"m3", b"m4"]
    assert list(channels) == [2, 3, 0]


def test_window_across_the_wrap_point():
    ring = filled(8, 13)
    assert ring.oldest == 5
    frames, _ = ring.window(5, 13)
    assert frames == [f"m{s}".encode() for s in range(6, 14)]
    assert ring.window(9, 9) == ([], bytearray())


def test_window_outside_what_is_retained_is_an_index_error():
    ring = filled(8, 13)
    with pytest.raises(IndexError):
        ring.window(4, 10)
    with pytest.raises(IndexError):
        ring.window(10, 14)


def test_evicted_remembers_the_last_seq_lost_per_channel():
    ring = filled(8, 13)  # seqs 1..5 are gone
    assert ring.evicted == [4, 5, 2, 3]


def test_capacity_must_be_positive():
    with pytest.raises(ValueError, match="capacity"):
        Ring(0)


def test_extend_is_the_same_as_appending_one_by_one_across_the_wrap():
    one_by_one, bulk = filled(8, 6), filled(8, 6)
    frames = [f"x{i}".encode() for i in range(7)]
    channels = bytes([0, 1, 2, 3, 0, 1, 2])
    for frame, channel in zip(frames, channels, strict=True):
        one_by_one.append(frame, channel)
    bulk.extend(frames, channels)
    assert bulk.head == one_by_one.head == 13
    assert bulk.window(5, 13) == one_by_one.window(5, 13)
    assert bulk.evicted == one_by_one.evicted


def test_extend_refuses_more_than_the_capacity():
    with pytest.raises(ValueError, match="do not fit"):
        Ring(4).extend([b"x"] * 5, bytes(5))
