"""Metrics of the ``monitoring_events`` channel: breach episodes, summaries, resampling, anomalies.

Everything here reads ``metric_update`` samples (node, metric, value, threshold) and works per
(node, metric) series. The functions are pure and vectorised: they sort once by series and time
and reduce arrays, so an hour of a large network (millions of samples) takes seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Final

import numpy as np
import pandas as pd

from ..durations import Duration, positive
from ._dask import grouped, is_dask, meta, min_time, narrow, reduce
from ._prepare import (
    floats,
    frequency,
    group_codes,
    nanoseconds,
    order_key,
    series_order,
    small_ints,
    stamps,
)
from .breaches import breaches, metric_samples

__all__ = ["anomalies", "breaches", "resample", "summary"]

QUANTILES: Final = {"p50": 0.50, "p95": 0.95, "p99": 0.99}
MAD_SCALE: Final = 1.4826
"""MAD times this estimates the standard deviation of normal data."""
MEAN_AD_SCALE: Final = 1.2533
"""Mean absolute deviation times this estimates it too; the fallback when the MAD is 0."""


def summary(df: pd.DataFrame, *, metric: str | Iterable[str] | None = None) -> pd.DataFrame:
    """Per node and metric: how many samples, their distribution, and time spent over threshold.

    Use it for the "which nodes need attention" table: the quantiles show the typical and the
    tail load, ``share_above`` how much of the time the metric was over its threshold.

    ``share_above`` weighs each sample by how long it stood: from its time to the next sample of
    the same series (the last sample has no weight). A series whose samples all have the same
    time (a single sample) has no duration; its share is then the share of samples above.
    Samples without a threshold count as not above.

    Args:
        df: a ``monitoring_events`` frame; ``metric_update`` rows with a node, a metric and a
            value are read.
        metric: only this metric (or these metrics).

    Returns:
        One row per (``node_id``, ``metric``), ordered by both: ``count``, ``mean``, ``p50``,
        ``p95``, ``p99`` (linear interpolation), ``max``, ``threshold`` (the last one seen, NaN if
        none) and ``share_above`` (0..1).
    """
    if is_dask(df):
        # quantiles need every value of a series: each series' rows go to one partition
        rows = narrow(df, lambda p: metric_samples(p, metric, "summary", need_threshold=False))
        out = grouped(rows, ["node_id", "metric"], summary)
        return out.sort_values(["node_id", "metric"], kind="stable", ignore_index=True)
    rows = metric_samples(df, metric, "summary", need_threshold=False)
    codes, keys = group_codes(rows, ["node_id", "metric"])
    t = nanoseconds(rows["timestamp"])
    order = series_order(codes, t, order_key(rows))
    codes, t = codes[order], t[order]
    value = floats(rows["value"])[order]
    threshold = floats(rows["threshold"])[order]
    groups = len(keys)
    count = np.bincount(codes, minlength=groups)
    out = keys.astype("string")
    out["count"] = count.astype(np.int64)
    out["mean"] = np.bincount(codes, weights=value, minlength=groups) / np.maximum(count, 1)
    out = out.assign(**_quantiles(codes, value, count))
    out["max"] = _group_max(value, count)
    out["threshold"] = _last_known(codes, threshold, groups)
    out["share_above"] = _share_above(codes, t, value, threshold, count)
    return out.sort_values(["node_id", "metric"], kind="stable", ignore_index=True)


def _quantiles(codes: np.ndarray, value: np.ndarray, count: np.ndarray) -> dict[str, np.ndarray]:
    """Exact quantiles per group (linear interpolation, as ``numpy.quantile``) from one sort."""
    ranked = value[_by_group_then_value(codes, value)]
    offset = np.concatenate(([0], np.cumsum(count)[:-1]))
    out = {}
    for name, q in QUANTILES.items():
        pos = (np.maximum(count, 1) - 1) * q
        low = np.floor(pos).astype(np.int64)
        high = np.minimum(low + 1, np.maximum(count, 1) - 1)
        frac = pos - low
        if len(ranked):
            out[name] = ranked[offset + low] * (1 - frac) + ranked[offset + high] * frac
        else:
            out[name] = np.empty(0)
    return out


def _by_group_then_value(codes: np.ndarray, value: np.ndarray) -> np.ndarray:
    """The order that sorts rows by group, then value: a quicksort of the values, then a
    stable sort of their group codes (a radix sort for 16-bit codes), faster than ``lexsort``."""
    by_value = np.argsort(value)
    return by_value[np.argsort(small_ints(codes[by_value]), kind="stable")]


def _group_max(value: np.ndarray, count: np.ndarray) -> np.ndarray:
    """The largest value of each group of group-sorted rows (every group has a row)."""
    if not len(count):
        return np.empty(0)
    return np.maximum.reduceat(value, np.concatenate(([0], np.cumsum(count)[:-1])))


def _last_known(codes: np.ndarray, value: np.ndarray, groups: int) -> np.ndarray:
    """The last non-NaN ``value`` of each group of group- and time-sorted rows."""
    out = np.full(groups, np.nan)
    known = ~np.isnan(value)
    out[codes[known]] = value[known]  # later rows overwrite earlier ones
    return out


def _share_above(
    codes: np.ndarray, t: np.ndarray, value: np.ndarray, threshold: np.ndarray, count: np.ndarray
) -> np.ndarray:
    groups = len(count)
    above = (value > threshold).astype(np.float64)
    same = np.concatenate((codes[1:] == codes[:-1], [False]))
    held = np.where(same, np.diff(t, append=t[-1:] if len(t) else t), 0).astype(np.float64)
    total = np.bincount(codes, weights=held, minlength=groups)
    over = np.bincount(codes, weights=held * above, minlength=groups)
    by_count = np.bincount(codes, weights=above, minlength=groups) / np.maximum(count, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, over / total, by_count)


def resample(
    df: pd.DataFrame,
    freq: str = "1min",
    agg: str | Callable[[pd.Series], Any] = "mean",
    *,
    metric: str | Iterable[str] | None = None,
) -> pd.DataFrame:
    """A wide, regularly spaced table of the metrics: one column per (metric, node).

    Use it to plot or compare series that were sampled at different moments: each bin of
    ``freq`` gets ``agg`` of the samples that fell in it (NaN where a series has none).

    Args:
        df: a ``monitoring_events`` frame (``metric_update`` rows with node, metric and value).
        freq: the bin width, a pandas offset (``"1min"``, ``"30s"``).
        agg: a pandas aggregation name (``"mean"``, ``"max"``, ``"last"``, ``"count"``...) or a
            function of a Series.
        metric: only this metric (or these metrics).

    Returns:
        Indexed by bin start (UTC, every bin from the first sample to the last), columns a
        MultiIndex (``metric``, ``node_id``), sorted; ``table["cpu_usage"]`` is one metric across
        nodes.
    """
    frequency(freq)
    if is_dask(df):
        return _resample_dask(df, freq, agg, metric)
    rows = metric_samples(df, metric, "resample", need_threshold=False)
    return _wide(_binned(_samples(rows), freq, agg, "start_day"), freq)


Agg = str | Callable[[pd.Series], Any]


def _samples(rows: pd.DataFrame) -> pd.Series:
    return pd.Series(
        floats(rows["value"]),
        index=pd.MultiIndex.from_arrays([
            stamps(nanoseconds(rows["timestamp"])),
            rows["metric"].astype("string").to_numpy(object),
            rows["node_id"].astype("string").to_numpy(object),
        ], names=["time", "metric", "node_id"]),
    )


def _binned(series: pd.Series, freq: str, agg: Agg, origin: Any) -> pd.Series:
    binned: pd.Series = series.groupby([
        pd.Grouper(level="time", freq=freq, origin=origin), pd.Grouper(level="metric"),
        pd.Grouper(level="node_id"),
    ]).agg(agg)
    return binned


def _wide(binned: pd.Series, freq: str) -> pd.DataFrame:
    wide = binned.unstack(["metric", "node_id"]).sort_index(axis=1)
    if len(wide):
        wide = wide.asfreq(freq)
    wide.index.name = "time"
    return wide


def _resample_dask(
    df: Any, freq: str, agg: Agg, metric: str | Iterable[str] | None
) -> pd.DataFrame:
    """:func:`resample` of a Dask frame: each partition's bins strictly inside its time span
    hold all their samples (partitions are in time order), so they are aggregated there; the
    samples of its first and last bin, which may straddle a boundary, go to the final task,
    which aggregates them with those of the neighbours (in frame order, as pandas does), for
    any ``agg``. Bins start where pandas starts them: at the first sample's midnight.
    """
    rows = narrow(df, lambda p: metric_samples(p, metric, "resample", need_threshold=False))
    first = min_time(rows)
    if first is None:
        return resample(meta(df), freq, agg, metric=metric)
    origin = first.normalize()

    def partial(part: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
        series = _samples(part)
        bins = series.groupby(pd.Grouper(level="time", freq=freq, origin=origin)).ngroup()
        edge = ((bins == bins.min()) | (bins == bins.max())).to_numpy(bool)
        return _binned(series.loc[~edge], freq, agg, origin), series.loc[edge]

    def combine(parts: list[tuple[pd.Series, pd.Series]]) -> pd.DataFrame:
        edges = pd.concat([e for _, e in parts])
        return _wide(pd.concat([*(b for b, _ in parts), _binned(edges, freq, agg, origin)]), freq)

    wide: pd.DataFrame = reduce(rows, partial, combine)
    return wide


def anomalies(
    df: pd.DataFrame,
    window: Duration = "5min",
    z: float = 4.0,
    *,
    min_samples: int = 10,
    metric: str | Iterable[str] | None = None,
) -> pd.DataFrame:
    """Samples far from what their series did in the window before them (robust z-score).

    Use it to find the spikes and steps that a fixed threshold misses (or that stay under it).
    For each sample, per node and metric:

    - ``median``: the median of the series' samples in the ``window`` before it (the sample
      itself excluded, so a spike does not hide itself);
    - ``residual``: value - median;
    - ``mad``: the median of the absolute residuals of the samples in that same window. It is
      the median absolute deviation with each past sample measured against its own baseline,
      which a rolling window computes in O(n log w);
    - ``score = residual / (1.4826 * mad)``; where ``mad`` is 0 (a flat series) the mean absolute
      residual times 1.2533 stands in, and a flat series that jumps scores +-inf.

    A sample is reported when ``|score| >= z`` and its window held at least ``min_samples``
    samples with residuals (a sample's residual needs one sample before it), so a series is
    scored from about its ``min_samples + 1``-th sample on. Windows of 20 samples or more give
    stable scores; with fewer, expect more false alarms or raise ``z``.

    Args:
        df: a ``monitoring_events`` frame (``metric_update`` rows with node, metric and value).
        window: how far back the baseline reaches (``"5min"``).
        z: how many robust standard deviations away counts as an anomaly.
        min_samples: the fewest samples a window needs before its sample can be scored.
        metric: only this metric (or these metrics).

    Returns:
        One row per anomalous sample, ordered by time: ``timestamp``, ``node_id``, ``metric``,
        ``value``, ``median``, ``mad``, ``score``.
    """
    span = positive(window, "window")
    if not z > 0:
        raise ValueError(f"z: expected a number > 0, got {z!r}")
    if min_samples < 1:
        raise ValueError(f"min_samples: expected at least 1, got {min_samples!r}")
    rows = metric_samples(df, metric, "anomalies", need_threshold=False)
    codes, keys = group_codes(rows, ["node_id", "metric"])
    t = nanoseconds(rows["timestamp"])
    order = series_order(codes, t, order_key(rows))
    codes, t, value = codes[order], t[order], floats(rows["value"])[order]
    median, mad, score = _robust_scores(codes, t, value, span, min_samples)
    hit = np.abs(score) >= z
    out = pd.DataFrame({
        "timestamp": stamps(t[hit]),
        "node_id": keys["node_id"].take(codes[hit]).astype("string").reset_index(drop=True),
        "metric": keys["metric"].take(codes[hit]).astype("string").reset_index(drop=True),
        "value": value[hit],
        "median": median[hit],
        "mad": mad[hit],
        "score": score[hit],
    })
    return out.sort_values(["timestamp", "node_id", "metric"], kind="stable", ignore_index=True)


def _robust_scores(
    codes: np.ndarray, t: np.ndarray, value: np.ndarray, span: pd.Timedelta, min_samples: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Trailing median, MAD and score of each sample of group- and time-sorted arrays."""
    index = stamps(t)

    def trailing(x: np.ndarray, least: int) -> Any:
        # the groupby result comes back ordered by group code then time, which is the order of
        # the (already sorted) input, so ``to_numpy`` lines up with ``codes``
        return pd.Series(x, index=index).groupby(codes, sort=True).rolling(
            span, closed="left", min_periods=least
        )

    # every sample with some history gets a residual; a score needs min_samples of both
    history = trailing(value, 1)
    baseline = history.median().to_numpy(np.float64)
    residual = value - baseline
    spread = np.abs(residual)
    mad = trailing(spread, min_samples).median().to_numpy(np.float64)
    mean_ad = trailing(spread, min_samples).mean().to_numpy(np.float64)
    enough = history.count().to_numpy(np.float64) >= min_samples
    median = np.where(enough, baseline, np.nan)
    residual = np.where(enough, residual, np.nan)
    scale = np.where(mad > 0, MAD_SCALE * mad, MEAN_AD_SCALE * mean_ad)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = residual / scale
    return median, mad, score
