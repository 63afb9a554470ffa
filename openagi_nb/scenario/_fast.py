"""What the windowed generator shares: a :class:`~._plan.Plan` that answers "who is heard at
``t``" in time independent of the number of nodes, and the random streams keyed by block.

Randomness of the windowed generator is drawn per *block* (an hour of scenario time, the same
whatever the window), from a stream keyed by the seed, the part and the block number: which is
what makes the data independent of the window length and of the output.
"""

from __future__ import annotations

import functools
import hashlib
import random
from dataclasses import dataclass, fields
from typing import Final

import numpy as np

from ._plan import Plan

__all__ = ["BLOCK", "FastPlan", "block_rng", "fast", "np_rng"]

BLOCK: Final = 3600.0
"""Seconds of scenario time per block of random draws."""


@dataclass(frozen=True)
class FastPlan(Plan):
    """A plan whose membership questions cost O(nodes that ever go quiet), not O(nodes)."""

    special: frozenset[str] = frozenset()
    """The nodes that are offline or cut off at some time; every other one is always heard."""

    def reporting(self, node: str, t: float) -> bool:
        return node not in self.special or super().reporting(node, t)

    def reachable(self, t: float) -> int:
        return len(self.nodes) - len(self.special) + sum(
            Plan.reporting(self, n, t) for n in self.special)

    @functools.cached_property
    def quiet(self) -> tuple[int, ...]:
        """Indices (into ``nodes``) of :attr:`special`, in node order."""
        return tuple(i for i, n in enumerate(self.nodes) if n in self.special)


def fast(plan: Plan) -> FastPlan:
    """``plan`` as a :class:`FastPlan`."""
    special = {n for n, _ in plan.late_joins} | {leave.node for leave in plan.leaves}
    if plan.partition is not None:
        special |= set(plan.partition.nodes)
    values = {f.name: getattr(plan, f.name) for f in fields(Plan)}
    return FastPlan(**values, special=frozenset(special))


def _key(seed: int, part: str, block: int) -> bytes:
    return hashlib.sha256(f"openagi-nb:{seed}:{part}:{block}".encode()).digest()


def block_rng(seed: int, part: str, block: int) -> random.Random:
    """The Python random stream of ``part`` in ``block``."""
    return random.Random(_key(seed, part, block))


def np_rng(seed: int, part: str, block: int = 0) -> np.random.Generator:
    """The numpy random stream of ``part`` in ``block``."""
    entropy = int.from_bytes(_key(seed, part, block)[:16], "little")
    return np.random.Generator(np.random.PCG64(entropy))
