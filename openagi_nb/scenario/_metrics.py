"""Monitoring events of a generated scenario: per-node metric series, alerts, degradations.

Every reporting node sends one ``metric_update`` per metric about every 10 s. Each series is a
mean-reverting random walk around a per-node level (with a slow drift for disk), kept clear of
its threshold, so the only samples above a threshold are the planned ones: the breach (memory
climbing past 85 % and staying there) and the short spikes. ``status`` follows the value
(``ok`` at or below the threshold, ``warning`` above it, ``critical`` at or above the critical
level) and ``alert_raised`` fires on every rise of status, as an edge-triggered alerter would:
spikes raise alerts too, which is why an analyst needs a ``for`` duration.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Final

from ..model import Channel
from ._plan import EventLog, Incident, Plan, Spike, rng_for

__all__ = ["SAMPLE_EVERY", "SPECS", "MetricSpec", "consensus_slows", "metric_events"]

MON: Final = Channel.MONITORING
SAMPLE_EVERY: Final = 10.0
_RANK: Final = {"ok": 0, "warning": 1, "critical": 2}
_ALERT_SEVERITY: Final = {"warning": "high", "critical": "critical"}


@dataclass(frozen=True)
class MetricSpec:
    """How one metric behaves: thresholds, per-node level range, walk and rounding."""

    name: str
    threshold: float
    critical: float
    level: tuple[float, float]
    revert: float
    noise: float
    trend: tuple[float, float]
    """Drift of the level per hour (low, high)."""
    log: bool = False
    digits: int = 2
    floor: float = 0.0

    def status(self, value: float) -> str:
        """``ok``, ``warning`` (above the threshold) or ``critical`` (at the critical level)."""
        if value >= self.critical:
            return "critical"
        return "warning" if value > self.threshold else "ok"


SPECS: Final = (
    MetricSpec("cpu_usage", 80.0, 90.0, (18.0, 50.0), 0.2, 2.5, (-4.0, 4.0), floor=0.5),
    MetricSpec("memory_usage", 85.0, 95.0, (38.0, 62.0), 0.05, 0.45, (0.0, 3.0), floor=5.0),
    MetricSpec("disk_usage", 90.0, 95.0, (35.0, 72.0), 0.1, 0.03, (0.2, 2.5), floor=1.0),
    MetricSpec("network_latency_ms", 250.0, 500.0, (25.0, 90.0), 0.2, 0.06, (0.0, 0.0),
               log=True, digits=1, floor=1.0),
    MetricSpec("error_rate", 5.0, 10.0, (0.1, 0.8), 0.3, 0.12, (0.0, 0.0), digits=3),
)
SPEC: Final = {s.name: s for s in SPECS}
BREACH_METRIC: Final = "memory_usage"
_CEILING: Final = 0.93
"""Background values stay under this fraction of the threshold."""


def metric_events(plan: Plan, events: EventLog) -> list[Incident]:
    """Add every monitoring event to ``events``; return the breach and spike incidents."""
    rng = rng_for(plan.seed, "metrics")
    alerts: list[tuple[float, str, MetricSpec, float]] = []
    incidents: list[Incident] = []
    for node in plan.nodes:
        times = _sample_times(rng, plan.duration)
        series = {s.name: _series(rng, s, times) for s in SPECS}
        incidents += _shape(plan, events, node, times, series)
        _emit(plan, events, node, times, series, alerts)
    _alerts(events, sorted(alerts, key=lambda a: a[0]))
    _degradations(rng, plan, events)
    _exhaustions(rng, plan, events)
    return incidents


def _sample_times(rng: random.Random, duration: float) -> list[float]:
    phase = rng.uniform(0.0, SAMPLE_EVERY)
    count = int((duration - phase) // SAMPLE_EVERY)
    return [phase + k * SAMPLE_EVERY + rng.uniform(-0.15, 0.15) for k in range(count)]


def _series(rng: random.Random, spec: MetricSpec, times: list[float]) -> list[float]:
    """A mean-reverting walk around a drifting per-node level, kept under the threshold."""
    level = rng.uniform(*spec.level)
    trend = rng.uniform(*spec.trend)
    ceiling = spec.threshold * _CEILING
    x = math.log(level) if spec.log else level
    out = []
    for t in times:
        mean = level + trend * t / 3600.0
        x += spec.revert * ((math.log(mean) if spec.log else mean) - x) + rng.gauss(0.0, spec.noise)
        value = math.exp(x) if spec.log else x
        if value > ceiling:
            value = 2 * ceiling - value
        out.append(round(max(spec.floor, value), spec.digits))
    return out


def _shape(
    plan: Plan, events: EventLog, node: str, times: list[float], series: dict[str, list[float]]
) -> list[Incident]:
    """Write the planned breach and spikes of ``node`` into its series; return them."""
    rng = rng_for(plan.seed, f"shape:{node}")
    incidents = []
    if plan.breach is not None and plan.breach[0] == node:
        incidents.append(_breach(rng, plan.breach, events, times, series[BREACH_METRIC]))
    incidents += (
        _spike(rng, events, spike, times, series[spike.metric])
        for spike in plan.spikes if spike.node == node
    )
    return incidents


def _breach(
    rng: random.Random, breach: tuple[str, float, float, float], events: EventLog,
    times: list[float], values: list[float],
) -> Incident:
    """Climb from the node's level to the threshold, stay above it rising to critical, then drop
    back (the process is restarted) once the planned span is over (``breach``: see
    :attr:`~._plan.Plan.breach`)."""
    node, climb, cross, last = breach
    spec = SPEC[BREACH_METRIC]
    peak = spec.critical + rng.uniform(1.2, 2.2)
    above: list[int] = []
    for k, t in enumerate(times):
        if climb <= t < cross:
            level = values[k] + (spec.threshold - 1.0 - values[k]) * (t - climb) / (cross - climb)
            values[k] = round(min(level + rng.gauss(0.0, 0.3), spec.threshold - 0.2), 2)
        elif cross <= t <= last:
            rise = min(1.0, (t - cross) / (0.6 * (last - cross)))
            # once critical, stay critical: a real leak does not flap, and one alert is enough
            low = spec.critical + 0.1 if above and values[above[-1]] >= spec.critical else (
                spec.threshold + 0.3
            )
            level = spec.threshold + 1.5 + (peak - spec.threshold - 1.5) * rise
            values[k] = round(max(level + rng.gauss(0.0, 0.3), low), 2)
            above.append(k)
    return _breach_found(events, node, [times[k] for k in above], [values[k] for k in above])


def _breach_found(
    events: EventLog, node: str, times: list[float], values: list[float]
) -> Incident:
    """Add what the breach sets off (memory exhausted, slow responses); describe it."""
    spec = SPEC[BREACH_METRIC]
    shift = _offset(BREACH_METRIC)
    first, end = times[0] + shift, times[-1] + shift
    k = next(i for i, v in enumerate(values) if v >= spec.critical)
    _exhausted(events, times[k] + shift + 0.006, node, "memory", values[k], spec.critical)
    for t in times[6::15]:
        _degraded(events, t + 0.5, node, _COMPONENTS[2], 1.5 + 2.5 * (t - first) / (end - first))
    return Incident(
        "metric_breach", MON.value, events.at(first), events.at(end), node,
        f"{BREACH_METRIC} above {spec.threshold} for {(end - first) / 60:.1f} min "
        f"({len(times)} samples, peak {max(values)}, critical from {events.clock(times[k] + shift)}"
        f"); alert_raised at start and when critical, resource_exhausted (memory)",
    )


def _spike(
    rng: random.Random, events: EventLog, spike: Spike, times: list[float], values: list[float]
) -> Incident:
    """Lift one or two consecutive samples from ``spike.at`` above the threshold."""
    spec = SPEC[spike.metric]
    k = next(i for i, t in enumerate(times) if t >= spike.at)
    top = 99.5 if spike.metric == "cpu_usage" else spec.threshold * 2.4
    for i in range(k, k + spike.samples):
        values[i] = round(rng.uniform(spec.threshold * 1.05, top), spec.digits)
    first = times[k] + _offset(spike.metric)
    end = times[k + spike.samples - 1] + _offset(spike.metric)
    return Incident(
        "metric_spike", MON.value, events.at(first), events.at(end), spike.node,
        f"{spike.metric} up to {max(values[k:k + spike.samples])} above {spec.threshold} for "
        f"{spike.samples} sample{'s' if spike.samples > 1 else ''} ({end - first:.0f} s): not a "
        "breach with a 2 min 'for'",
    )


def _offset(metric: str) -> float:
    """The metrics of one sample go out 1 ms apart, in :data:`SPECS` order."""
    return 0.001 * [s.name for s in SPECS].index(metric)


def _emit(
    plan: Plan, events: EventLog, node: str, times: list[float], series: dict[str, list[float]],
    alerts: list[tuple[float, str, MetricSpec, float]],
) -> None:
    """One ``metric_update`` per metric per sample while ``node`` is heard; collect the rises of
    status that raise an alert."""
    status = dict.fromkeys(series, "ok")
    for k, t in enumerate(times):
        if not plan.reporting(node, t):
            continue
        for j, spec in enumerate(SPECS):
            value = series[spec.name][k]
            now = spec.status(value)
            events.add(t + 0.001 * j, MON, "metric_update", {
                "node_id": node, "metric": spec.name, "value": value,
                "threshold": spec.threshold, "status": now,
            })
            if _RANK[now] > _RANK[status[spec.name]]:
                alerts.append((t + 0.001 * j + 0.004, node, spec, value))
            status[spec.name] = now


def _alerts(events: EventLog, alerts: list[tuple[float, str, MetricSpec, float]]) -> None:
    for number, (t, node, spec, value) in enumerate(alerts, 1):
        status = spec.status(value)
        events.add(t, MON, "alert_raised", {
            "alert_id": f"alert_{number:04d}", "node_id": node, "metric": spec.name,
            "value": value, "threshold": spec.threshold, "severity": _ALERT_SEVERITY[status],
            "message": f"{spec.name} is {value} on {node}, above {spec.threshold} ({status})",
        })


_COMPONENTS: Final = (
    ("consensus", "commit_latency_ms", 350.0),
    ("p2p_gossip", "propagation_ms", 120.0),
    ("inference_engine", "response_time_ms", 180.0),
    ("storage", "write_latency_ms", 12.0),
)


def _degraded(
    events: EventLog, t: float, node: str, component: tuple[str, str, float], factor: float
) -> None:
    name, metric, baseline = component
    events.add(t, MON, "performance_degradation", {
        "node_id": node, "component": name, "metric": metric,
        "value": round(baseline * factor, 1), "baseline": baseline,
    })


def _degradations(rng: random.Random, plan: Plan, events: EventLog) -> None:
    """Now and then a component slows down somewhere; consensus slows after the view change
    and during the partition."""
    t = rng.uniform(60.0, 300.0)
    while t < plan.duration:
        node = rng.choice([n for n in plan.nodes if plan.reporting(n, t)])
        _degraded(events, t, node, rng.choice(_COMPONENTS), rng.uniform(1.6, 3.0))
        t += rng.expovariate(1 / 480.0)
    consensus_slows(rng, plan, events)


def consensus_slows(rng: random.Random, plan: Plan, events: EventLog) -> None:
    """Consensus slows down on the new primary after the view change, and on the node that
    detects the partition (those of them the plan holds)."""
    leader, part = plan.leader, plan.partition
    if leader is not None:
        _degraded(events, leader.view_change + rng.uniform(3.0, 8.0), leader.new_leader,
                  _COMPONENTS[0], rng.uniform(8.0, 14.0))
    if part is not None:
        _degraded(events, part.detected_at + rng.uniform(5.0, 15.0), part.detected_by,
                  _COMPONENTS[0], rng.uniform(6.0, 10.0))


def _exhausted(
    events: EventLog, t: float, node: str, resource: str, value: float, limit: float
) -> None:
    events.add(t, MON, "resource_exhausted",
               {"node_id": node, "resource": resource, "value": value, "limit": limit})


def _exhaustions(rng: random.Random, plan: Plan, events: EventLog) -> None:
    """Connection slots run out on two nodes at the height of the DDoS (if any); once,
    somewhere, file descriptors do."""
    if plan.ddos is not None:
        start, length = plan.ddos
        peak = start + 0.4 * length
        for node in rng.sample([n for n in plan.nodes if plan.reporting(n, peak)], 2):
            _exhausted(events, peak + rng.uniform(0.0, 5.0), node, "connection_slots", 4096.0,
                       4096.0)
    t = rng.uniform(0.05, 0.95) * plan.duration
    node = rng.choice([n for n in plan.nodes if plan.reporting(n, t)])
    _exhausted(events, t, node, "file_descriptors", 65536.0, 65536.0)
