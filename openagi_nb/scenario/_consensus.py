"""Consensus events of a generated scenario: PBFT proposals, the view change, the stuck proposal.

Every proposal goes ``proposal_submitted`` -> ``consensus_phase`` ``pre_prepare`` (the primary,
1 vote of 1), ``prepare`` and ``commit`` (votes of the reachable validators, quorum ``2f + 1``),
``reply`` (quorum ``f + 1``) -> ``decision_executed`` and the network's ``consensus_reached``.
The plan's faults act on every proposal alike: a phase that falls while the primary is down
starts over with ``pre_prepare`` in the new view; a phase during the partition gets fewer votes
than its quorum (a quorum violation) and is retried once the partition heals. One proposal is
rejected by most validators in ``prepare`` and never executes.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from ..model import PHASES, Channel
from ._plan import EventLog, Incident, LeaderFailure, Plan, rng_for

__all__ = ["consensus_events", "consensus_incidents", "view_change"]

CON: Final = Channel.CONSENSUS
MEAN_GAP: Final = 30.0
"""Seconds between proposals, on average."""
_PARAMETERS: Final[tuple[tuple[str, Callable[[random.Random], float]], ...]] = (
    ("learning_rate", lambda r: round(10 ** r.uniform(-4.0, -1.5), 6)),
    ("batch_size", lambda r: float(r.choice((32, 64, 128, 256, 512)))),
    ("dropout", lambda r: round(r.uniform(0.05, 0.5), 2)),
    ("momentum", lambda r: round(r.uniform(0.8, 0.99), 3)),
    ("weight_decay", lambda r: round(10 ** r.uniform(-6.0, -3.0), 8)),
    ("aggregation_interval_s", lambda r: float(r.choice((15, 30, 60, 120)))),
    ("min_peers", lambda r: float(r.randint(8, 20))),
)


@dataclass
class _Proposal:
    pid: str
    round: int
    proposer: str
    decision: dict[str, Any]
    submitted: float
    stuck: bool = False


@dataclass
class _Run:
    """What the proposals leave behind for the incidents."""

    violations: list[tuple[float, _Proposal, str, int, int, int]] = field(default_factory=list)
    restarted: dict[str, bool] = field(default_factory=dict)
    """Proposal id -> whether it had a phase in the old view (else it waited for the new)."""


def consensus_events(plan: Plan, events: EventLog) -> list[Incident]:
    """Add every consensus event (and ``consensus_reached``) to ``events``; return the leader
    failure, stuck proposal and quorum violation incidents (those the plan holds)."""
    rng = rng_for(plan.seed, "consensus")
    run = _Run()
    first_round = rng.randint(1000, 4000)
    for number, t in enumerate(_submissions(rng, plan), 1):
        proposal = _propose(rng, plan, t, number, first_round + number)
        if t == plan.stuck:
            proposal.stuck = True
            # a value no validator accepts, which is why it never gets its prepare quorum
            proposal.decision["value"] = -round(rng.uniform(1.0, 100.0), 2)
        _run(rng, plan, events, proposal, run)
    view_change(plan, events)
    return consensus_incidents(plan, events, run)


def view_change(plan: Plan, events: EventLog) -> None:
    """The view change that ends the leader failure, if the plan holds one."""
    leader = plan.leader
    if leader is not None:
        events.add(leader.view_change, CON, "view_change", {
            "old_view": leader.old_view, "new_view": leader.old_view + 1,
            "new_leader": leader.new_leader, "reason": "leader_timeout",
        })


def consensus_incidents(plan: Plan, events: EventLog, run: _Run) -> list[Incident]:
    """The leader failure, the stuck proposal and every quorum violation ``run`` saw."""
    found = [] if plan.leader is None else [_leader_incident(plan.leader, events, run)]
    if any(v[1].stuck for v in run.violations):
        found.append(_stuck_incident(events, run))
    return found + [_violation_incident(plan, events, *v) for v in run.violations]


def _submissions(rng: random.Random, plan: Plan) -> list[float]:
    """Poisson arrivals, plus the proposals the faults need (:meth:`~._plan.Plan.proposals`)."""
    times = plan.proposals()
    t = rng.uniform(2.0, 20.0)
    while t < plan.duration - 20.0:
        times.append(t)
        t += max(3.0, rng.expovariate(1.0 / MEAN_GAP))
    return sorted(times)


def _propose(rng: random.Random, plan: Plan, t: float, number: int, round_: int) -> _Proposal:
    parameter, draw = rng.choice(_PARAMETERS)
    action = "rollback_parameter" if rng.random() < 0.15 else "update_parameter"
    proposer = rng.choice([n for n in plan.nodes if plan.reporting(n, t)])
    decision = {"action": action, "parameter": parameter, "value": draw(rng)}
    return _Proposal(f"proposal_{number:04d}", round_, proposer, decision, t)


def _run(rng: random.Random, plan: Plan, events: EventLog, p: _Proposal, run: _Run) -> None:
    """Take ``p`` through its phases as far as the plan lets it, then execute it."""
    t = p.submitted
    events.add(t, CON, "proposal_submitted", {
        "proposal_id": p.pid, "proposer": p.proposer, "data": dict(p.decision),
        "consensus_round": p.round,
    })
    step, phases = 0, 0
    t += _delay(rng, 0)
    while step < len(PHASES):
        if t >= plan.duration:
            return
        if plan.leader is not None and plan.leader_down(t):
            run.restarted[p.pid] = phases > 0
            t, step = plan.leader.view_change + rng.uniform(0.2, 0.6), 0
            continue
        phases += 1
        votes, quorum = _votes(rng, plan, p, PHASES[step], t)
        view = plan.view_at(t)
        events.add(t, CON, "consensus_phase", {
            "proposal_id": p.pid, "phase": PHASES[step], "view": view, "votes": votes,
            "quorum": quorum,
        })
        if votes < quorum:
            run.violations.append((t, p, PHASES[step], votes, quorum, view))
            if p.stuck:
                return
            healed = t if plan.partition is None else max(t, plan.partition.end)
            t = healed + rng.uniform(0.5, 2.0)
            continue
        step += 1
        t += _delay(rng, step)
    _execute(rng, events, p, t)


def _delay(rng: random.Random, step: int) -> float:
    """Seconds before phase ``step`` (``len(PHASES)``: before execution)."""
    low, high = ((0.05, 0.25), (0.3, 0.9), (0.3, 0.9), (0.1, 0.4), (0.02, 0.1))[step]
    return rng.uniform(low, high)


def _votes(rng: random.Random, plan: Plan, p: _Proposal, phase: str, t: float) -> tuple[int, int]:
    if phase == "pre_prepare":
        return 1, 1
    reachable = plan.reachable(t)
    if phase == "reply":
        return reachable - rng.randint(0, 2), plan.faulty + 1
    quorum = plan.quorum
    if p.stuck and phase == "prepare":
        return rng.randint(quorum // 4, quorum // 2), quorum
    if reachable < quorum:
        return reachable, quorum
    return reachable - rng.randint(0, min(2, reachable - quorum)), quorum


def _execute(rng: random.Random, events: EventLog, p: _Proposal, t: float) -> None:
    stamp = t + rng.uniform(0.001, 0.005)
    events.add(stamp, CON, "decision_executed",
               {"proposal_id": p.pid, "decision": dict(p.decision), "executed_at": events.stamp(t)})
    events.add(stamp + rng.uniform(0.005, 0.03), Channel.NETWORK, "consensus_reached",
               {"proposal_id": p.pid, "round": p.round, "decision": dict(p.decision)})


def _leader_incident(leader: LeaderFailure, events: EventLog, run: _Run) -> Incident:
    old, new = leader.old_view, leader.old_view + 1
    started = ", ".join(pid for pid, begun in run.restarted.items() if begun)
    waited = ", ".join(pid for pid, begun in run.restarted.items() if not begun)
    return Incident(
        "leader_failure", CON.value, events.at(leader.at), events.at(leader.view_change),
        leader.old_leader,
        f"primary of view {old} goes silent at start; view_change {old}->{new} at end, new "
        f"leader {leader.new_leader}, reason leader_timeout; begun in view {old} and "
        f"re-proposed in view {new}: {started or 'none'}; held until view {new}: "
        f"{waited or 'none'}",
    )


def _stuck_incident(events: EventLog, run: _Run) -> Incident:
    _, p, _, votes, quorum, _ = next(v for v in run.violations if v[1].stuck)
    return Incident(
        "stuck_proposal", CON.value, events.at(p.submitted), None, p.pid,
        f"{p.decision['parameter']}={p.decision['value']} (invalid) proposed by {p.proposer}; "
        f"pre_prepare, then prepare with {votes} of {quorum} votes; no commit, reply or "
        "decision_executed",
    )


def _violation_incident(
    plan: Plan, events: EventLog, t: float, p: _Proposal, phase: str, votes: int, quorum: int,
    view: int,
) -> Incident:
    why = ("validators rejected it; the proposal stays stuck" if p.stuck
           else "too few validators reachable; retried" if plan.partition is None
           else f"during {plan.partition.partition_id}; retried when it heals")
    return Incident("quorum_violation", CON.value, events.at(t), None, p.pid,
                    f"{phase} in view {view}: {votes} votes < quorum {quorum}; {why}")
