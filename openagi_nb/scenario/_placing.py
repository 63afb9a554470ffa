"""The plan of a scenario of any length from a minute: :func:`make_plan`.

From 20 minutes (``_timetable.SPREAD_FROM``) it is the hour's plan (``_plan.hour_plan``:
every incident at fractions of the duration; the bundled capture's). Shorter, each incident of
``_timetable.PLANNED`` that fits (see that module for the rule) is drawn in its slot, with the
same parts as in an hour (the same lengths, leads and aftermaths, in seconds rather than
fractions of the duration); the others are left out. The nodes' roles are drawn first, the
same way in both, so the same seed gives the same nodes their parts whatever the duration.
"""

from __future__ import annotations

import random
from dataclasses import replace

from ..exceptions import ScenarioError
from ._plan import (
    MIN_NODES,
    LeaderFailure,
    Leave,
    Plan,
    Roles,
    Spike,
    cut_off,
    hour_plan,
    rng_for,
    roles,
)
from ._timetable import MIN_DURATION, SPREAD_FROM, placed, starts

__all__ = ["make_plan"]

_METRICS = ("cpu_usage", "network_latency_ms", "error_rate")


def make_plan(seed: int, duration: float, nodes: int) -> Plan:
    """Draw the timeline of a scenario: roles, outages and incident times, all from ``seed``.

    Raises:
        ScenarioError: fewer than :data:`~._plan.MIN_NODES` nodes or a duration under
            :data:`~._timetable.MIN_DURATION` seconds (a minute).
    """
    if nodes < MIN_NODES:
        raise ScenarioError(f"nodes must be at least {MIN_NODES}, got {nodes}")
    if not duration >= MIN_DURATION:
        raise ScenarioError(
            f"duration must be at least {MIN_DURATION:.0f} s (1 min), got {duration:g} s")
    rng = rng_for(seed, "plan")
    width = max(2, len(str(nodes)))
    names = tuple(f"node_{i:0{width}d}" for i in range(1, nodes + 1))
    if duration >= SPREAD_FROM:
        return hour_plan(rng, seed, duration, names)
    return _Short(rng, duration, names).plan(seed)


class _Short:
    """Draws the plan of a scenario under 20 minutes: each placed incident within its slot."""

    def __init__(self, rng: random.Random, duration: float, names: tuple[str, ...]) -> None:
        self.rng, self.duration, self.names = rng, duration, names
        self.starts = starts(duration)

    def at(self, name: str, lo: float, hi: float) -> float | None:
        """A time ``lo`` to ``hi`` seconds into the slot of ``name``; ``None``: not placed."""
        start = self.starts.get(name)
        return None if start is None else start + self.rng.uniform(lo, hi)

    def plan(self, seed: int) -> Plan:
        rng, r = self.rng, roles(self.rng, self.names)
        # joined before a partition can start (a node joining during one would be heard)
        late = tuple((node, rng.uniform(3.0, 10.0)) for node in r.late)
        leader = self.leader_failure(r)
        leaves = self.leaves(r, leader)
        breach = self.breach(r.breach)
        spikes = self.spikes(r.spikes)
        ddos = self.at("ddos", 150.0, 155.0)
        unblocked = tuple(t for k in range(1, 4)
                          if (t := self.at(f"intrusion {k}", 0.0, 5.0)) is not None)
        certificate = self.at("certificate", 0.0, 5.0)
        draft = Plan(
            seed, self.duration, self.names, r.view0, late, leaves, leader, None, breach,
            spikes, None if ddos is None else (ddos, rng.uniform(100.0, 140.0)), unblocked,
            None if certificate is None else (r.certificate, certificate),
            self.at("stuck proposal", 2.0, 8.0), placed(self.duration),
        )
        start = self.at("partition", 5.0, 8.0)
        if start is None:
            return draft
        # the partition comes before the leader failure: the primary is not cut off either
        excluded = {r.old_leader, r.new_leader, r.breach, *r.spikes}
        return replace(draft, partition=cut_off(rng, draft, start, excluded))

    def leader_failure(self, r: Roles) -> LeaderFailure | None:
        at = self.at("leader failure", 5.0, 10.0)
        if at is None:
            return None
        return LeaderFailure(at, at + self.rng.uniform(10.0, 15.0), r.view0, r.old_leader,
                             r.new_leader)

    def leaves(self, r: Roles, leader: LeaderFailure | None) -> tuple[Leave, ...]:
        """In the order of the hour's plan: graceful, banned, timed out, the failed primary."""
        rng, out = self.rng, []
        if (t := self.at("graceful leave", 0.0, 5.0)) is not None:
            out.append(Leave(r.graceful, t, t, "graceful", t + rng.uniform(60.0, 90.0)))
        if (t := self.at("banned node", 20.0, 25.0)) is not None:
            out.append(Leave(r.banned, t, t, "banned", None))
        if (t := self.at("timed-out node", 0.0, 5.0)) is not None:
            out.append(Leave(r.flaky, t, t + rng.uniform(30.0, 40.0), "timeout",
                             t + rng.uniform(60.0, 90.0)))
        if leader is not None:
            out.append(Leave(leader.old_leader, leader.at, leader.at + rng.uniform(30.0, 40.0),
                             "timeout", leader.at + rng.uniform(90.0, 115.0)))
        return tuple(out)

    def spikes(self, nodes: list[str]) -> tuple[Spike, ...]:
        out = []
        for k, node in enumerate(nodes, 1):
            if (t := self.at(f"spike {k}", 0.0, 5.0)) is not None:
                out.append(Spike(node, self.rng.choice(_METRICS), t, self.rng.choice((1, 2))))
        return tuple(out)

    def breach(self, node: str) -> tuple[str, float, float, float] | None:
        climb = self.at("breach", 5.0, 10.0)
        if climb is None:
            return None
        cross = climb + self.rng.uniform(60.0, 75.0)
        # 150 s or more above: a 2 min 'for' sees it, as in the hour's plan
        return node, climb, cross, cross + self.rng.uniform(150.0, 170.0)
