"""durations.py: the one parser of user-given durations, and how durations are shown."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from openagi_nb.durations import duration, positive, readable


@pytest.mark.parametrize("value", ["90s", "1min 30s", timedelta(seconds=90), pd.Timedelta(90, "s")])
def test_every_spelling_is_the_same_duration(value):
    assert positive(value, "window") == pd.Timedelta(seconds=90)


def test_zero_is_a_duration_but_not_a_window():
    assert duration("0s", "for_") == pd.Timedelta(0)
    with pytest.raises(ValueError, match=r"window: expected a duration > 0, got '0s'"):
        positive("0s", "window")


@pytest.mark.parametrize(("value", "message"), [
    ("soon", "for_: not a duration: 'soon'"),
    ("-5s", "for_: expected a duration >= 0, got '-5s'"),
    ("NaT", "for_: expected a duration >= 0"),
])
def test_bad_durations_name_the_argument(value, message):
    with pytest.raises(ValueError, match=message):
        duration(value, "for_")


@pytest.mark.parametrize(("value", "shown"), [
    (None, "n/a"),
    (timedelta(0), "0.0 s"),
    (timedelta(milliseconds=300), "0.3 s"),
    (2.3, "2.3 s"),  # no binary fraction shown as 2.2
    (9.99, "9.9 s"),
    (12.7, "12 s"),
    (59.9, "59 s"),  # truncated, never rounded up to a minute
    (timedelta(minutes=2, seconds=30), "2 min"),
    (timedelta(hours=1), "1 h"),
    (timedelta(hours=1, minutes=5, seconds=59), "1 h 5 min"),
    (timedelta(days=3, hours=4, minutes=30), "3 d 4 h"),
    (timedelta(days=2), "2 d"),
    (timedelta(seconds=-5), "-5.0 s"),
    (float("nan"), "n/a"),
])
def test_readable_shows_a_duration_in_two_units_at_most(value, shown):
    assert readable(value) == shown
