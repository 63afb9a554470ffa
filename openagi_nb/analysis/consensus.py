"""The PBFT consensus review of a ``consensus_events`` frame: each proposal's lifecycle, view
changes, the history of executed parameter changes, phase latencies and quorum violations.

A proposal goes ``proposal_submitted`` -> ``consensus_phase`` pre_prepare, prepare, commit,
reply -> ``decision_executed``. Events may be missing (a capture that starts mid-way, a lost
message) or arrive out of order (several nodes report); every function here takes the first time
each step was seen and never assumes the steps came in order.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Final

import numpy as np
import pandas as pd

from ..durations import Duration, duration
from ..model import PHASES
from ._dask import grouped, is_dask, max_time, narrow, select
from ._prepare import events, nanoseconds, order_key

__all__ = [
    "parameter_history",
    "phase_latencies",
    "proposals",
    "quorum_violations",
    "view_changes",
]

STATUS: Final = pd.CategoricalDtype(["executed", "pending", "stuck"])
PHASE: Final = pd.CategoricalDtype(list(PHASES), ordered=True)
STEPS: Final = ("submitted", *PHASES, "executed")
"""The lifecycle in order; ``phase_latencies`` measures each step to the next."""
_LIFECYCLE: Final = ("proposal_submitted", "consensus_phase", "decision_executed")
_FIELDS: Final = (
    "proposal_id", "proposer", "data_action", "data_parameter", "data_value", "phase", "view",
    "votes", "quorum", "decision_action", "decision_parameter", "decision_value", "executed_at",
)


def _sorted(rows: pd.DataFrame) -> pd.DataFrame:
    order = np.lexsort((order_key(rows), nanoseconds(rows["timestamp"])))
    return rows.iloc[order]


def proposals(
    df: pd.DataFrame, *, stuck_after: Duration = "60s", as_of: pd.Timestamp | None = None
) -> pd.DataFrame:
    """One row per proposal: what it proposed, when it reached each PBFT phase, how it ended.

    ``status`` is ``executed`` when a ``decision_executed`` was seen; otherwise ``stuck`` when
    more than ``stuck_after`` passed between the proposal's first event and ``as_of``, else
    ``pending``. The time of each phase is the first time it was seen (a phase repeated after a
    view change keeps its first time); ``view``, ``max_votes`` and ``quorum`` are the highest
    seen over the phases. What was proposed comes from the submission, or from the executed
    decision when the submission is missing.

    Args:
        df: a ``consensus_events`` frame.
        stuck_after: how long a proposal may stay unexecuted before it counts as stuck.
        as_of: the time "now" is, to judge what is stuck; default: the frame's last event
            (on a live snapshot, the latest event received).

    Returns:
        ``proposal_id``, ``proposer``, ``action``, ``parameter``, ``value``, ``submitted_at``,
        ``pre_prepare_at``, ``prepare_at``, ``commit_at``, ``reply_at``, ``executed_at``,
        ``latency`` (executed - submitted), ``view``, ``max_votes``, ``quorum``, ``status``
        (category executed/pending/stuck), ``last_phase`` (the furthest phase seen); ordered by
        first event.
    """
    limit = duration(stuck_after, "stuck_after")
    if is_dask(df):
        # each proposal's events, from whichever partitions, are shuffled into one partition
        now = _as_of(df, as_of)
        lifecycle = narrow(df, _lifecycle)
        table = grouped(lifecycle, ["proposal_id"], lambda p: _table(p, now, limit))
        return _ordered(table)
    return _ordered(_table(df, _as_of(df, as_of), limit))


def _lifecycle(df: pd.DataFrame) -> pd.DataFrame:
    rows = events(df, _LIFECYCLE, _FIELDS, "proposals")
    return rows.loc[rows["proposal_id"].notna().to_numpy(bool)]


def _ordered(table: pd.DataFrame) -> pd.DataFrame:
    out = table.sort_values(["first_seen", "proposal_id"], kind="stable", ignore_index=True)
    return out.drop(columns="first_seen")


def _table(df: pd.DataFrame, now: pd.Timestamp, limit: pd.Timedelta) -> pd.DataFrame:
    """:func:`proposals` of the proposals in ``df``, with ``first_seen``, in no given order."""
    rows = _sorted(_lifecycle(df))
    submitted = _first(rows, "proposal_submitted", {
        "proposer": "proposer", "data_action": "action", "data_parameter": "parameter",
        "data_value": "value", "timestamp": "submitted_at",
    })
    decided = _first(rows, "decision_executed", {
        "decision_action": "action_d", "decision_parameter": "parameter_d",
        "decision_value": "value_d", "executed_at": "executed_at", "timestamp": "decided_seen",
    })
    decided["executed_at"] = decided["executed_at"].fillna(decided.pop("decided_seen"))
    table = submitted.join(_phases(rows), how="outer").join(decided, how="outer")
    for column in ("action", "parameter", "value"):
        table[column] = table[column].fillna(table.pop(column + "_d"))
    return _finish(table, rows, now, limit)


def _as_of(df: pd.DataFrame, as_of: pd.Timestamp | None) -> pd.Timestamp:
    if as_of is not None:
        stamp = pd.Timestamp(as_of)
        return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp
    # with no event at all there is no proposal either: any time does
    newest = max_time(df) if is_dask(df) else (
        df["timestamp"].max() if df["timestamp"].notna().any() else None)
    return pd.Timestamp(0, tz="UTC") if newest is None else pd.Timestamp(newest)


def _first(rows: pd.DataFrame, event: str, columns: dict[str, str]) -> pd.DataFrame:
    """The first (time-ordered) ``event`` row of each proposal, ``columns`` renamed."""
    chosen = rows.loc[(rows["event"] == event).to_numpy(bool)]
    chosen = chosen.drop_duplicates("proposal_id")
    out = chosen[["proposal_id", *columns]].rename(columns=columns)
    return out.set_index("proposal_id")


def _phases(rows: pd.DataFrame) -> pd.DataFrame:
    """First time of each phase, highest view, votes and quorum, and furthest phase, per id."""
    phased = rows.loc[(rows["event"] == "consensus_phase").to_numpy(bool)
                      & rows["phase"].notna().to_numpy(bool)]
    phase = phased["phase"].astype(PHASE)
    firsts = phased.assign(phase=phase).groupby(["proposal_id", "phase"], observed=True)[
        "timestamp"].min().unstack("phase")
    firsts = firsts.reindex(columns=list(PHASES)).add_suffix("_at")
    firsts.columns = list(firsts.columns)
    highs = phased.groupby("proposal_id")[["view", "votes", "quorum"]].max()
    highs = highs.rename(columns={"votes": "max_votes"})
    furthest = phased.assign(rank=phase.cat.codes).groupby("proposal_id")["rank"].max()
    highs["last_phase"] = pd.Categorical.from_codes(furthest.reindex(highs.index), dtype=PHASE)
    return firsts.join(highs, how="outer")


def _finish(
    table: pd.DataFrame, rows: pd.DataFrame, now: pd.Timestamp, limit: pd.Timedelta
) -> pd.DataFrame:
    first_seen = rows.groupby("proposal_id")["timestamp"].min().reindex(table.index)
    executed = table["executed_at"].notna()
    stuck = ~executed & ((now - first_seen) > limit)
    status = np.where(executed, "executed", np.where(stuck, "stuck", "pending"))
    return pd.DataFrame({
        "proposal_id": pd.array(table.index.to_numpy(object), dtype="string"),
        "proposer": _col(table, "proposer", "string"),
        "action": _col(table, "action", "string"),
        "parameter": _col(table, "parameter", "string"),
        "value": _col(table, "value", "float64"),
        "submitted_at": _col(table, "submitted_at", "datetime64[ns, UTC]"),
        **{f"{p}_at": _col(table, f"{p}_at", "datetime64[ns, UTC]") for p in PHASES},
        "executed_at": _col(table, "executed_at", "datetime64[ns, UTC]"),
        "latency": (table["executed_at"] - table["submitted_at"]).to_numpy("timedelta64[ns]"),
        "view": _col(table, "view", "Int64"),
        "max_votes": _col(table, "max_votes", "Int64"),
        "quorum": _col(table, "quorum", "Int64"),
        "status": pd.Categorical(status, dtype=STATUS),
        "last_phase": pd.Categorical(_col(table, "last_phase", PHASE), dtype=PHASE),
        "first_seen": first_seen.to_numpy("datetime64[ns]"),
    })


def _col(table: pd.DataFrame, name: str, dtype: object) -> pd.api.extensions.ExtensionArray:
    series = table[name] if name in table else pd.Series(pd.NA, index=table.index)
    return series.astype(dtype).array  # type: ignore[call-overload, no-any-return]


def view_changes(df: pd.DataFrame) -> pd.DataFrame:
    """Every view change (a new PBFT leader), by time.

    Returns:
        ``timestamp``, ``old_view``, ``new_view``, ``new_leader``, ``reason``.
    """
    cols = ["old_view", "new_view", "new_leader", "reason"]

    def chosen(frame: pd.DataFrame) -> pd.DataFrame:
        return events(frame, ["view_change"], cols, "view_changes")

    rows = _sorted(select(df, chosen) if is_dask(df) else chosen(df))  # Dask: rows = result
    return rows[["timestamp", *cols]].reset_index(drop=True)


def parameter_history(df: pd.DataFrame) -> pd.DataFrame:
    """What each executed decision set, and when: the configuration history of the network.

    One row per executed proposal (a proposal reported executed twice counts once), by the time
    it executed (``executed_at``, or the event's time when missing).

    Returns:
        ``time``, ``proposal_id``, ``parameter``, ``action``, ``value``, ``previous`` (the
        value the previous executed decision on the same parameter set; NaN for the first).
    """
    cols = ["proposal_id", "decision_action", "decision_parameter", "decision_value",
            "executed_at"]
    rows = _sorted(events(df, ["decision_executed"], cols, "parameter_history"))
    once = rows["proposal_id"].isna() | ~rows["proposal_id"].duplicated()
    rows = rows.loc[once.to_numpy(bool)]
    out = pd.DataFrame({
        "time": rows["executed_at"].fillna(rows["timestamp"]),
        "proposal_id": rows["proposal_id"],
        "parameter": rows["decision_parameter"],
        "action": rows["decision_action"],
        "value": rows["decision_value"],
    }).sort_values("time", kind="stable", ignore_index=True)
    out["previous"] = out.groupby("parameter", dropna=False)["value"].shift()
    return out


def phase_latencies(df: pd.DataFrame, *, stuck_after: Duration = "60s") -> pd.DataFrame:
    """How long each step of the lifecycle takes, over all proposals that made both ends.

    Steps are submitted -> pre_prepare -> prepare -> commit -> reply -> executed, then
    ``total`` (submitted -> executed). A step counts for a proposal when both its ends were
    seen; a missing phase drops the two steps around it for that proposal, not the others.

    Returns:
        One row per step: ``step`` (``"prepare->commit"``), ``count``, ``mean``, ``p50``,
        ``p95``, ``p99``, ``max`` (Timedeltas; NaT when count is 0).
    """
    table = proposals(df, stuck_after=stuck_after)
    times = [table["submitted_at"], *(table[f"{p}_at"] for p in PHASES), table["executed_at"]]
    spans = {
        f"{a}->{b}": times[i + 1] - times[i] for i, (a, b) in enumerate(pairwise(STEPS))
    }
    spans["total"] = table["executed_at"] - table["submitted_at"]
    return pd.DataFrame([_describe(name, span.dropna()) for name, span in spans.items()],
                        columns=["step", "count", "mean", "p50", "p95", "p99", "max"])


def _describe(name: str, span: pd.Series) -> dict[str, object]:
    ns = span.to_numpy("timedelta64[ns]").astype(np.int64)
    if not len(ns):
        return {"step": name, "count": 0, **dict.fromkeys(["mean", "p50", "p95", "p99", "max"],
                                                          pd.NaT)}
    quantiles = np.quantile(ns, [0.5, 0.95, 0.99])
    return {
        "step": name, "count": len(ns), "mean": pd.Timedelta(int(ns.mean()), "ns"),
        **{k: pd.Timedelta(int(q), "ns") for k, q in zip(("p50", "p95", "p99"), quantiles,
                                                         strict=True)},
        "max": pd.Timedelta(int(ns.max()), "ns"),
    }


def quorum_violations(df: pd.DataFrame) -> pd.DataFrame:
    """Consensus phases that went on with fewer votes than their quorum.

    Rows whose ``votes`` or ``quorum`` is missing are not judged.

    Returns:
        ``timestamp``, ``proposal_id``, ``phase``, ``view``, ``votes``, ``quorum``, ``missing``
        (quorum - votes); by time.
    """
    cols = ["proposal_id", "phase", "view", "votes", "quorum"]
    rows = events(df, ["consensus_phase"], cols, "quorum_violations")
    short = (rows["votes"] < rows["quorum"]).fillna(False).to_numpy(bool)
    out = _sorted(rows.loc[short])[["timestamp", *cols]].reset_index(drop=True)
    out["missing"] = out["quorum"] - out["votes"]
    return out
