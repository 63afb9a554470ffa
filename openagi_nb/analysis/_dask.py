"""Running the analysis functions on a Dask DataFrame (or a dataset with ``to_dask(channel)``).

Dask is the optional extra ``scale``: nothing here imports it until a Dask frame arrives, and
:func:`is_dask` tells one apart without importing it. The results are small (episodes, summaries,
top sources), the inputs are not, so every path below works partition by partition on whatever
scheduler is active (a ``distributed.Client`` when one exists) and never gathers a channel into
one pandas frame on the client. The mechanics the analysis modules use:

- :func:`select`: the rows a function reads, gathered: only where those rows *are* the result
  (the unblocked intrusions, the joins and leaves), so they are as small as the answer.
- :func:`reduce`: a small partial per partition, combined in one task on the scheduler.
- :func:`grouped`: a shuffle that puts each group's rows in one partition, then the pandas
  function per partition (exact for anything computed per group: quantiles, first-seen times).
- :func:`fold`: partitions in time order, one task each, a small carry from one to the next:
  what stitches an episode, a burst, or a bin across a partition boundary.

Partitions must be time-ordered pieces (no event of a partition earlier than one of the previous
partition), as ``Dataset.to_dask`` and ``dask.dataframe.from_pandas`` of a time-sorted frame give.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

import pandas as pd

__all__ = [
    "HasDask", "check_order", "compute", "fold", "frame_of", "grouped", "has_dask", "is_dask",
    "max_time", "meta", "min_time", "narrow", "reduce", "select",
]

Carry = TypeVar("Carry")
Part = TypeVar("Part")


class HasDask(Protocol):
    """A dataset: one Dask frame per channel (``openagi_nb.capture``'s ``Dataset``)."""

    def to_dask(self, channel: str) -> Any: ...


def is_dask(obj: object) -> bool:
    """Whether ``obj`` is a Dask DataFrame; False without importing Dask if it is not loaded."""
    module = sys.modules.get("dask.dataframe")
    return module is not None and isinstance(obj, module.DataFrame)


def has_dask(obj: object) -> bool:
    """Whether ``obj`` is a dataset (anything with ``to_dask(channel)``)."""
    return callable(getattr(obj, "to_dask", None))


def frame_of(obj: Any, channel: str) -> Any:
    """``obj`` itself if it is a frame, else the dataset's Dask frame of ``channel``."""
    return obj.to_dask(channel) if has_dask(obj) else obj


def meta(ddf: Any) -> pd.DataFrame:
    """The empty frame of a Dask frame's columns and dtypes."""
    empty: pd.DataFrame = ddf._meta
    return empty


def narrow(ddf: Any, fn: Callable[[pd.DataFrame], pd.DataFrame]) -> Any:
    """``fn`` on each partition (a row and column selection), lazily."""
    return ddf.map_partitions(fn, meta=fn(meta(ddf)))


def compute(*values: Any) -> tuple[Any, ...]:
    """Compute on the active scheduler (a ``distributed.Client`` if one is the default)."""
    from dask.base import compute as run

    return tuple(run(*values))  # type: ignore[no-untyped-call]


def select(ddf: Any, fn: Callable[[pd.DataFrame], pd.DataFrame]) -> pd.DataFrame:
    """The rows ``fn`` keeps of each partition, gathered in partition order: only for selections
    as small as the result itself."""
    (out,) = compute(narrow(ddf, fn))
    result: pd.DataFrame = out
    return result


def max_time(ddf: Any, column: str = "timestamp") -> pd.Timestamp | None:
    """The latest ``column`` value of the frame (``None`` when it has none): one reduction."""
    (value,) = compute(ddf[column].max())
    return None if pd.isna(value) else pd.Timestamp(value)


def min_time(ddf: Any, column: str = "timestamp") -> pd.Timestamp | None:
    """The earliest ``column`` value of the frame (``None`` when it has none)."""
    (value,) = compute(ddf[column].min())
    return None if pd.isna(value) else pd.Timestamp(value)


def reduce(
    ddf: Any, partial: Callable[[pd.DataFrame], Part], combine: Callable[[list[Part]], Any]
) -> Any:
    """``partial`` of each partition (in parallel), then ``combine`` of the list, in order, in one
    task: the partials must be small (a table per source IP, per node...)."""
    from dask.delayed import delayed

    parts = [delayed(partial)(p) for p in ddf.to_delayed()]
    (out,) = compute(delayed(combine)(parts))
    return out


def grouped(
    ddf: Any, keys: Sequence[str], fn: Callable[[pd.DataFrame], pd.DataFrame]
) -> pd.DataFrame:
    """``fn`` of the frame's rows, shuffled so that each combination of ``keys`` is in one
    partition; the results concatenated (each group's rows computed once, exactly)."""
    keys = list(keys)
    shuffled = ddf.dropna(subset=keys).shuffle(on=keys)
    (out,) = compute(shuffled.map_partitions(fn, meta=fn(meta(ddf))))
    result: pd.DataFrame = out
    return result


def fold(
    ddf: Any,
    step: Callable[[pd.DataFrame, Carry, bool], tuple[pd.DataFrame, Carry]],
    start: Carry,
) -> list[pd.DataFrame]:
    """``step(partition, carry, last)`` over the partitions in order, each a task of its own on
    the scheduler; the carry (small: the open episode, the last window...) goes from one to
    the next, ``last`` tells the final partition. Returns each step's output, in order.

    Sequential by nature: a state machine's state at a partition's start is its state at the
    previous one's end. Each task holds one partition and the carry, never the channel.
    """
    from dask.delayed import delayed

    outs = []
    carry: Any = start
    parts = ddf.to_delayed()
    for i, part in enumerate(parts):
        pair = delayed(step, nout=2)(part, carry, i == len(parts) - 1)
        outs.append(pair[0])
        carry = pair[1]
    return list(compute(*outs))


def check_order(previous: int | None, t: Any) -> int | None:
    """Raise ``ValueError`` if the times ``t`` (int64 ns) start before ``previous`` (the last
    time of the partitions before); return the new last time."""
    if not len(t):
        return previous
    if previous is not None and int(t.min()) < previous:
        raise ValueError(
            "Dask frame: partitions are not in time order (a partition starts before the end "
            "of the one before); sort the frame by timestamp"
        )
    return max(int(t.max()), previous or int(t.max()))
