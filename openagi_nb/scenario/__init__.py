"""The seeded scenario generator: a network's hour (or a minute, or days, of thousands of nodes)
of events with incidents placed in it.

:func:`generate` and :func:`write` make a scenario in memory (the classic hour);
:func:`export` writes one of any size, window by window, as a capture or a Parquet dataset. It
imports nothing of the server: what it writes is a capture like any other.
"""

from ._export import export, is_dataset_path
from ._generate import (
    DEFAULT_START,
    MIN_DURATION,
    MIN_NODES,
    Incident,
    Scenario,
    counts_markdown,
    generate,
    incidents_markdown,
    metrics_markdown,
    write,
)
from ._stream import CLASSIC_LIMIT, ENGINES, Engine, Generation, Window
from ._timetable import PLANNED, Planned, durations_markdown, placed, shortest_durations

__all__ = [
    "CLASSIC_LIMIT",
    "DEFAULT_START",
    "ENGINES",
    "Engine",
    "Generation",
    "Incident",
    "MIN_DURATION",
    "MIN_NODES",
    "PLANNED",
    "Planned",
    "Scenario",
    "Window",
    "counts_markdown",
    "durations_markdown",
    "export",
    "generate",
    "incidents_markdown",
    "is_dataset_path",
    "metrics_markdown",
    "placed",
    "shortest_durations",
    "write",
]
