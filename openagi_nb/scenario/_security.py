"""Security events of a generated scenario: background noise, the DDoS burst, the unblocked
intrusions, the expired certificate.

The background is what an exposed node sees all day: scans, brute force, injection attempts from
a long tail of addresses (a few noisy ones, many seen once), nearly all low or medium and
blocked; only low-severity detections go unblocked. So the things to find stand out: ``ddos``
appears only in the burst, and every unblocked high or critical intrusion is an incident.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from typing import Final

from ..model import Channel
from ._plan import EventLog, Incident, Plan, rng_for

__all__ = ["planned_security", "security_events"]

SEC: Final = Channel.SECURITY
_ATTACKS: Final = (
    # attack_type, weight, severities (equally likely), blocking rule
    ("port_scan", 35, ("low",), "scan_detector"),
    ("brute_force", 25, ("low", "low", "medium"), "fail2ban_ssh"),
    ("sql_injection", 12, ("medium", "medium", "medium", "high"), "waf_sqli"),
    ("xss", 10, ("low", "medium"), "waf_xss"),
    ("path_traversal", 8, ("medium",), "waf_lfi"),
    ("credential_stuffing", 5, ("medium",), "login_rate_limit"),
    ("malformed_handshake", 5, ("low",), "protocol_guard"),
)
_EDGE_RULES: Final = ("ip_reputation", "geo_block", "blocklist")
_SUSPICIOUS: Final = (
    "repeated failed handshakes", "unusual request rate", "probe of admin endpoints",
    "traffic from tor exit node", "login from new geolocation", "slow-read connection pattern",
)
_BREAK_INS: Final = (
    ("sql_injection", "critical"), ("remote_code_execution", "critical"),
    ("privilege_escalation", "high"), ("credential_stuffing", "high"), ("path_traversal", "high"),
)
_FIRST_OCTETS: Final = (23, 31, 45, 61, 77, 89, 91, 103, 109, 141, 159, 176, 185, 193, 212, 217)
MEAN_GAP: Final = 3.2
"""Seconds between background security events, on average."""


def security_events(plan: Plan, events: EventLog) -> list[Incident]:
    """Add every security event to ``events``; return the DDoS, intrusion and certificate
    incidents (those the plan holds)."""
    rng = rng_for(plan.seed, "security")
    pool = _addresses(rng, 160, set())
    _background(rng, plan, events, pool)
    incidents = planned_security(rng, plan, events, set(pool))
    _equivocation(rng, plan, events)
    return incidents


def planned_security(rng: random.Random, plan: Plan, events: EventLog,
                     taken: set[str]) -> list[Incident]:
    """The DDoS, the certificate and the unblocked intrusions the plan holds, in this order
    of draws (the classic and the windowed generators both draw them so)."""
    incidents = []
    if plan.ddos is not None:
        incidents.append(_ddos(rng, plan.ddos, events, taken))
    if plan.certificate is not None:
        incidents.append(_certificate(rng, plan.certificate, events))
    return incidents + _break_ins(rng, plan, events, taken)


def _addresses(rng: random.Random, count: int, taken: set[str]) -> list[str]:
    out: list[str] = []
    while len(out) < count:
        ip = (f"{rng.choice(_FIRST_OCTETS)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}."
              f"{rng.randint(1, 254)}")
        if ip not in taken:
            taken.add(ip)
            out.append(ip)
    return out


def _background(rng: random.Random, plan: Plan, events: EventLog, pool: list[str]) -> None:
    # a long tail: the first addresses are the persistent scanners
    weights = [1.0 / (i + 1) ** 0.9 for i in range(len(pool))]
    attack_weights = [a[1] for a in _ATTACKS]
    t = rng.uniform(0.0, MEAN_GAP)
    while t < plan.duration:
        background_event(rng, events, t, pool, weights, attack_weights)
        t += rng.expovariate(1.0 / MEAN_GAP)


def background_event(rng: random.Random, events: EventLog, t: float, pool: list[str],
                     weights: Sequence[float], attack_weights: Sequence[float]) -> None:
    """One event of the background at ``t``, from ``pool`` (``weights``: its long tail): an
    intrusion (blocked or not), a probe an edge rule blocked, or suspicious activity. The
    classic and the windowed generators both draw it this way, in this order."""
    ip = rng.choices(pool, weights)[0]
    attack, _, severities, rule = rng.choices(_ATTACKS, attack_weights)[0]
    severity = rng.choice(severities)
    roll = rng.random()
    if roll < 0.6:
        blocked = severity != "low" or rng.random() < 0.85
        _intrusion(events, t, attack, ip, severity, blocked)
        if blocked:
            _blocked(events, t + rng.uniform(0.002, 0.04), attack, ip, rule, severity)
    elif roll < 0.75:
        _blocked(events, t, attack, ip, rng.choice(_EDGE_RULES), "low")
    else:
        score = round(rng.uniform(0.1, 0.69), 2)
        _suspicious(events, t, ip, rng.choice(_SUSPICIOUS), score)


def _intrusion(
    events: EventLog, t: float, attack: str, ip: str, severity: str, blocked: bool
) -> None:
    events.add(t, SEC, "intrusion_detected",
               {"attack_type": attack, "source_ip": ip, "blocked": blocked, "severity": severity})


def _blocked(events: EventLog, t: float, attack: str, ip: str, rule: str, severity: str) -> None:
    events.add(t, SEC, "attack_blocked",
               {"attack_type": attack, "source_ip": ip, "rule": rule, "severity": severity})


def _suspicious(events: EventLog, t: float, ip: str, description: str, score: float) -> None:
    severity = ("low" if score < 0.4 else "medium" if score < 0.7 else "high" if score < 0.95
                else "critical")
    events.add(t, SEC, "suspicious_activity",
               {"source_ip": ip, "description": description, "severity": severity, "score": score})


def _ddos(rng: random.Random, ddos: tuple[float, float], events: EventLog,
          taken: set[str]) -> Incident:
    """Hundreds of detections, each blocked, from a handful of addresses in two minutes or so
    (``ddos``: start, length); each address shows a traffic surge shortly before."""
    start, length = ddos
    ips = _addresses(rng, rng.randint(3, 5), taken)
    weights = [rng.uniform(0.5, 2.0) for _ in ips]
    for ip in ips:
        _suspicious(events, start - rng.uniform(20.0, 150.0), ip, "traffic surge from one source",
                    round(rng.uniform(0.8, 0.94), 2))
    times = sorted(start + length * rng.triangular(0.0, 1.0, 0.3) for _ in range(
        rng.randint(330, 430)))
    per_ip: Counter[str] = Counter()
    last = start
    for t in times:
        ip = rng.choices(ips, weights)[0]
        severity = "critical" if rng.random() < 0.15 else "high"
        per_ip[ip] += 1
        _intrusion(events, t, "ddos", ip, severity, True)
        last = max(last, t + rng.uniform(0.001, 0.02))
        _blocked(events, last, "ddos", ip, rng.choice(("ddos_rate_limit", "syn_flood_guard")),
                 severity)
    counts = ", ".join(f"{ip} {per_ip[ip]}" for ip in ips)
    return Incident(
        "ddos_burst", SEC.value, events.at(times[0]), events.at(last), ",".join(ips),
        f"{len(times)} intrusion_detected + {len(times)} attack_blocked, attack_type ddos, "
        f"from {len(ips)} source IPs ({counts}); connection_slots exhausted on 2 nodes",
    )


def _break_ins(rng: random.Random, plan: Plan, events: EventLog, taken: set[str]) -> list[Incident]:
    """High or critical intrusions nothing blocked; the host then calls out to somewhere."""
    incidents = []
    kinds = rng.sample(_BREAK_INS, len(plan.unblocked))
    for t, (attack, severity), ip in zip(
        plan.unblocked, kinds, _addresses(rng, len(kinds), taken), strict=True
    ):
        _intrusion(events, t, attack, ip, severity, False)
        _suspicious(events, t + rng.uniform(20.0, 90.0), ip, "outbound connection to unknown host",
                    round(rng.uniform(0.85, 0.94), 2))
        incidents.append(Incident("unblocked_intrusion", SEC.value, events.at(t), None, ip,
                                  f"{attack}, severity {severity}, blocked false"))
    return incidents


def _certificate(rng: random.Random, certificate: tuple[str, float],
                 events: EventLog) -> Incident:
    node, t = certificate
    expired = t // 60.0 * 60.0
    seen = expired + rng.uniform(3.0, 50.0)
    events.add(seen, SEC, "certificate_expired",
               {"node_id": node, "expired_at": events.stamp(expired), "severity": "high"})
    return Incident("certificate_expired", SEC.value, events.at(seen), None, node,
                    f"node certificate expired at {events.clock(expired)} (expired_at); "
                    "reported at start; not renewed within the capture")


def _equivocation(rng: random.Random, plan: Plan, events: EventLog) -> None:
    """Why the banned node is banned: it voted both ways, seen just before the ban."""
    for leave in plan.leaves:
        if leave.reason == "banned":
            index = plan.nodes.index(leave.node)
            ip = f"10.42.{index // 250}.{index % 250 + 1}"
            _suspicious(events, leave.left_at - rng.uniform(5.0, 20.0), ip,
                        f"equivocation: conflicting prepare votes from {leave.node}", 0.98)
