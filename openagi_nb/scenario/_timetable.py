"""Which incidents a scenario of a given length holds, and where: the placement rule, as data.

The planned incidents (:data:`PLANNED`) run in *lanes*, side by side. The incidents of one lane
touch the same things (consensus and membership; the security channel; ...), so they come one
after the other, each in its *slot*: the time it takes with what leads to it and what it sets
off. After the slot comes its *tail*, the time the capture must go on for the incident to show
as what it is: a proposal is stuck only once a minute has gone by without it moving (what
``analysis.incidents`` waits), a breach is over only once a sample has cleared it, a partition
has healed only once its nodes are heard again. The next slot of the lane may use the tail.

In each lane the slots come in a fixed order (the cheapest and most telling first), so each
planned incident has a fixed offset, and a scenario of ``duration`` seconds holds exactly the
incidents whose offset + slot + tail fits in it (:attr:`Planned.shortest`). Nothing is ever
squeezed to fit: an incident that does not fit is left out, and a longer scenario never holds
fewer incidents than a shorter one. What room is left in a lane is shared evenly before,
between and after its slots (:func:`starts`).

From :data:`SPREAD_FROM` (20 minutes) on the hour's plan takes over (``_plan``): every incident,
at fractions of the duration, as in the bundled capture. No part of the rule depends on the
seed or on the number of nodes. Pure data and arithmetic.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

__all__ = [
    "LANES", "MIN_DURATION", "PLANNED", "SPREAD_FROM", "Planned", "durations_markdown", "placed",
    "shortest_durations", "starts",
]

MIN_DURATION: Final = 60.0
"""The shortest scenario (seconds) the generator makes: a minute."""
SPREAD_FROM: Final = 1200.0
"""From this duration (seconds) every incident is placed at fractions of the duration (the
hour's plan); shorter scenarios follow the timetable of :data:`PLANNED`."""


@dataclass(frozen=True)
class Planned:
    """One incident the planner places in any scenario long enough for it.

    ``kinds`` are the kinds of the ground truth (:class:`~._plan.Incident`) it yields: one
    incident of each, except that a partition yields a ``quorum_violation`` for each proposal
    it holds up (at least one). ``offset``, ``length`` and ``tail`` (seconds) place its slot in
    its ``lane`` (see the module).
    """

    name: str
    kinds: tuple[str, ...]
    lane: str
    offset: float
    length: float
    tail: float

    @property
    def shortest(self) -> float:
        """The shortest duration (seconds) of a scenario that holds this incident."""
        return max(MIN_DURATION, self.offset + self.length + self.tail)


_Entry = tuple[str, tuple[str, ...], float, float]
"""name, kinds, slot length, tail (seconds)."""
_SPIKES: Final[tuple[_Entry, ...]] = tuple(
    # a spike at a sample within 5 s of the slot's start, of 1 or 2 samples (10 s apart): the
    # samples it needs are only sure to be there up to 20 s before the end
    (f"spike {k}", ("metric_spike",), 30.0, 20.0) for k in range(1, 5))
_INTRUSIONS: Final[tuple[_Entry, ...]] = tuple(
    # the intrusion, then "outbound connection to unknown host" 20 to 90 s later
    (f"intrusion {k}", ("unblocked_intrusion",), 100.0, 0.0) for k in range(1, 4))
_LANES: Final[tuple[tuple[str, tuple[_Entry, ...]], ...]] = (
    ("spikes", _SPIKES),
    # a climb of 60-75 s, 150-170 s above the threshold, then a sample that clears it
    ("breach", (("breach", ("metric_breach",), 260.0, 40.0),)),
    # the "traffic surge" up to 150 s before, a burst of 100-140 s
    ("ddos", (("ddos", ("ddos_burst",), 300.0, 0.0),)),
    # reported 3-50 s after the whole minute at which it expired
    ("security", (("certificate", ("certificate_expired",), 60.0, 0.0), *_INTRUSIONS)),
    ("network", (
        # "equivocation" 5-20 s before the ban; the node does not come back
        ("banned node", ("node_left",), 30.0, 0.0),
        # pre_prepare and a failed prepare within 2 s; stuck a minute later, as of an event
        # up to 20 s before the end
        ("stuck proposal", ("stuck_proposal", "quorum_violation"), 10.0, 85.0),
        # cut off for 80-110 s, the held-up proposals done 5 s after it heals; its nodes
        # heard again
        ("partition", ("network_partition", "quorum_violation"), 125.0, 30.0),
        # view change 10-15 s after, node_left 30-40 s after, back 90-115 s after
        ("leader failure", ("leader_failure", "node_left"), 130.0, 0.0),
        # silent, node_left 30-40 s later, back 60-90 s after going silent
        ("timed-out node", ("node_left",), 100.0, 0.0),
        ("graceful leave", ("node_left",), 100.0, 0.0),
    )),
)
LANES: Final = tuple(lane for lane, _ in _LANES)


def _planned() -> Iterator[Planned]:
    for lane, entries in _LANES:
        offset = 0.0
        for name, kinds, length, tail in entries:
            yield Planned(name, kinds, lane, offset, length, tail)
            offset += length


PLANNED: Final = tuple(_planned())
"""Every incident the planner knows, lane by lane, each lane in its order."""


def placed(duration: float) -> tuple[Planned, ...]:
    """The planned incidents a scenario of ``duration`` seconds holds (all from
    :data:`SPREAD_FROM`), in the order of :data:`PLANNED`."""
    return tuple(p for p in PLANNED if p.shortest <= duration)


def starts(duration: float) -> dict[str, float]:
    """Where the slot of each incident :func:`placed` holds begins (seconds), in a scenario
    of ``duration`` under :data:`SPREAD_FROM`: its offset, plus an even share of the room
    its lane leaves before, between and after the slots up to the last one placed."""
    out: dict[str, float] = {}
    for lane in LANES:
        entries = [p for p in PLANNED if p.lane == lane]
        fit = [k for k, p in enumerate(entries) if p.shortest <= duration]
        if not fit:
            continue
        need = max(entries[k].offset + entries[k].length + entries[k].tail for k in fit)
        gap = (duration - need) / (fit[-1] + 2)
        out.update({entries[k].name: entries[k].offset + (k + 1) * gap for k in fit})
    return out


def shortest_durations() -> dict[str, float]:
    """Incident kind -> the shortest duration (seconds) of a scenario holding one of that kind,
    shortest first: what ``data/README.md`` tabulates."""
    out: dict[str, float] = {}
    for p in sorted(PLANNED, key=lambda p: p.shortest):
        for kind in p.kinds:
            out.setdefault(kind, p.shortest)
    return dict(sorted(out.items(), key=lambda item: (item[1], item[0])))


def durations_markdown() -> str:
    """:func:`shortest_durations` as a Markdown table (what ``data/README.md`` shows), with
    the duration from which each planned incident of the kind appears."""
    lines = ["| incident kind | in scenarios from | each one from |", "|---|---|---|"]
    for kind, shortest in shortest_durations().items():
        each = ", ".join(f"{as_text(p.shortest)} ({p.name})"
                         for p in sorted(PLANNED, key=lambda p: p.shortest) if kind in p.kinds)
        lines.append(f"| {kind} | {as_text(shortest)} | {each} |")
    return "\n".join(lines) + "\n"


def as_text(seconds: float) -> str:
    """``295`` -> ``4m55s``: a duration as ``--duration`` takes it."""
    minutes, rest = divmod(round(seconds), 60)
    return (f"{minutes}m" if minutes else "") + (f"{rest}s" if rest or not minutes else "")
