"""Network events of a generated scenario: joins, leaves and the partition.

``consensus_reached`` belongs to the network channel too, but it follows each executed decision,
so ``scenario_consensus`` emits it.
"""

from __future__ import annotations

from ..model import Channel
from ._plan import Incident, Leave, Plan, Sink, address

__all__ = ["network_events"]

NET: str = Channel.NETWORK.value


def network_events(plan: Plan, sink: Sink) -> list[Incident]:
    """Add every join, leave and the partition to ``sink``; return their incidents."""
    for node, t in plan.late_joins:
        _joined(sink, node, t)
    incidents = [_leave(sink, leave) for leave in plan.leaves]
    p = plan.partition
    sink.add(p.detected_at, Channel.NETWORK, "network_partition", {
        "partition_id": p.partition_id, "nodes": list(p.nodes), "detected_by": p.detected_by,
    })
    incidents.append(Incident(
        "network_partition", NET, sink.at(p.detected_at), sink.at(p.end), p.partition_id,
        f"{len(p.nodes)} of {len(plan.nodes)} nodes cut off ({', '.join(p.nodes)}); detected by "
        f"{p.detected_by}; the cut-off nodes send nothing from {sink.clock(p.start)} until the "
        f"partition heals at end, and the rest fall short of quorum ({plan.quorum})",
    ))
    return incidents


def _joined(sink: Sink, node: str, t: float) -> None:
    sink.add(t, Channel.NETWORK, "node_joined",
             {"node_id": node, "address": address(node), "timestamp": sink.stamp(t)})


def _leave(sink: Sink, leave: Leave) -> Incident:
    sink.add(leave.left_at, Channel.NETWORK, "node_left",
             {"node_id": leave.node, "address": address(leave.node), "reason": leave.reason})
    if leave.rejoin is not None:
        _joined(sink, leave.node, leave.rejoin)
    silent = "" if leave.offline_at == leave.left_at else (
        f"; silent since {sink.clock(leave.offline_at)}"
    )
    back = "node_joined again at end" if leave.rejoin is not None else "does not come back"
    return Incident(
        "node_left", NET, sink.at(leave.left_at),
        None if leave.rejoin is None else sink.at(leave.rejoin), leave.node,
        f"reason {leave.reason}{silent}; {back}",
    )
