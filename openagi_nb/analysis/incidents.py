"""One time-ordered table of what an operator should look at, from every channel.

:func:`incidents` runs the detectors of the other modules with settings an operator would start
from and puts their findings in one table, on a live stream's snapshot or a recorded capture
alike (both have ``.frame(channel)``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

import pandas as pd

from ..durations import Duration
from ..model import Channel, empty_frame
from ._dask import HasDask, compute, frame_of, has_dask, is_dask, max_time
from ._prepare import UTC_NS
from .breaches import Clear, breaches
from .consensus import proposals, view_changes
from .network import membership, partitions
from .security import bursts, certificates, unblocked

__all__ = ["incidents"]

KIND: Final = pd.CategoricalDtype([
    "breach", "burst", "unblocked_intrusion", "certificate_expired", "view_change",
    "stuck_proposal", "partition", "node_left",
])
CHANNEL: Final = pd.CategoricalDtype([c.value for c in Channel])
COLUMNS: Final = ("time", "channel", "kind", "subject", "detail")


class HasFrames(Protocol):
    """Anything with per-channel frames: a ``Capture``, an ``EventStream``."""

    def frame(self, channel: str) -> pd.DataFrame: ...


Source = HasFrames | HasDask | Mapping[str, Any]
Frames = dict[Channel, Any]
"""Per channel, a pandas or a Dask frame."""


@dataclass(frozen=True)
class _Settings:
    for_: Duration
    clear: Clear
    window: Duration
    min_events: int
    min_severity: str
    stuck_after: Duration
    leave_reasons: tuple[str, ...]


def incidents(
    source: Source,
    *,
    for_: Duration = "2min",
    clear: Clear = None,
    window: Duration = "1min",
    min_events: int = 100,
    min_severity: str = "high",
    stuck_after: Duration = "60s",
    leave_reasons: Iterable[str] = ("timeout", "banned"),
) -> pd.DataFrame:
    """Everything worth an operator's look, from all four channels, in time order.

    Kinds, each from the function named, with the argument of the same name:

    - ``breach``: :func:`~openagi_nb.analysis.metrics.breaches` (``for_``, ``clear``); a
      metric over its threshold for 2 minutes by default, so short spikes are not incidents;
      time = start of the episode.
    - ``burst``: :func:`~openagi_nb.analysis.security.bursts` (``window``, ``min_events``).
    - ``unblocked_intrusion``: :func:`~openagi_nb.analysis.security.unblocked`
      (``min_severity``).
    - ``certificate_expired``: :func:`~openagi_nb.analysis.security.certificates`; time =
      expiry (first report when the expiry is missing).
    - ``view_change``: :func:`~openagi_nb.analysis.consensus.view_changes`.
    - ``stuck_proposal``: :func:`~openagi_nb.analysis.consensus.proposals` (``stuck_after``),
      judged as of the newest event on any channel; time = the proposal's first event.
    - ``partition``: :func:`~openagi_nb.analysis.network.partitions`; time = first report.
    - ``node_left``: :func:`~openagi_nb.analysis.network.membership`, leaves whose reason is in
      ``leave_reasons`` (a graceful leave is routine).

    Args:
        source: a ``Capture``, an ``EventStream``, anything with ``.frame(channel)``, a
            dataset (anything with ``.to_dask(channel)``: every detector then runs on Dask, on
            the active scheduler), or a mapping channel name -> frame, pandas or Dask (channels
            it lacks count as empty).

    Returns:
        ``time`` (UTC), ``channel`` and ``kind`` (categories), ``subject`` (what it is about:
        ``node-03 cpu_usage``, a source IP, a proposal id...), ``detail`` (one line of text);
        by time, then channel and kind.
    """
    chosen = _Settings(for_, clear, window, min_events, min_severity, stuck_after,
                       tuple(leave_reasons))
    frames = {channel: _frame(source, channel) for channel in Channel}
    parts = [detect(frames, chosen) for detect in _DETECTORS]
    found = [p for p in parts if len(p)]
    if not found:
        return _table([], [], [], [], [])
    out = pd.concat(found, ignore_index=True)
    return out.sort_values(["time", "channel", "kind"], kind="stable", ignore_index=True)


def _frame(source: Source, channel: Channel) -> Any:
    if isinstance(source, Mapping):
        found = source.get(channel.value, source.get(channel))
        return empty_frame(channel) if found is None else found
    if has_dask(source):
        return frame_of(source, channel.value)
    return source.frame(channel.value)  # type: ignore[union-attr]


def _newest(df: Any) -> pd.Timestamp | None:
    if is_dask(df):
        return max_time(df)
    return pd.Timestamp(df["timestamp"].max()) if df["timestamp"].notna().any() else None


def _nodes(df: Any) -> Any:
    """The node ids of a frame, each once (on Dask, a distributed ``unique``: a few dozen)."""
    ids = df["node_id"].dropna().unique()
    return compute(ids)[0] if is_dask(df) else ids


def _table(
    time: Any, channel: Any, kind: Any, subject: Any, detail: Any
) -> pd.DataFrame:
    return pd.DataFrame({
        "time": pd.Series(time, dtype=UTC_NS).array,
        "channel": pd.Categorical(channel, dtype=CHANNEL),
        "kind": pd.Categorical(kind, dtype=KIND),
        "subject": pd.array(list(subject), dtype="string"),
        "detail": pd.array(list(detail), dtype="string"),
    })


def _rows(channel: Channel, kind: str, time: pd.Series, subject: Any, detail: Any) -> pd.DataFrame:
    n = len(time)
    return _table(time.array, [channel.value] * n, [kind] * n, subject, detail)


def _monitoring(frames: Frames, s: _Settings) -> pd.DataFrame:
    df = frames[Channel.MONITORING]
    found = breaches(df, for_=s.for_, clear=s.clear)
    # one line per episode: a handful of rows, so plain formatting is fine
    detail = [
        f"peak {p:g} over threshold {t:g} for {_span(d)}" + (" (ongoing)" if o else "")
        for p, t, d, o in zip(found["peak"], found["threshold"], found["duration"],
                              found["ongoing"], strict=True)
    ]
    subject = found["node_id"] + " " + found["metric"]
    return _rows(Channel.MONITORING, "breach", found["start"], subject, detail)


def _security(frames: Frames, s: _Settings) -> pd.DataFrame:
    df = frames[Channel.SECURITY]
    hot = bursts(df, s.window, s.min_events)
    burst = _rows(Channel.SECURITY, "burst", hot["start"], hot["attack_type"].fillna("attacks"), [
        f"{e} attack events in {_span(b - a)} from {n} sources ({ips})"
        for e, a, b, n, ips in zip(hot["events"], hot["start"], hot["end"], hot["sources"],
                                   hot["source_ips"].fillna(""), strict=True)
    ])
    open_ = unblocked(df, s.min_severity)
    intrusion = _rows(Channel.SECURITY, "unblocked_intrusion", open_["timestamp"],
                      open_["source_ip"].fillna("unknown source"), [
        f"{a} ({v}), not blocked" for a, v in
        zip(open_["attack_type"].fillna("attack"), open_["severity"].astype("string").fillna("?"),
            strict=True)
    ])
    certs = certificates(df)
    cert = _rows(Channel.SECURITY, "certificate_expired",
                 certs["expired_at"].fillna(certs["first_reported"]),
                 certs["node_id"].fillna("unknown node"), [
        f"certificate expired, reported {r}x ({v})" for r, v in
        zip(certs["reports"], certs["severity"].astype("string").fillna("?"), strict=True)
    ])
    return pd.concat([burst, intrusion, cert], ignore_index=True)


def _consensus(frames: Frames, s: _Settings) -> pd.DataFrame:
    df = frames[Channel.CONSENSUS]
    views = view_changes(df)
    view = _rows(Channel.CONSENSUS, "view_change", views["timestamp"],
                 views["new_leader"].fillna("unknown leader"), [
        f"view {o} -> {n}: {r}" for o, n, r in
        zip(views["old_view"].astype("string").fillna("?"),
            views["new_view"].astype("string").fillna("?"), views["reason"].fillna(""),
            strict=True)
    ])
    # "now" is the newest event on any channel: consensus may be quiet while the rest goes on
    newest = [n for n in map(_newest, frames.values()) if n is not None]
    table = proposals(df, stuck_after=s.stuck_after, as_of=max(newest) if newest else None)
    stuck = table.loc[(table["status"] == "stuck").to_numpy(bool)]
    first = stuck[["submitted_at", "pre_prepare_at", "prepare_at", "commit_at", "reply_at"]]
    proposal = _rows(Channel.CONSENSUS, "stuck_proposal", first.min(axis=1), stuck["proposal_id"], [
        f"not executed; last phase {ph}; proposed {a} {p} {_number(v)}"
        for ph, a, p, v in zip(stuck["last_phase"].astype("string").fillna("none"),
                               stuck["action"].fillna("?"), stuck["parameter"].fillna("?"),
                               stuck["value"], strict=True)
    ])
    return pd.concat([view, proposal], ignore_index=True)


def _network(frames: Frames, s: _Settings) -> pd.DataFrame:
    df = frames[Channel.NETWORK]
    cut = partitions(df)
    part = _rows(Channel.NETWORK, "partition", cut["start"], cut["partition_id"].fillna("?"), [
        f"{n} nodes cut off ({', '.join(nodes)}), detected by {d}"
        for n, nodes, d in zip(cut["size"], cut["nodes"], cut["detected_by"].fillna("?"),
                               strict=True)
    ])
    # the network channel only announces changes; the nodes sending metrics were there too
    seen = _nodes(frames[Channel.MONITORING])
    steps = membership(df, initial=seen)
    gone = steps.loc[(steps["change"] == "left").to_numpy(bool)
                     & steps["reason"].isin(s.leave_reasons).to_numpy(bool)]
    left = _rows(Channel.NETWORK, "node_left", gone["timestamp"], gone["node_id"], [
        f"left ({r}); {a} nodes active" for r, a in
        zip(gone["reason"].astype("string"), gone["active_nodes"], strict=True)
    ])
    return pd.concat([part, left], ignore_index=True)


def _number(value: float) -> str:
    return "?" if pd.isna(value) else f"{value:g}"


def _span(delta: pd.Timedelta) -> str:
    seconds = int(delta.total_seconds())
    minutes, sec = divmod(seconds, 60)
    return f"{minutes}min {sec}s" if minutes else f"{sec}s"


_DETECTORS: Final[tuple[Callable[[Frames, _Settings], pd.DataFrame], ...]] = (
    _monitoring, _security, _consensus, _network,
)
