"""The security audit of a ``security_events`` frame: sources, unblocked intrusions, bursts,
the timeline of attacks, expired certificates, and :func:`audit` that puts them in one report.

"Attack events" are ``intrusion_detected`` and ``attack_blocked`` (the events with an
``attack_type``). An event counts as blocked when it is an ``attack_blocked`` or an intrusion with
``blocked`` true; an intrusion with ``blocked`` false *or missing* is not known to be blocked and
counts as unblocked, since an audit must not hide what it cannot confirm.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import pandas as pd

from ..durations import Duration
from ._bursts import ATTACKS, bursts, time_sorted
from ._dask import is_dask, reduce, select
from ._prepare import (
    NAT,
    SEVERITY,
    events,
    frequency,
    nanoseconds,
    require,
    severity,
    stamps,
)
from .report import AuditReport

__all__ = ["audit", "bursts", "certificates", "timeline", "top_sources", "unblocked"]

SOURCED: Final = (*ATTACKS, "suspicious_activity")


def _is_unblocked(rows: pd.DataFrame) -> np.ndarray:
    flag: np.ndarray = rows["blocked"].to_numpy(dtype=bool, na_value=False)
    open_: np.ndarray = (rows["event"] == "intrusion_detected").to_numpy(bool) & ~flag
    return open_


def top_sources(df: pd.DataFrame, n: int | None = 10) -> pd.DataFrame:
    """The source IPs behind the most security events: who is attacking, and did it get through.

    Reads the events that carry a ``source_ip`` (intrusions, blocked attacks, suspicious
    activity).

    Args:
        df: a ``security_events`` frame.
        n: how many sources to return; ``None`` for all.

    Returns:
        ``source_ip``, ``events``, ``blocked`` (``attack_blocked`` events), ``unblocked``
        (intrusions not known to be blocked), ``attack_types`` (sorted, comma-separated),
        ``max_severity`` (ordered category), ``first_seen``, ``last_seen``; most events first,
        then the most recent.
    """
    if n is not None and n < 0:
        raise ValueError(f"n: expected a count >= 0 or None, got {n!r}")
    if is_dask(df):  # a table per partition, combined: one row per source IP
        table, pairs = reduce(df, _source_partial, _source_combine)
    else:
        table, pairs = _source_combine([_source_partial(df)])
    table = table.sort_values(
        ["events", "last_seen", "source_ip"], ascending=[False, False, True], kind="stable"
    )
    if n is not None:
        table = table.head(n)
    return pd.DataFrame({
        "source_ip": table["source_ip"].astype("string").to_numpy(),
        "events": table["events"].to_numpy(np.int64),
        "blocked": table["blocked"].to_numpy(np.int64),
        "unblocked": table["unblocked"].to_numpy(np.int64),
        "attack_types": _attack_types(pairs, table["source_ip"]),
        "max_severity": pd.Categorical.from_codes(table["severity"].to_numpy(), dtype=SEVERITY),
        "first_seen": stamps(table["first_seen"].to_numpy()),
        "last_seen": stamps(table["last_seen"].to_numpy()),
    })


_SOURCE_STATS: Final = {
    "events": "sum", "blocked": "sum", "unblocked": "sum", "severity": "max",
    "first_seen": "min", "last_seen": "max",
}


def _source_partial(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per source IP of a frame (or a partition): the counts, and its (IP, attack type) pairs."""
    rows = events(df, SOURCED, ["source_ip", "attack_type", "blocked", "severity"], "top_sources")
    rows = rows.loc[rows["source_ip"].notna().to_numpy(bool)]
    stats = pd.DataFrame({
        "source_ip": rows["source_ip"].astype("string").to_numpy(object),
        "events": 1,
        "blocked": (rows["event"] == "attack_blocked").to_numpy(np.int64),
        "unblocked": _is_unblocked(rows).astype(np.int64),
        "severity": rows["severity"].astype(SEVERITY).cat.codes.to_numpy(np.int64),
        "first_seen": nanoseconds(rows["timestamp"]),
    }).assign(last_seen=lambda x: x["first_seen"])
    table = stats.groupby("source_ip", sort=False).agg(_SOURCE_STATS).reset_index()
    pairs = rows.loc[rows["attack_type"].notna().to_numpy(bool), ["source_ip", "attack_type"]]
    return table, pairs.drop_duplicates()


def _source_combine(
    parts: list[tuple[pd.DataFrame, pd.DataFrame]],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    if len(parts) == 1:
        return parts[0]
    table = pd.concat([t for t, _ in parts], ignore_index=True)
    table = table.groupby("source_ip", sort=False).agg(_SOURCE_STATS).reset_index()
    return table, pd.concat([p for _, p in parts], ignore_index=True).drop_duplicates()


def _attack_types(pairs: pd.DataFrame, sources: pd.Series) -> Any:
    """Comma-separated sorted attack types of each of ``sources`` (only those are computed)."""
    wanted = pairs.loc[pairs["source_ip"].isin(sources).to_numpy(bool)]
    joined = wanted.sort_values("attack_type").groupby("source_ip")["attack_type"].agg(", ".join)
    return pd.array(sources.map(joined).to_numpy(object), dtype="string")


def unblocked(df: pd.DataFrame, min_severity: str = "high") -> pd.DataFrame:
    """Intrusions at or above ``min_severity`` that were not blocked: the ones to act on.

    An intrusion whose ``blocked`` is missing is included (not known to be blocked); one whose
    severity is missing is not (it cannot be ranked).

    Args:
        df: a ``security_events`` frame.
        min_severity: the lowest severity to report (low < medium < high < critical).

    Returns:
        ``timestamp``, ``source_ip``, ``attack_type``, ``severity``, ``blocked``; by time.
    """
    floor = list(SEVERITY.categories).index(severity(min_severity, "min_severity"))

    def chosen(frame: pd.DataFrame) -> pd.DataFrame:
        rows = events(frame, ["intrusion_detected"],
                      ["source_ip", "attack_type", "severity", "blocked"], "unblocked")
        level = rows["severity"].astype(SEVERITY).cat.codes.to_numpy()
        return rows.loc[_is_unblocked(rows) & (level >= floor)]

    # on Dask, the rows selected are the result: gathering them gathers no more than it
    rows = select(df, chosen) if is_dask(df) else chosen(df)
    cols = ["timestamp", "source_ip", "attack_type", "severity", "blocked"]
    return time_sorted(rows)[cols].reset_index(drop=True)


def timeline(df: pd.DataFrame, freq: str = "1min") -> pd.DataFrame:
    """Attack events per time bin, by attack type and severity: the shape of the attacks.

    Args:
        df: a ``security_events`` frame (``intrusion_detected`` and ``attack_blocked`` read).
        freq: the bin width (``"1min"``, ``"10min"``).

    Returns:
        Indexed by bin start (every bin from the first event to the last), columns a MultiIndex
        (``attack_type``, ``severity``) of the combinations seen, counts (0 where none).
    """
    frequency(freq)
    rows = events(df, ATTACKS, ["attack_type", "severity"], "timeline")
    rows = rows.loc[rows["attack_type"].notna().to_numpy(bool)]
    counts = pd.Series(1, index=pd.MultiIndex.from_arrays([
        stamps(nanoseconds(rows["timestamp"])),
        rows["attack_type"].astype("string").to_numpy(object),
        rows["severity"].astype(SEVERITY).astype("string").fillna("unknown").to_numpy(object),
    ], names=["time", "attack_type", "severity"]))
    binned = counts.groupby([
        pd.Grouper(level="time", freq=freq), pd.Grouper(level="attack_type"),
        pd.Grouper(level="severity"),
    ]).sum()
    wide = binned.unstack(["attack_type", "severity"], fill_value=0)
    wide = wide.reindex(columns=_severity_ordered(wide.columns))
    if len(wide):
        wide = wide.asfreq(freq, fill_value=0)
    wide.index.name = "time"
    return wide.astype(np.int64)


def _severity_ordered(columns: pd.Index) -> pd.MultiIndex:
    rank = {s: i for i, s in enumerate([*SEVERITY.categories, "unknown"])}
    pairs = sorted(columns, key=lambda c: (c[0], rank[c[1]]))  # a few dozen columns at most
    return pd.MultiIndex.from_tuples(pairs, names=["attack_type", "severity"])


def certificates(df: pd.DataFrame) -> pd.DataFrame:
    """Expired certificates: one row per node and expiry, however often it was reported.

    Returns:
        ``node_id``, ``expired_at``, ``severity`` (the highest reported), ``first_reported``,
        ``last_reported``, ``reports``; by expiry (missing last), then node.
    """
    def chosen(frame: pd.DataFrame) -> pd.DataFrame:
        return events(frame, ["certificate_expired"], ["node_id", "expired_at", "severity"],
                      "certificates")

    rows = select(df, chosen) if is_dask(df) else chosen(df)  # on Dask: the few reports
    table = pd.DataFrame({
        "node_id": rows["node_id"].astype("string").to_numpy(object),
        "expired_at": nanoseconds(rows["expired_at"]),
        "severity": rows["severity"].astype(SEVERITY).cat.codes.to_numpy(np.int64),
        "reported": nanoseconds(rows["timestamp"]),
    }).groupby(["node_id", "expired_at"], dropna=False, sort=False).agg(
        severity=("severity", "max"), first_reported=("reported", "min"),
        last_reported=("reported", "max"), reports=("reported", "size"),
    ).reset_index()
    table = table.assign(unknown=table["expired_at"] == NAT).sort_values(
        ["unknown", "expired_at", "node_id"], kind="stable", na_position="last"
    )
    expired = table["expired_at"].to_numpy(np.int64)
    return pd.DataFrame({
        "node_id": pd.array(table["node_id"].to_numpy(object), dtype="string"),
        "expired_at": stamps(expired),
        "severity": pd.Categorical.from_codes(table["severity"].to_numpy(), dtype=SEVERITY),
        "first_reported": stamps(table["first_reported"].to_numpy()),
        "last_reported": stamps(table["last_reported"].to_numpy()),
        "reports": table["reports"].to_numpy(np.int64),
    })


def audit(
    df: pd.DataFrame, *, n: int | None = 10, min_severity: str = "high",
    window: Duration = "1min", min_events: int = 100, freq: str = "1min",
) -> AuditReport:
    """The security audit of a frame: every table above in one report.

    Use it for the written record of a period: ``report.to_html()`` or ``to_markdown()``; the
    tables stay available as attributes (``report.unblocked``...) and in ``report.tables``.
    The arguments are passed on to the functions of the same name.
    """
    require(df, ["timestamp", "event"], "audit")
    stamp = df["timestamp"].dropna()
    counts = df["event"].value_counts(sort=False)
    return AuditReport(
        start=stamp.min() if len(stamp) else None,
        end=stamp.max() if len(stamp) else None,
        events={str(k): int(v) for k, v in counts.items() if v},
        min_severity=min_severity,
        top_sources=top_sources(df, n),
        unblocked=unblocked(df, min_severity),
        bursts=bursts(df, window, min_events),
        timeline=timeline(df, freq),
        certificates=certificates(df),
    )
