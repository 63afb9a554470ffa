"""The seeded scenario generator: a network's hour (or more) of events with incidents placed in it.

It imports nothing of the server: what it writes is a capture like any other.
"""

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

__all__ = [
    "DEFAULT_START",
    "Incident",
    "MIN_DURATION",
    "MIN_NODES",
    "Scenario",
    "counts_markdown",
    "generate",
    "incidents_markdown",
    "metrics_markdown",
    "write",
]
