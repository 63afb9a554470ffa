"""The seeded scenario generator: a realistic hour of a network, with known incidents.

``openagi-nb generate`` calls :func:`write`; tests and notebooks call :func:`generate` to get
the messages and the ground truth (:class:`Incident`) without a file. The same seed always gives
the same messages, byte for byte; another seed gives another hour. Only :func:`write` does I/O.

What the hour holds (``data/README.md``), each part in its own module:

- ``_plan``, ``_placing``, ``_timetable``: the shared timeline (who is online when, when each
  incident happens; which incidents a scenario shorter than 20 minutes has room for);
- ``scenario_metrics``: metric series of every node, alerts, degradations, exhaustion;
- ``scenario_security``: background attacks, the DDoS burst, unblocked intrusions, the
  expired certificate;
- ``scenario_consensus``: PBFT proposals, the leader failure and view change, the stuck proposal,
  the quorum violations;
- ``scenario_network``: joins, leaves, the partition.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from ..capture import CaptureWriter, StrPath
from ..model import (
    CATALOGUE,
    CHANNEL_OF_TYPE,
    CHANNELS,
    DataMessage,
    data_message,
    encode,
    format_timestamp,
)
from ._consensus import consensus_events
from ._metrics import SPECS, metric_events
from ._network import network_events
from ._placing import make_plan
from ._plan import MIN_NODES, EventLog, Incident
from ._security import security_events
from ._timetable import MIN_DURATION, Planned

__all__ = [
    "DEFAULT_START", "MIN_DURATION", "MIN_NODES", "Incident", "Scenario", "counts_markdown",
    "generate", "incidents_markdown", "metrics_markdown", "write",
]

DEFAULT_START: Final = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
PROGRESS_EVERY: Final = 5000


@dataclass(frozen=True)
class Scenario:
    """A generated scenario: its messages in publishing order (``seq`` 1..N) and the incidents
    hidden in them, sorted by start; ``placed``: the planned incidents it holds (all of them
    from 20 minutes, see :func:`~._timetable.placed`)."""

    seed: int
    start: datetime
    duration: float
    nodes: tuple[str, ...]
    messages: list[DataMessage]
    incidents: list[Incident]
    placed: tuple[Planned, ...] = ()

    def counts(self) -> dict[str, Counter[str]]:
        """Messages per channel and event: ``{"monitoring_events": Counter(...)}``."""
        out: dict[str, Counter[str]] = {c.value: Counter() for c in CHANNELS}
        for message in self.messages:
            out[CHANNEL_OF_TYPE[message["type"]].value][message["event"]] += 1
        return out


def generate(
    *, seed: int = 7, duration: float = 3600.0, nodes: int = 25, start: datetime = DEFAULT_START
) -> Scenario:
    """Generate ``duration`` seconds of ``nodes`` nodes from ``start``, all drawn from ``seed``.

    A scenario under 20 minutes holds the incidents that fit in it (``data/README.md`` lists
    which, from which duration: :func:`~._timetable.durations_markdown`); the others are left
    out, never squeezed.

    Raises:
        ScenarioError: fewer than :data:`MIN_NODES` nodes or under :data:`MIN_DURATION`
            seconds (a minute).
    """
    plan = make_plan(seed, duration, nodes)
    events = EventLog(start)
    incidents = [
        *network_events(plan, events), *metric_events(plan, events), *security_events(plan, events),
        *consensus_events(plan, events),
    ]
    messages = [
        data_message(channel, event, data, format_timestamp(ns), seq)
        for seq, (ns, _, channel, event, data) in enumerate(events.ordered(), 1)
    ]
    incidents.sort(key=lambda i: (i.start, i.kind, i.subject))
    return Scenario(seed, events.at(0.0), duration, plan.nodes, messages, incidents,
                    plan.placed)


def write(
    path: StrPath, *, seed: int = 7, duration: float = 3600.0, nodes: int = 25,
    progress: Callable[[int], None] | None = None,
) -> Scenario:
    """Generate a scenario (see :func:`generate`) and write it as a capture at ``path``.

    ``.gz`` paths are gzip, with the same bytes for the same seed. ``progress`` is called with
    the number of messages written so far every :data:`PROGRESS_EVERY` and at the end.

    Raises:
        ScenarioError: as :func:`generate`.
        CaptureError: ``path`` cannot be written.
    """
    scenario = generate(seed=seed, duration=duration, nodes=nodes)
    # no timed flushes: they would make the compressed bytes depend on the wall clock
    with CaptureWriter(path, flush_every=None) as writer:
        for done, message in enumerate(scenario.messages, 1):
            writer.write(encode(message))
            if progress is not None and done % PROGRESS_EVERY == 0:
                progress(done)
    if progress is not None:
        progress(len(scenario.messages))
    return scenario


def incidents_markdown(scenario: Scenario) -> str:
    """The ground truth as a Markdown table (what ``data/README.md`` shows)."""
    lines = [
        "| # | kind | channel | start (UTC) | end (UTC) | at | subject | detail |",
        "|---:|---|---|---|---|---|---|---|",
    ]
    for number, i in enumerate(scenario.incidents, 1):
        offset = (i.start - scenario.start).total_seconds()
        lines.append(
            f"| {number} | {i.kind} | {i.channel} | {_iso(i.start)} | "
            f"{_iso(i.end) if i.end else ''} | +{int(offset // 60):02d}:{offset % 60:06.3f} | "
            f"{i.subject} | {i.detail} |"
        )
    return "\n".join(lines) + "\n"


def counts_markdown(scenario: Scenario) -> str:
    """Messages per channel and event as a Markdown table, in catalogue order."""
    counts = scenario.counts()
    lines = ["| channel | event | messages |", "|---|---|---:|"]
    for channel in CHANNELS:
        lines += [f"| {channel.value} | {event} | {counts[channel.value][event]:,} |"
                  for event in CATALOGUE[channel]]
        lines.append(f"| **{channel.value}** | all | **{counts[channel.value].total():,}** |")
    lines.append(f"| **all** | | **{len(scenario.messages):,}** |")
    return "\n".join(lines) + "\n"


def metrics_markdown() -> str:
    """The metrics every node reports, with their thresholds, as a Markdown table."""
    lines = ["| metric | threshold (warning above) | critical at or above |", "|---|---:|---:|"]
    lines += [f"| {s.name} | {s.threshold} | {s.critical} |" for s in SPECS]
    return "\n".join(lines) + "\n"


def _iso(value: datetime) -> str:
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")
