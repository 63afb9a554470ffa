"""Checking and preparing the frames the analysis functions receive.

Every analysis function takes a channel's frame in the declared schema (``model.dtypes``), as
``Capture.frame`` and ``EventStream.frame`` give it. These helpers check that the columns a
function reads are there, select the events it is about, and turn the columns it computes on into
NumPy arrays, so that each function is a few vectorised steps over arrays.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final

import numpy as np
import pandas as pd

from ..model import SEVERITIES

UTC_NS: Final = pd.DatetimeTZDtype("ns", "UTC")
SEVERITY: Final = pd.CategoricalDtype(list(SEVERITIES), ordered=True)
NAT: Final = np.iinfo(np.int64).min
"""How ``NaT`` reads as an int64 nanosecond count."""

"""A length of time as the user types it: ``"2min"``, ``timedelta(seconds=30)``..."""


def require(df: pd.DataFrame, names: Iterable[str], who: str) -> None:
    """Raise ``ValueError`` if ``df`` lacks a column ``who`` reads (a frame of another channel)."""
    missing = [n for n in names if n not in df.columns]
    if missing:
        raise ValueError(f"{who}: frame has no column {', '.join(map(repr, missing))}")


def events(df: pd.DataFrame, names: Sequence[str], needed: Iterable[str], who: str) -> pd.DataFrame:
    """The rows of ``df`` whose ``event`` is one of ``names`` and whose ``timestamp`` is known,
    with only the columns ``who`` reads (``seq``, ``timestamp``, ``event`` and ``needed``).

    Dropping the other columns first makes the row selection several times cheaper: a frame
    carries a dozen text columns a given function never looks at.
    """
    cols = ["timestamp", "event", *needed]
    require(df, cols, who)
    narrow = df[["seq", *cols] if "seq" in df.columns else cols]
    mask = df["event"].isin(names).to_numpy(bool) & df["timestamp"].notna().to_numpy(bool)
    return narrow if mask.all() else narrow.loc[mask]


def frequency(value: str, name: str = "freq") -> str:
    """``value`` checked to be a pandas frequency (``"1min"``, ``"1h"``)."""
    try:
        pd.tseries.frequencies.to_offset(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: not a pandas frequency: {value!r}") from None
    return value


def severity(value: str, name: str) -> str:
    """``value`` checked against the severity scale."""
    if value not in SEVERITIES:
        raise ValueError(f"{name}: unknown severity {value!r} (expected one of {SEVERITIES})")
    return value


def nanoseconds(series: pd.Series) -> np.ndarray:
    """A timestamp column as int64 nanoseconds since the epoch (UTC); ``NaT`` as :data:`NAT`.

    Accepts the declared ``datetime64[ns, UTC]`` and, for frames built elsewhere, other units
    and naive timestamps (taken as UTC).
    """
    index = pd.DatetimeIndex(series)
    if index.tz is None:
        index = index.tz_localize("UTC")
    return np.asarray(index.as_unit("ns").asi8, dtype=np.int64)


def stamps(ns: np.ndarray) -> pd.DatetimeIndex:
    """int64 nanoseconds back to UTC timestamps."""
    raw = np.asarray(ns, dtype=np.int64).view("datetime64[ns]")
    return pd.DatetimeIndex(raw).tz_localize("UTC")


def floats(series: pd.Series) -> np.ndarray:
    """A numeric column as float64 with NaN for NA."""
    return np.asarray(series.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)


def order_key(df: pd.DataFrame) -> np.ndarray:
    """A tie-breaker for events with the same timestamp: ``seq``, then arrival order.

    Missing ``seq`` sorts last, so a stable sort keeps the frame's own order among them.
    """
    if "seq" not in df.columns:
        return np.zeros(len(df), dtype=np.int64)
    return np.asarray(
        df["seq"].to_numpy(dtype=np.float64, na_value=np.inf), dtype=np.float64
    )


def series_order(codes: np.ndarray, t: np.ndarray, tiebreak: np.ndarray) -> np.ndarray:
    """The order that sorts rows by series code, then time, then ``tiebreak`` (``seq``).

    Captures come sorted by time (and ``seq``), live frames nearly always: then a stable radix
    sort of the small integer codes is enough and several times faster than a three-key
    ``lexsort``, which remains the way for any other order.
    """
    step = np.diff(t)
    tied = step == 0
    if (step >= 0).all() and (tiebreak[1:][tied] >= tiebreak[:-1][tied]).all():
        return np.argsort(small_ints(codes), kind="stable")
    return np.lexsort((tiebreak, t, codes))


def small_ints(codes: np.ndarray) -> np.ndarray:
    """``codes`` (>= -1) in the narrowest integer type NumPy radix-sorts (16 bits) if they fit."""
    fits = not len(codes) or codes.max() < np.iinfo(np.int16).max
    return codes.astype(np.int16 if fits else np.int32)


def group_codes(df: pd.DataFrame, keys: Sequence[str]) -> tuple[np.ndarray, pd.DataFrame]:
    """Integer codes for the combinations of ``keys``, and the key values of each code.

    Faster than grouping on string columns again and again: factorise once, then sort and reduce
    on integers. Codes number the combinations in order of first appearance; rows with a missing
    key get -1.
    """
    combined = np.zeros(len(df), dtype=np.int64)
    valid = np.ones(len(df), dtype=bool)
    uniques = []
    for key in keys:
        key_codes, key_uniques = pd.factorize(df[key], use_na_sentinel=True)
        valid &= key_codes >= 0
        combined = combined * max(len(key_uniques), 1) + key_codes
        uniques.append(key_uniques)
    codes = np.full(len(df), -1, dtype=np.int64)
    dense, combos = pd.factorize(combined[valid])
    codes[valid] = dense
    return codes, _decode(np.asarray(combos, dtype=np.int64), uniques, keys)


def _decode(combos: np.ndarray, uniques: list[Any], keys: Sequence[str]) -> pd.DataFrame:
    out: dict[str, Any] = {}
    for key, key_uniques in zip(reversed(keys), reversed(uniques), strict=True):
        size = max(len(key_uniques), 1)
        out[key] = key_uniques.take(combos % size)
        combos = combos // size
    return pd.DataFrame({k: out[k] for k in keys})
