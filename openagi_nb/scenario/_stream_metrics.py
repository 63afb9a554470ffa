"""The monitoring channel of the windowed generator, vectorised over nodes and metrics.

The same model as :mod:`._metrics` (a mean-reverting walk per node and metric around a level of
its own, kept under 93 % of the threshold; the planned breach and spikes written over it; an
alert on every rise of status), computed with numpy one window at a time: the walk's state
(the last value of each node and metric, the last status heard, where the breach and the spikes
are) is all that is carried from one window to the next. Over days the level drifts by what a
classic scenario drifts in its hour (so disk still creeps up, and stays under its threshold).

A node's sample ``k`` is at ``phase + 10 k + jitter``; its noise and jitter come from the block
of ticks ``k // TICKS`` (:func:`._fast.np_rng`), so a window of any length sees the same values.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import pyarrow as pa

from ..model import Channel
from ._fast import BLOCK, FastPlan, block_rng, np_rng
from ._metrics import (
    _ALERT_SEVERITY,
    _CEILING,
    _COMPONENTS,
    BREACH_METRIC,
    SAMPLE_EVERY,
    SPEC,
    SPECS,
    _offset,
)
from ._plan import EventLog, Incident
from ._tables import Sparse, table_of

__all__ = ["DENSE", "Metrics", "Sparse"]

MON: Final = Channel.MONITORING
TICKS: Final = int(BLOCK // SAMPLE_EVERY)
M: Final = len(SPECS)
DENSE: Final = 1
"""Tie rank of ``metric_update`` rows (see ``_stream``); alerts and breach events come next."""
_ALERTS: Final = 2
_BREACH: Final = 3
_NAMES: Final = pa.array([s.name for s in SPECS], pa.large_string())
_STATUS: Final = ("ok", "warning", "critical")



@dataclass
class _Breach:
    index: int
    peak: float
    critical: bool = False
    above: list[tuple[float, float]] = field(default_factory=list)


@dataclass
class _Spike:
    index: int
    metric: int
    at: float
    samples: int
    rng: random.Random
    left: int = -1
    hits: list[tuple[float, float]] = field(default_factory=list)


class Metrics:
    """Draws ``metric_update`` rows and the alerts and breach events, one window at a time."""

    def __init__(self, plan: FastPlan, events: EventLog) -> None:
        self.plan, self.events = plan, events
        n = len(plan.nodes)
        rng = np_rng(plan.seed, "metrics:nodes")
        self.phase = rng.uniform(0.0, SAMPLE_EVERY, n)
        self.count = ((plan.duration - self.phase) // SAMPLE_EVERY).astype(np.int64)
        self.level = np.stack([rng.uniform(*s.level, n) for s in SPECS], axis=1)
        self.trend = np.stack([rng.uniform(*s.trend, n) for s in SPECS], axis=1)
        self.log = np.array([s.log for s in SPECS])
        self.revert = np.array([s.revert for s in SPECS])
        self.noise = np.array([s.noise for s in SPECS])
        self.ceiling = np.array([s.threshold * _CEILING for s in SPECS])
        self.floor = np.array([s.floor for s in SPECS])
        self.threshold = np.array([s.threshold for s in SPECS])
        self.critical = np.array([s.critical for s in SPECS])
        self.x = np.where(self.log, np.log(self.level), self.level)
        self.status = np.zeros((n, M), np.int8)
        self.next = np.zeros(n, np.int64)
        self.names = pa.array(plan.nodes, pa.large_string())
        self._blocks: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        index = {node: i for i, node in enumerate(plan.nodes)}
        shape = block_rng(plan.seed, "metrics:shape", 0)
        self.breach = None if plan.breach is None else _Breach(
            index[plan.breach[0]], SPEC[BREACH_METRIC].critical + shape.uniform(1.2, 2.2))
        names = [s.name for s in SPECS]
        self.spikes = [_Spike(index[s.node], names.index(s.metric), s.at, s.samples,
                              block_rng(plan.seed, "metrics:spike", k))
                       for k, s in enumerate(plan.spikes)]
        self.alerts = 0
        self._noise: tuple[int, np.ndarray] = (-1, np.empty(0))

    def _block(self, b: int) -> tuple[np.ndarray, np.ndarray]:
        """Noise ``(TICKS, nodes, M)`` and jitter ``(TICKS, nodes)`` of tick block ``b``."""
        if b not in self._blocks:
            rng = np_rng(self.plan.seed, "metrics", b)
            n = len(self.plan.nodes)
            self._blocks = {k: v for k, v in self._blocks.items() if k >= b - 1}
            self._blocks[b] = (rng.standard_normal((TICKS, n, M)),
                               rng.uniform(-0.15, 0.15, (TICKS, n)))
        return self._blocks[b]

    def _draws(self, k0: int, k1: int) -> tuple[np.ndarray, np.ndarray]:
        parts = [self._block(b) for b in range(k0 // TICKS, (k1 - 1) // TICKS + 1)]
        lo = k0 - (k0 // TICKS) * TICKS
        noise = np.concatenate([p[0] for p in parts])[lo:lo + k1 - k0]
        jitter = np.concatenate([p[1] for p in parts])[lo:lo + k1 - k0]
        return noise, jitter

    def window(self, w0: float, w1: float, sparse: list[Sparse]) -> tuple[pa.Table, np.ndarray,
                                                                          np.ndarray]:
        """The ``metric_update`` rows of the samples at ``[w0, w1)`` (scenario seconds) as
        ``(table, ns, tie)``; alerts and breach events go to ``sparse``."""
        plan, n = self.plan, len(self.plan.nodes)
        k0 = int(self.next.min())
        k1 = int(min(self.count.max(), math.ceil((w1 + 0.2) / SAMPLE_EVERY) + 1))
        if k1 <= k0:
            return _empty()
        ks = np.arange(k0, k1)
        noise, jitter = self._draws(k0, k1)
        times = self.phase[None, :] + SAMPLE_EVERY * ks[:, None] + jitter
        included = (ks[:, None] >= self.next[None, :]) & (times < w1) & (
            ks[:, None] < self.count[None, :])
        self.next += included.sum(axis=0)
        xs = np.empty((len(ks), n, M))
        x, step = self.x, self.noise[None, :] * noise
        drift = self.trend / plan.duration * 3600.0  # a classic hour's drift over the whole run
        for k in range(len(ks)):
            mean = self.level + drift * (times[k][:, None] / 3600.0)
            target = np.where(self.log, np.log(np.maximum(mean, 1e-9)), mean)
            moved = x + self.revert * (target - x) + step[k]
            x = np.where(included[k][:, None], moved, x)
            xs[k] = x
        self.x = x
        values = np.where(self.log, np.exp(xs), xs)
        values = np.where(values > self.ceiling, 2 * self.ceiling - values, values)
        values = np.maximum(self.floor, values)
        for j, spec in enumerate(SPECS):
            values[:, :, j] = np.round(values[:, :, j], spec.digits)
        self._shape(ks, times, included, values, sparse)
        heard = included.copy()
        for i in plan.quiet:
            node = plan.nodes[i]
            for row in np.flatnonzero(included[:, i]):
                heard[row, i] = plan.reporting(node, float(times[row, i]))
        status = ((values > self.threshold).astype(np.int8)
                  + (values >= self.critical).astype(np.int8))
        self._alerts(ks, times, heard, values, status, sparse)
        return self._rows(ks, times, heard, values, status)

    def _rows(self, ks: np.ndarray, times: np.ndarray, heard: np.ndarray, values: np.ndarray,
              status: np.ndarray) -> tuple[pa.Table, np.ndarray, np.ndarray]:
        n = len(self.plan.nodes)
        kk, ii = np.nonzero(heard)  # in (tick, node) order
        rows = len(kk) * M
        jj = np.tile(np.arange(M), len(kk))
        kk, ii = np.repeat(kk, M), np.repeat(ii, M)
        t = times[kk, ii] + 0.001 * jj
        ns = self.events.t0_ns + np.round(t * 1000).astype(np.int64) * 1_000_000
        tie = (np.int64(DENSE) << 56) | ((ks[kk] * n + ii) * 8 + jj)
        event = np.zeros(rows, np.int8)  # metric_update is the first event of the channel
        table = table_of(MON, {
            "timestamp": ns, "event": event, "node_id": self.names.take(pa.array(ii)),
            "metric": _NAMES.take(pa.array(jj)), "value": values[kk, ii, jj],
            "threshold": self.threshold[jj], "status": status[kk, ii, jj],
        }, rows)
        return table, ns, tie

    def _alerts(self, ks: np.ndarray, times: np.ndarray, heard: np.ndarray, values: np.ndarray,
                status: np.ndarray, sparse: list[Sparse]) -> None:
        """An alert on every rise of status over the last one heard of the node and metric."""
        last, rises = self.status, []
        for k in range(len(ks)):
            h = heard[k][:, None]
            up = h & (status[k] > last)
            if up.any():
                rises += [(float(times[k, i]), k, int(i), int(j)) for i, j in np.argwhere(up)]
            last = np.where(h, status[k], last)
        self.status = last
        n = len(self.plan.nodes)
        for t, k, i, j in sorted(rises):
            self.alerts += 1
            spec, value, node = SPECS[j], float(values[k, i, j]), self.plan.nodes[i]
            level = _STATUS[int(status[k, i, j])]
            at = t + 0.001 * j + 0.004
            sparse.append((t, self.events.ns(at), (_ALERTS << 56) | ((int(ks[k]) * n + i) * 8 + j),
                           MON, "alert_raised", {
                "alert_id": f"alert_{self.alerts:04d}", "node_id": node, "metric": spec.name,
                "value": value, "threshold": spec.threshold, "severity": _ALERT_SEVERITY[level],
                "message": f"{spec.name} is {value} on {node}, above {spec.threshold} ({level})",
            }))

    def _shape(self, ks: np.ndarray, times: np.ndarray, included: np.ndarray,
               values: np.ndarray, sparse: list[Sparse]) -> None:
        """Write the breach and the spikes over the background values."""
        if self.breach is not None and self.plan.breach is not None:
            self._breach(ks, times, included, values, sparse, self.breach, self.plan.breach)
        self._spikes(times, included, values)

    def _breach(self, ks: np.ndarray, times: np.ndarray, included: np.ndarray,
                values: np.ndarray, sparse: list[Sparse], b: _Breach,
                planned: tuple[str, float, float, float]) -> None:
        node, climb, cross, last = planned
        spec = SPEC[BREACH_METRIC]
        j = [s.name for s in SPECS].index(BREACH_METRIC)
        shift = _offset(BREACH_METRIC)
        for k in np.flatnonzero(included[:, b.index]):
            t, tick = float(times[k, b.index]), int(ks[k])
            if not climb <= t <= last:
                continue
            g = float(self._breach_noise(tick))
            v = float(values[k, b.index, j])
            if t < cross:
                level = v + (spec.threshold - 1.0 - v) * (t - climb) / (cross - climb)
                values[k, b.index, j] = round(min(level + 0.3 * g, spec.threshold - 0.2), 2)
                continue
            rise = min(1.0, (t - cross) / (0.6 * (last - cross)))
            low = spec.critical + 0.1 if b.critical else spec.threshold + 0.3
            level = spec.threshold + 1.5 + (b.peak - spec.threshold - 1.5) * rise
            value = round(max(level + 0.3 * g, low), 2)
            values[k, b.index, j] = value
            b.above.append((t, value))
            first = b.above[0][0] + shift
            tie = (_BREACH << 56) | (tick * 8)
            if len(b.above) % 15 == 7:  # every 15th sample from the 7th, as in a classic hour
                factor = 1.5 + 2.5 * (t + shift - first) / max(last + shift - first, 1.0)
                name, metric, baseline = _COMPONENTS[2]
                sparse.append((t, self.events.ns(t + 0.5), tie, MON, "performance_degradation", {
                    "node_id": node, "component": name, "metric": metric,
                    "value": round(baseline * factor, 1), "baseline": baseline}))
            if value >= spec.critical and not b.critical:
                b.critical = True
                sparse.append((t, self.events.ns(t + shift + 0.006), tie | 1, MON,
                               "resource_exhausted", {"node_id": node, "resource": "memory",
                                                      "value": value, "limit": spec.critical}))

    def _spikes(self, times: np.ndarray, included: np.ndarray, values: np.ndarray) -> None:
        for s in self.spikes:
            sspec = SPECS[s.metric]
            top = 99.5 if sspec.name == "cpu_usage" else sspec.threshold * 2.4
            for k in np.flatnonzero(included[:, s.index]):
                t = float(times[k, s.index])
                if s.left < 0 and t >= s.at:
                    s.left = s.samples
                if s.left > 0:
                    value = round(sspec.threshold * 1.05 + (top - sspec.threshold * 1.05)
                                  * s.rng.random(), sspec.digits)
                    values[k, s.index, s.metric] = value
                    s.hits.append((t, value))
                    s.left -= 1

    def _breach_noise(self, tick: int) -> float:
        b = tick // TICKS
        if self._noise[0] != b:
            self._noise = (b, np_rng(self.plan.seed, "metrics:breach", b).standard_normal(TICKS))
        return float(self._noise[1][tick - b * TICKS])

    def incidents(self) -> list[Incident]:
        """The breach and the spikes, as they came out."""
        events, out = self.events, []
        b, spec = self.breach, SPEC[BREACH_METRIC]
        if b is not None and b.above and self.plan.breach is not None:
            shift = _offset(BREACH_METRIC)
            first, end = b.above[0][0] + shift, b.above[-1][0] + shift
            crit = next((t for t, v in b.above if v >= spec.critical), b.above[0][0])
            out.append(Incident(
                "metric_breach", MON.value, events.at(first), events.at(end), self.plan.breach[0],
                f"{BREACH_METRIC} above {spec.threshold} for {(end - first) / 60:.1f} min "
                f"({len(b.above)} samples, peak {max(v for _, v in b.above)}, critical from "
                f"{events.clock(crit + shift)}); alert_raised at start and when critical, "
                "resource_exhausted (memory)"))
        for s, planned in zip(self.spikes, self.plan.spikes, strict=True):
            if not s.hits:
                continue
            sspec = SPECS[s.metric]
            first = s.hits[0][0] + _offset(sspec.name)
            end = s.hits[-1][0] + _offset(sspec.name)
            out.append(Incident(
                "metric_spike", MON.value, events.at(first), events.at(end), planned.node,
                f"{sspec.name} up to {max(v for _, v in s.hits)} above {sspec.threshold} for "
                f"{len(s.hits)} sample{'s' if len(s.hits) > 1 else ''} ({end - first:.0f} s): "
                "not a breach with a 2 min 'for'"))
        return out


def _empty() -> tuple[pa.Table, np.ndarray, np.ndarray]:
    return table_of(MON, {}, 0), np.empty(0, np.int64), np.empty(0, np.int64)

