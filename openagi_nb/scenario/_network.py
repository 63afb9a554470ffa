"""Network events of a generated scenario: joins, leaves and the partition.

``consensus_reached`` belongs to the network channel too, but it follows each executed decision,
so ``scenario_consensus`` emits it.
"""

from __future__ import annotations

from ..model import Channel
from ._plan import EventLog, Incident, Leave, Plan, address

__all__ = ["network_events"]

NET: str = Channel.NETWORK.value


def network_events(plan: Plan, events: EventLog) -> list[Incident]:
    """Add every join, leave and the partition to ``events``; return their incidents."""
    for node, t in plan.late_joins:
        _joined(events, node, t)
    incidents = [_leave(events, leave) for leave in plan.leaves]
    p = plan.partition
    if p is None:
        return incidents
    events.add(p.detected_at, Channel.NETWORK, "network_partition", {
        "partition_id": p.partition_id, "nodes": list(p.nodes), "detected_by": p.detected_by,
    })
    incidents.append(Incident(
        "network_partition", NET, events.at(p.detected_at), events.at(p.end), p.partition_id,
        f"{len(p.nodes)} of {len(plan.nodes)} nodes cut off ({', '.join(p.nodes)}); detected by "
        f"{p.detected_by}; the cut-off nodes send nothing from {events.clock(p.start)} until the "
        f"partition heals at end, and the rest fall short of quorum ({plan.quorum})",
    ))
    return incidents


def _joined(events: EventLog, node: str, t: float) -> None:
    events.add(t, Channel.NETWORK, "node_joined",
               {"node_id": node, "address": address(node), "timestamp": events.stamp(t)})


def _leave(events: EventLog, leave: Leave) -> Incident:
    events.add(leave.left_at, Channel.NETWORK, "node_left",
               {"node_id": leave.node, "address": address(leave.node), "reason": leave.reason})
    if leave.rejoin is not None:
        _joined(events, leave.node, leave.rejoin)
    silent = "" if leave.offline_at == leave.left_at else (
        f"; silent since {events.clock(leave.offline_at)}"
    )
    back = "node_joined again at end" if leave.rejoin is not None else "does not come back"
    return Incident(
        "node_left", NET, events.at(leave.left_at),
        None if leave.rejoin is None else events.at(leave.rejoin), leave.node,
        f"reason {leave.reason}{silent}; {back}",
    )
