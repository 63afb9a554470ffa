"""The timeline every part of a generated scenario shares: nodes, who is online when, and when
each incident happens (each incident left out of a short scenario is ``None`` or missing).

:func:`~._placing.make_plan` draws it once per seed (:func:`hour_plan` from 20 minutes); the
channel modules (``_metrics``, ``_security``, ``_consensus``, ``_network``) read it and add
their events to an :class:`EventLog`, so a node that is offline sends no metrics, casts no
votes and is not the leader, whatever channel looks at it. Pure data and arithmetic: no I/O.

Times inside a scenario are seconds (float) since its start; :class:`EventLog` turns them into
the wire's timestamps, rounded to the millisecond.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from ..model import Channel, format_timestamp
from ._timetable import PLANNED, Planned

__all__ = [
    "MIN_NODES", "EventLog", "Incident", "LeaderFailure", "Leave", "Partition", "Plan", "Roles",
    "Spike", "cut_off", "hour_plan", "rng_for", "roles",
]

MIN_NODES: Final = 16
"""Enough nodes for every incident to have its own node and for a partition to cost quorum."""
EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Incident:
    """One thing an analyst should find in a scenario: the ground truth, with exact times.

    ``start``/``end`` are times of messages in the capture (``end`` is ``None`` for a single
    event), except where ``detail`` says otherwise.
    """

    kind: str
    channel: str
    start: datetime
    end: datetime | None
    subject: str
    detail: str


@dataclass(frozen=True)
class Leave:
    """A node going away: offline from ``offline_at``; the network says ``node_left`` at
    ``left_at`` (later for a timeout); back at ``rejoin`` (``None``: not within the scenario)."""

    node: str
    offline_at: float
    left_at: float
    reason: str
    rejoin: float | None


@dataclass(frozen=True)
class Partition:
    """``nodes`` cut off from the rest in ``[start, end)``; reported at ``detected_at``."""

    partition_id: str
    start: float
    detected_at: float
    end: float
    nodes: tuple[str, ...]
    detected_by: str


@dataclass(frozen=True)
class LeaderFailure:
    """The primary of ``old_view`` stops at ``at``; the view changes at ``view_change``."""

    at: float
    view_change: float
    old_view: int
    old_leader: str
    new_leader: str


@dataclass(frozen=True)
class Spike:
    """``samples`` consecutive samples of ``metric`` on ``node`` above threshold from ``at``."""

    node: str
    metric: str
    at: float
    samples: int


@dataclass(frozen=True)
class Plan:
    """When and where everything happens; see :func:`~._placing.make_plan`. An incident left
    out (a scenario too short for it, see ``_timetable``) is ``None`` or not in its tuple."""

    seed: int
    duration: float
    nodes: tuple[str, ...]
    view0: int
    late_joins: tuple[tuple[str, float], ...]
    leaves: tuple[Leave, ...]
    leader: LeaderFailure | None
    partition: Partition | None
    breach: tuple[str, float, float, float] | None
    """node, climb start, crossing, last time above (memory_usage)."""
    spikes: tuple[Spike, ...]
    ddos: tuple[float, float] | None
    """start, length (seconds)."""
    unblocked: tuple[float, ...]
    certificate: tuple[str, float] | None
    stuck: float | None
    placed: tuple[Planned, ...] = PLANNED
    """The planned incidents placed (``_timetable``)."""

    @property
    def faulty(self) -> int:
        """``f``: the Byzantine faults the validator set tolerates (PBFT: n >= 3f + 1)."""
        return (len(self.nodes) - 1) // 3

    @property
    def quorum(self) -> int:
        """Votes the prepare and commit phases need: ``2f + 1``."""
        return 2 * self.faulty + 1

    def offline_spans(self, node: str) -> Iterator[tuple[float, float]]:
        """The ``[from, to)`` spans in which ``node`` is not on the network."""
        for late, joined in self.late_joins:
            if late == node:
                yield 0.0, joined
        for leave in self.leaves:
            if leave.node == node:
                yield leave.offline_at, math.inf if leave.rejoin is None else leave.rejoin

    def online(self, node: str, t: float) -> bool:
        """Whether ``node`` is on the network at ``t``."""
        return not any(a <= t < b for a, b in self.offline_spans(node))

    def partitioned(self, node: str, t: float) -> bool:
        """Whether ``node`` is cut off from the majority at ``t``."""
        p = self.partition
        return p is not None and p.start <= t < p.end and node in p.nodes

    def reporting(self, node: str, t: float) -> bool:
        """Whether the rest of the network hears from ``node`` at ``t``."""
        return self.online(node, t) and not self.partitioned(node, t)

    def reachable(self, t: float) -> int:
        """How many validators the primary can reach at ``t`` (the most votes a phase gets)."""
        return sum(self.reporting(n, t) for n in self.nodes)

    def leader_down(self, t: float) -> bool:
        """Whether ``t`` falls between the primary's failure and the view change."""
        return self.leader is not None and self.leader.at <= t < self.leader.view_change

    def view_at(self, t: float) -> int:
        """The PBFT view in force at ``t``."""
        return self.view0 if self.leader is None or t < self.leader.view_change else self.view0 + 1

    def proposals(self) -> list[float]:
        """The proposals the faults need: one just before the primary fails (in flight when it
        does), one while it is down, one during the partition, and the one that gets stuck."""
        times = []
        if self.leader is not None:
            times += [self.leader.at - 0.3, self.leader.at + 4.0]
        if self.partition is not None:
            times.append(self.partition.start + 10.0)
        if self.stuck is not None:
            times.append(self.stuck)
        return times


class EventLog:
    """Collects events in any order; :meth:`ordered` gives them by time (ties in insertion
    order), which is what makes the output the same for the same seed."""

    def __init__(self, start: datetime) -> None:
        start = start if start.tzinfo else start.replace(tzinfo=UTC)
        delta = start - EPOCH
        self.t0_ns = (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1000
        self.rows: list[tuple[int, int, Channel, str, dict[str, Any]]] = []

    def ns(self, t: float) -> int:
        """Scenario time ``t`` (seconds) as integer nanoseconds, rounded to the millisecond."""
        return self.t0_ns + round(t * 1000) * 1_000_000

    def stamp(self, t: float) -> str:
        """Scenario time ``t`` as the wire's ISO 8601 text."""
        return format_timestamp(self.ns(t))

    def at(self, t: float) -> datetime:
        """Scenario time ``t`` as an aware UTC datetime (what :class:`Incident` holds)."""
        return EPOCH + timedelta(microseconds=self.ns(t) // 1000)

    def clock(self, t: float) -> str:
        """Scenario time ``t`` as ``HH:MM:SS.mmm`` (UTC), for incident details."""
        return self.at(t).strftime("%H:%M:%S.%f")[:-3]

    def add(self, t: float, channel: Channel, event: str, data: dict[str, Any]) -> None:
        """Record ``event`` of ``channel`` at scenario time ``t``."""
        self.rows.append((self.ns(t), len(self.rows), channel, event, data))

    def ordered(self) -> list[tuple[int, int, Channel, str, dict[str, Any]]]:
        """The events sorted by time, ties kept in the order they were added."""
        return sorted(self.rows, key=lambda row: (row[0], row[1]))


def rng_for(seed: int, part: str) -> random.Random:
    """An independent random stream per part, so a change in one part moves nothing else."""
    return random.Random(f"openagi-nb:{seed}:{part}")


def address(node: str) -> str:
    """A node's overlay address: ``node_07`` -> ``node07.onion`` (the form of the published
    API's example)."""
    return node.replace("_", "") + ".onion"


@dataclass(frozen=True)
class Roles:
    """Who plays which part: drawn first, whether or not the scenario is long enough for the
    part (so a node's role does not depend on the duration)."""

    view0: int
    old_leader: str
    new_leader: str
    breach: str
    graceful: str
    banned: str
    flaky: str
    certificate: str
    spikes: list[str]
    late: list[str]


def roles(rng: random.Random, names: tuple[str, ...]) -> Roles:
    """Draw the :class:`Roles`: the primary of the first view is the ``view0``-th node."""
    n = len(names)
    view0 = rng.randint(2, 9)
    old_leader, new_leader = names[view0 % n], names[(view0 + 1) % n]
    pool = [x for x in names if x not in (old_leader, new_leader)]
    rng.shuffle(pool)
    breach, graceful, banned, flaky, certificate = pool[:5]
    return Roles(view0, old_leader, new_leader, breach, graceful, banned, flaky, certificate,
                 pool[5:9], pool[9 : 11 if n >= 20 else 10])


def cut_off(rng: random.Random, draft: Plan, start: float, excluded: set[str]) -> Partition:
    """The partition from ``start``: just enough nodes cut off (none of ``excluded``) that the
    rest fall one or two votes short of quorum."""
    end = start + rng.uniform(80.0, 110.0)
    up = [x for x in draft.nodes if draft.online(x, start) and draft.online(x, end)]
    cut = len(up) - draft.quorum + 1 + rng.randint(0, 1)
    candidates = [x for x in up if x not in excluded]
    detected_by = rng.choice(candidates)
    candidates.remove(detected_by)
    cut_nodes = tuple(sorted(rng.sample(candidates, min(cut, (len(up) - 1) // 2))))
    return Partition("partition_001", start, start + rng.uniform(2.0, 6.0), end, cut_nodes,
                     detected_by)


def hour_plan(rng: random.Random, seed: int, duration: float, names: tuple[str, ...]) -> Plan:
    """The plan of a scenario of 20 minutes or more: every incident, each in its own slice of
    the duration (fractions of it), as in the bundled hour."""
    return _Drawer(rng, duration, names).plan(seed)


class _Drawer:
    """Draws a :class:`Plan` step by step; each incident sits in its own slice of the hour."""

    def __init__(self, rng: random.Random, duration: float, names: tuple[str, ...]) -> None:
        self.rng, self.duration, self.names = rng, duration, names

    def at(self, lo: float, hi: float) -> float:
        """A time between fractions ``lo`` and ``hi`` of the duration."""
        return self.rng.uniform(lo, hi) * self.duration

    def plan(self, seed: int) -> Plan:
        rng, r = self.rng, roles(self.rng, self.names)
        leader = self.leader_failure(r.view0, r.old_leader, r.new_leader)
        leaves = (*self.leaves(r.graceful, r.banned, r.flaky), self.leader_leave(leader))
        draft = Plan(
            seed, self.duration, self.names, r.view0,
            tuple((node, self.at(0.02, 0.08)) for node in r.late), leaves, leader, None,
            self.breach(r.breach), self.spikes(r.spikes),
            (self.at(0.30, 0.36), rng.uniform(100.0, 140.0)),
            tuple(sorted(self.at(0.10, 0.95) for _ in range(rng.randint(3, 4)))),
            (r.certificate, self.at(0.45, 0.50)), None,
        )
        partition = cut_off(rng, draft, self.at(0.70, 0.74),
                            excluded={r.new_leader, r.breach, *r.spikes})
        stuck = max(self.at(0.80, 0.85), partition.end + 30.0)
        return replace(draft, partition=partition, stuck=stuck)

    def leader_failure(self, view0: int, old: str, new: str) -> LeaderFailure:
        at = self.at(0.55, 0.58)
        return LeaderFailure(at, at + self.rng.uniform(10.0, 15.0), view0, old, new)

    def leader_leave(self, leader: LeaderFailure) -> Leave:
        rejoin = leader.at + self.rng.uniform(0.08, 0.10) * self.duration
        return Leave(leader.old_leader, leader.at, leader.at + self.rng.uniform(30.0, 40.0),
                     "timeout", rejoin)

    def leaves(self, graceful: str, banned: str, flaky: str) -> tuple[Leave, ...]:
        rng = self.rng
        g_at = self.at(0.22, 0.25)
        b_at = self.at(0.62, 0.66)
        f_at = self.at(0.88, 0.90)
        f_back = f_at + rng.uniform(120.0, 180.0)
        return (
            Leave(graceful, g_at, g_at, "graceful", g_at + rng.uniform(0.15, 0.18) * self.duration),
            Leave(banned, b_at, b_at, "banned", None),
            Leave(flaky, f_at, f_at + rng.uniform(30.0, 40.0), "timeout",
                  f_back if f_back < self.duration - 10.0 else None),
        )

    def breach(self, node: str) -> tuple[str, float, float, float]:
        climb = self.at(0.10, 0.12)
        cross = climb + self.rng.uniform(0.05, 0.07) * self.duration
        # at least 2.5 min above, so that a 2 min 'for' sees it even in the shortest scenario
        return node, climb, cross, cross + max(self.rng.uniform(0.22, 0.26) * self.duration, 150.0)

    def spikes(self, nodes: list[str]) -> tuple[Spike, ...]:
        slots = ((0.06, 0.14), (0.30, 0.40), (0.46, 0.54), (0.86, 0.95))
        metrics = ("cpu_usage", "network_latency_ms", "error_rate")
        return tuple(
            Spike(node, self.rng.choice(metrics), self.at(lo, hi), self.rng.choice((1, 2)))
            for node, (lo, hi) in zip(nodes, slots, strict=True)
        )
