"""durations.py: the one parser of user-given durations."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from openagi_nb.durations import duration, positive


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
