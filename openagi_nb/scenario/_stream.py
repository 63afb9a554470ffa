"""The windowed generator: a scenario of any length and size, one time window at a time.

:func:`windows` yields the scenario as :class:`Window` s (by default an hour each, on the hours
of the clock: the Parquet dataset's periods), each holding only its own events as one Arrow
table per channel; what is carried from one window to the next is small (each node's last
metric values and statuses, the state of the breach and spikes, the next proposal number, a few
events that fall just past the window's end). The plan (:func:`~._plan.make_plan`: who is
online when, when each incident happens) is drawn up front: it is O(nodes + incidents).

Two engines make the windows:

- ``"classic"``: :func:`~._generate.generate` (the whole scenario in memory) cut into windows:
  byte for byte the scenarios earlier versions wrote, the bundled sample among them;
- ``"stream"``: the same model drawn window by window (``metric_update`` rows vectorised with
  numpy, straight into Arrow columns; the sparse channels event by event, by the classic code),
  from random streams keyed by seed, part and *block* (an hour of scenario time): so the data
  are the same whatever the window length and whatever the output.

``"auto"`` picks ``classic`` up to :data:`CLASSIC_LIMIT` node-seconds (100 node-hours) and
``stream`` above. Each engine is deterministic: the same seed and size give the same data, as
JSONL or as Parquet. Both order the events by time (ties by a key of their own, never by the
window) and number them ``seq`` 1..N over the whole scenario. No I/O here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

import numpy as np
import pyarrow as pa

from ..exceptions import ScenarioError
from ..model import CHANNELS, Channel, flatten
from ._consensus import MEAN_GAP as PROPOSAL_GAP
from ._consensus import _propose, _Run, _run, consensus_incidents, view_change
from ._fast import BLOCK, FastPlan, block_rng, fast
from ._metrics import _COMPONENTS, _degraded, _exhaustions, consensus_slows
from ._network import network_events
from ._placing import make_plan
from ._plan import EventLog, Incident, rng_for
from ._security import (
    _ATTACKS,
    MEAN_GAP,
    _addresses,
    _equivocation,
    background_event,
    planned_security,
)
from ._stream_metrics import Metrics
from ._tables import Sparse, concat, rows_table, schema, sparse_table
from ._timetable import Planned

__all__ = ["CLASSIC_LIMIT", "ENGINES", "Engine", "Generation", "Window", "engine_for"]

Engine = Literal["auto", "classic", "stream"]
ENGINES: Final = ("auto", "classic", "stream")
CLASSIC_LIMIT: Final = 100 * 3600.0
"""Node-seconds up to which ``"auto"`` generates the classic way (in memory)."""
_PLANNED, _DEGRADATIONS, _SECURITY, _CONSENSUS = 0, 4, 5, 6
"""Tie ranks of the sparse sources (``_stream_metrics`` has 1 to 3)."""


def engine_for(engine: Engine, nodes: int, duration: float) -> Literal["classic", "stream"]:
    """The engine ``engine`` stands for at this size.

    Raises:
        ScenarioError: an unknown engine.
    """
    if engine == "auto":
        return "classic" if nodes * duration <= CLASSIC_LIMIT else "stream"
    if engine in ("classic", "stream"):
        return engine
    raise ScenarioError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")


@dataclass(frozen=True)
class Window:
    """The events of ``[start, end)``: one table per channel (the dataset's schema), in time
    order, ``seq`` numbering them over the whole scenario."""

    start: datetime
    end: datetime
    tables: dict[Channel, pa.Table]

    @property
    def events(self) -> int:
        """How many events the window holds."""
        return sum(t.num_rows for t in self.tables.values())


class Generation:
    """A scenario to generate window by window: :meth:`windows` yields them; :attr:`incidents`
    and :attr:`counts` fill in as they go (complete once the windows are exhausted).
    :attr:`placed` is known at once: the planned incidents the scenario holds (all of them
    from 20 minutes; under that, those that fit, see :func:`~._timetable.placed`).

    Raises:
        ScenarioError: too small a scenario (see :func:`~._plan.make_plan`), a window under a
            second, an unknown engine.
    """

    def __init__(self, *, seed: int, duration: float, nodes: int, start: datetime,
                 window: float = 3600.0, engine: Engine = "auto") -> None:
        if not window >= 1.0:
            raise ScenarioError(f"window must be at least 1 s, got {window}")
        self.engine = engine_for(engine, nodes, duration)
        self.plan = make_plan(seed, duration, nodes)
        self.placed: tuple[Planned, ...] = self.plan.placed
        self.seed, self.duration, self.window = seed, duration, window
        self.start = EventLog(start).at(0.0)
        self.nodes = self.plan.nodes
        self.incidents: list[Incident] = []
        self.counts: dict[str, Counter[str]] = {c.value: Counter() for c in CHANNELS}

    @property
    def events(self) -> int:
        """Events generated so far."""
        return sum(c.total() for c in self.counts.values())

    def windows(self) -> Iterator[Window]:
        """The scenario's windows, in time order (once: a second call starts over)."""
        source = (_classic(self) if self.engine == "classic"
                  else _Stream(self, fast(self.plan)).windows())
        self.counts = {c.value: Counter() for c in CHANNELS}
        for w in source:
            for channel, table in w.tables.items():
                if table.num_rows:
                    self.counts[channel.value].update(table.column("event").to_pylist())
            yield w


def _bounds(start_ns: int, end_ns: int, window: float) -> Iterator[tuple[int, int]]:
    """Windows ``[a, b)`` in ns covering ``[start_ns, end_ns]``, on multiples of ``window``
    since the epoch (hour windows are the clock's hours)."""
    step = round(window * 1e9)
    a = start_ns
    while a <= end_ns:
        b = (a // step + 1) * step
        yield a, b
        a = b


# --- classic ----------------------------------------------------------------------------------


def _classic(run: Generation) -> Iterator[Window]:
    from ._generate import generate

    scenario = generate(seed=run.seed, duration=run.duration, nodes=len(run.nodes),
                        start=run.start)
    run.incidents = list(scenario.incidents)
    rows = [flatten(dict(m)) for m in scenario.messages]
    stamps = np.array([row[1] for _, row in rows], np.int64)
    start_ns = int(stamps[0]) if len(stamps) else 0
    k = 0
    for a, b in _bounds(min(start_ns, _ns(run.start)), int(stamps[-1]) if len(stamps) else 0,
                        run.window):
        upto = int(np.searchsorted(stamps, b))
        part = rows[k:upto]
        k = upto
        tables = {c: rows_table(c, [row for ch, row in part if ch is c]) for c in CHANNELS}
        yield Window(_dt(a), _dt(b), tables)


def _ns(value: datetime) -> int:
    return EventLog(value).t0_ns


def _dt(ns: int) -> datetime:
    return EventLog(datetime(1970, 1, 1)).at(0.0) + timedelta(microseconds=ns // 1000)


# --- stream -----------------------------------------------------------------------------------


class _Stream:
    def __init__(self, run: Generation, plan: FastPlan) -> None:
        self.run, self.plan, self.window = run, plan, run.window
        self.events = EventLog(run.start)
        self.metrics = Metrics(plan, self.events)
        self.pending: dict[Channel, tuple[pa.Table, np.ndarray, np.ndarray]] = {}
        self.seq = 0
        self.blocks: dict[tuple[int, int], list[Sparse]] = {}
        self.proposals = 0
        self.consensus = _Run()
        self.first_round = rng_for(plan.seed, "consensus").randint(1000, 4000)
        security = rng_for(plan.seed, "security")
        self.pool = _addresses(security, 160, set())
        self.weights = [1.0 / (i + 1) ** 0.9 for i in range(len(self.pool))]
        self.planned, incidents = self._planned()
        run.incidents = incidents

    def _planned(self) -> tuple[list[Sparse], list[Incident]]:
        """Every event drawn up front (joins and leaves, the partition, the DDoS, intrusions,
        the certificate, view change, exhaustions), by time."""
        plan, log = self.plan, EventLog(self.run.start)
        incidents = network_events(plan, log)
        rng = rng_for(plan.seed, "security:planned")
        incidents += planned_security(rng, plan, log, set(self.pool))
        _equivocation(rng, plan, log)
        view_change(plan, log)
        rng = rng_for(plan.seed, "metrics:planned")
        consensus_slows(rng, plan, log)
        _exhaustions(rng, plan, log)
        rows = [(0.0, ns, (_PLANNED << 56) | i, ch, ev, data)
                for ns, i, ch, ev, data in log.ordered()]
        return rows, incidents

    def windows(self) -> Iterator[Window]:
        start_ns = self.events.t0_ns
        end_ns = self.events.ns(self.plan.duration) - 1
        bounds = list(_bounds(start_ns, end_ns, self.window))
        pool = pa.default_memory_pool()
        for number, (a, b) in enumerate(bounds):
            last = number == len(bounds) - 1
            yield self._window(a, b, last)
            pool.release_unused()  # what the window's tables held goes back to the system
        self.run.incidents = sorted(
            [*self.run.incidents, *self.metrics.incidents(), *self._consensus_incidents()],
            key=lambda i: (i.start, i.kind, i.subject))

    def _window(self, a: int, b: int, last: bool) -> Window:
        t0 = self.events.t0_ns
        w0, w1 = (a - t0) / 1e9, (b - t0) / 1e9
        sparse: list[Sparse] = [row for row in self.planned if a <= row[1] < b or (
            last and row[1] >= b)]
        dense = self.metrics.window(w0, w1, sparse)
        for rank, make in ((_DEGRADATIONS, self._degradations), (_SECURITY, self._security),
                           (_CONSENSUS, self._consensus)):
            for block in range(max(0, int(w0 // BLOCK)), int(max(w0, w1 - 1e-9) // BLOCK) + 1):
                if (rank, block) not in self.blocks:
                    if block * BLOCK >= self.plan.duration:
                        continue
                    self.blocks = {k: v for k, v in self.blocks.items()
                                   if k[0] != rank or k[1] >= block - 1}
                    self.blocks[(rank, block)] = make(block, rank)
                sparse += [row for row in self.blocks[(rank, block)] if w0 <= row[0] < w1]
        return self._assemble(a, b, last, sparse, dense)

    def _assemble(self, a: int, b: int, last: bool, sparse: list[Sparse],
                  dense: tuple[pa.Table, np.ndarray, np.ndarray]) -> Window:
        parts: dict[Channel, list[tuple[pa.Table, np.ndarray, np.ndarray]]] = {
            c: [self.pending[c]] if c in self.pending else [] for c in CHANNELS}
        parts[Channel.MONITORING].append(dense)
        by_channel: dict[Channel, list[Sparse]] = {c: [] for c in CHANNELS}
        for row in sparse:
            by_channel[row[3]].append(row)
        for channel, rows in by_channel.items():
            if rows:
                parts[channel].append(sparse_table(channel, rows))
        now: dict[Channel, tuple[pa.Table, np.ndarray, np.ndarray, np.ndarray | None]] = {}
        self.pending = {}
        for channel in CHANNELS:
            table = concat(channel, [p[0] for p in parts[channel]])
            ns = np.concatenate([p[1] for p in parts[channel]] or [np.empty(0, np.int64)])
            tie = np.concatenate([p[2] for p in parts[channel]] or [np.empty(0, np.int64)])
            keep = np.ones(len(ns), bool) if last else ns < b
            kept = None
            if not keep.all():
                later = np.flatnonzero(~keep)
                self.pending[channel] = (table.take(later), ns[later], tie[later])
                kept = np.flatnonzero(keep)
                ns, tie = ns[kept], tie[kept]
            now[channel] = (table, ns, tie, kept)
        return Window(_dt(a), _dt(b), self._numbered(now))

    def _numbered(self, now: dict[Channel, tuple[pa.Table, np.ndarray, np.ndarray,
                                                 np.ndarray | None]]) -> dict[Channel, pa.Table]:
        """Each channel's kept rows in time order (one ``take``: the window's big table is
        copied once), ``seq`` numbering all channels' events."""
        ns = np.concatenate([now[c][1] for c in CHANNELS])
        tie = np.concatenate([now[c][2] for c in CHANNELS])
        seq = np.empty(len(ns), np.int64)
        seq[np.lexsort((tie, ns))] = np.arange(self.seq + 1, self.seq + len(ns) + 1)
        self.seq += len(ns)
        out, k = {}, 0
        for channel in CHANNELS:
            table, n, kept = now[channel][0], len(now[channel][1]), now[channel][3]
            mine = seq[k:k + n]
            k += n
            order = np.argsort(mine, kind="stable")
            table = table.take(order if kept is None else kept[order])
            out[channel] = table.set_column(0, schema(channel).field(0), pa.array(mine[order]))
        return out

    # --- the sparse sources, block by block ---------------------------------------------------

    def _degradations(self, block: int, rank: int) -> list[Sparse]:
        """Now and then a component slows down somewhere (about every 8 min)."""
        plan, rng, log = self.plan, block_rng(self.plan.seed, "degradations", block), self._log()
        lo, hi = block * BLOCK, min((block + 1) * BLOCK, plan.duration)
        t = lo + rng.expovariate(1 / 480.0)
        marks = []
        while t < hi:
            node = rng.choice([n for n in plan.nodes if plan.reporting(n, t)])
            _degraded(log, t, node, rng.choice(_COMPONENTS), rng.uniform(1.6, 3.0))
            marks.append(t)
            t += rng.expovariate(1 / 480.0)
        return self._sparse(log, marks, rank, block)

    def _security(self, block: int, rank: int) -> list[Sparse]:
        """The background of scans and attacks (an event every 3.2 s or so)."""
        plan, rng, log = self.plan, block_rng(self.plan.seed, "security", block), self._log()
        attack_weights = [a[1] for a in _ATTACKS]
        lo, hi = block * BLOCK, min((block + 1) * BLOCK, plan.duration)
        t = lo + rng.expovariate(1.0 / MEAN_GAP)
        marks = []
        while t < hi:
            before = len(log.rows)
            background_event(rng, log, t, self.pool, self.weights, attack_weights)
            marks += [t] * (len(log.rows) - before)  # one mark per message added
            t += rng.expovariate(1.0 / MEAN_GAP)
        return self._sparse(log, marks, rank, block)

    def _consensus(self, block: int, rank: int) -> list[Sparse]:
        """The proposals submitted in ``block``, each through its phases (its events may fall
        in a later window)."""
        plan, rng, log = self.plan, block_rng(self.plan.seed, "consensus", block), self._log()
        lo, hi = block * BLOCK, min((block + 1) * BLOCK, plan.duration)
        times = [t for t in plan.proposals() if lo <= t < hi]
        t = lo + (rng.uniform(2.0, 20.0) if block == 0 else rng.uniform(0.0, PROPOSAL_GAP))
        while t < min(hi, plan.duration - 20.0):
            times.append(t)
            t += max(3.0, rng.expovariate(1.0 / PROPOSAL_GAP))
        marks: list[float] = []
        for t in sorted(times):
            self.proposals += 1
            proposal = _propose(rng, plan, t, self.proposals, self.first_round + self.proposals)
            if t == plan.stuck:
                proposal.stuck = True
                proposal.decision["value"] = -round(rng.uniform(1.0, 100.0), 2)
            before = len(log.rows)
            _run(rng, plan, log, proposal, self.consensus)
            marks += [t] * (len(log.rows) - before)
        return self._sparse(log, marks, rank, block)

    def _consensus_incidents(self) -> list[Incident]:
        return consensus_incidents(self.plan, self.events, self.consensus)

    def _log(self) -> EventLog:
        return EventLog(self.run.start)

    @staticmethod
    def _sparse(log: EventLog, marks: list[float], rank: int, block: int) -> list[Sparse]:
        """``log``'s rows (in the order added) with their primary times."""
        return [(mark, ns, (rank << 56) | (block << 24) | i, ch, ev, data)
                for mark, (ns, i, ch, ev, data) in zip(marks, log.rows, strict=True)]
