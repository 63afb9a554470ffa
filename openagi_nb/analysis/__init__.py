"""The questions an operator asks of the events, as pure pandas functions.

Each function takes a channel's frame in the declared schema (``Capture.frame(channel)`` or
``EventStream.frame(channel)``, the same columns and dtypes), never touches a socket or a file,
and returns a new DataFrame whose columns its docstring lists:

- :mod:`~openagi_nb.analysis.metrics` (``monitoring_events``): :func:`breaches`,
  :func:`summary`, :func:`resample`, :func:`anomalies`.
- :mod:`~openagi_nb.analysis.security` (``security_events``): :func:`top_sources`,
  :func:`unblocked`, :func:`bursts`, :func:`timeline`, :func:`certificates`, :func:`audit`
  (an :class:`AuditReport`).
- :mod:`~openagi_nb.analysis.consensus` (``consensus_events``): :func:`proposals`,
  :func:`view_changes`, :func:`parameter_history`, :func:`phase_latencies`,
  :func:`quorum_violations`.
- :mod:`~openagi_nb.analysis.network` (``network_events``): :func:`membership`,
  :func:`churn`, :func:`partitions`.
- :func:`incidents` (every channel): one time-ordered table of what to look at.

For data larger than memory, :func:`breaches`, :func:`summary`, :func:`resample`,
:func:`top_sources`, :func:`unblocked`, :func:`bursts`, :func:`certificates`,
:func:`proposals`, :func:`view_changes`, :func:`membership`, :func:`churn` and
:func:`partitions` also take a Dask DataFrame of the channel (partitions in time order, as a
dataset's ``to_dask(channel)`` gives them), and :func:`incidents` a dataset: the result is the
same pandas frame, computed on the active Dask scheduler (a ``distributed.Client`` if one
exists) without gathering the channel; episodes, bursts and proposals that span partition
boundaries come out once (see ``analysis._dask``). Dask (the ``scale`` extra) is imported only
when such a frame arrives.
"""

from __future__ import annotations

from . import consensus, metrics, network, security
from .consensus import (
    parameter_history,
    phase_latencies,
    proposals,
    quorum_violations,
    view_changes,
)
from .incidents import incidents
from .metrics import anomalies, breaches, resample, summary
from .network import churn, membership, partitions
from .report import AuditReport
from .security import audit, bursts, certificates, timeline, top_sources, unblocked

__all__ = [
    "AuditReport",
    "anomalies",
    "audit",
    "breaches",
    "bursts",
    "certificates",
    "churn",
    "consensus",
    "incidents",
    "membership",
    "metrics",
    "network",
    "parameter_history",
    "partitions",
    "phase_latencies",
    "proposals",
    "quorum_violations",
    "resample",
    "security",
    "summary",
    "timeline",
    "top_sources",
    "unblocked",
    "view_changes",
]
