"""The live stream's reconnect policy: how long to wait, and whether to try again at all.

Pure functions, no sockets or clocks, so every rule is tested on its own; the stream's thread
(``_loop``) feeds them what happened and does what they say.

- :func:`backoff` yields the delays between attempts: exponential with jitter, capped, so many
  clients cut at once do not come back in lockstep (the AWS "equal jitter" scheme).
- :func:`decide` maps how a connection ended (:class:`Ending`) to an :class:`Action`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from ..model import CloseCode

__all__ = [
    "AUTH_ATTEMPTS", "Action", "Ending", "Failure", "Outcome", "backoff", "decide",
    "is_auth_refusal",
]

AUTH_ATTEMPTS: Final = 3
"""Fresh tokens refused in a row before the stream gives up (a provider that keeps handing out
tokens the server refuses is a configuration error, not a network one)."""


class Outcome(StrEnum):
    """How one connection attempt or session ended."""

    STOPPED = "stopped"  # the user called stop()
    NETWORK = "network"  # refused, reset, timed out, DNS, no pong in time
    HTTP = "http"  # the handshake got an HTTP status other than 101
    CLOSED = "closed"  # the server closed the websocket with a code
    CONFIG = "config"  # nothing to retry: the URL or the TLS settings are wrong


class Action(StrEnum):
    """What the stream does next."""

    RETRY = "retry"  # wait for the next backoff delay, connect again
    REFRESH_TOKEN = "refresh_token"  # ask token_provider for a fresh token, then retry
    FAIL = "fail"  # give up: state failed, last_error raised from wait_for
    STOP = "stop"  # the user asked: state stopped


@dataclass(frozen=True, slots=True)
class Ending:
    """What ended a connection: the outcome, the HTTP status or close code if any, and how many
    times in a row the server has refused our token (this one included)."""

    outcome: Outcome
    code: int | None = None
    auth_refusals: int = 0


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a connection could not be opened, or ended: the ending for the policy, and a message
    for ``last_error`` (never with a token in it)."""

    ending: Ending
    message: str


AUTH_CLOSE: Final = CloseCode.TOKEN_EXPIRED  # docs/protocol.md sections 2.5 and 9
_RETRY_STATUSES: Final = frozenset({408, 425, 429, 500, 502, 503, 504})


def decide(ending: Ending, *, can_refresh: bool) -> Action:
    """What to do after ``ending``.

    Args:
        ending: how the connection (or the attempt to open one) ended.
        can_refresh: whether a ``token_provider`` can give a fresh token.

    Refused tokens (HTTP 401, close 4001) are refreshed when possible and fail otherwise; other
    HTTP statuses fail unless they are transient (408, 425, 429, 5xx); every close code and
    network error retries, since the server may come back.
    """
    if ending.outcome is Outcome.STOPPED:
        return Action.STOP
    if ending.outcome is Outcome.CONFIG:
        return Action.FAIL
    if is_auth_refusal(ending):
        if can_refresh and ending.auth_refusals <= AUTH_ATTEMPTS:
            return Action.REFRESH_TOKEN
        return Action.FAIL
    if ending.outcome is Outcome.HTTP and ending.code not in _RETRY_STATUSES:
        return Action.FAIL
    return Action.RETRY


def is_auth_refusal(ending: Ending) -> bool:
    """Whether the server refused the token (HTTP 401 at the handshake, or close 4001)."""
    return (ending.outcome is Outcome.HTTP and ending.code == 401) or (
        ending.outcome is Outcome.CLOSED and ending.code == AUTH_CLOSE
    )


def backoff(
    initial: float = 0.1,
    maximum: float = 10.0,
    factor: float = 2.0,
    rng: Callable[[], float] = random.random,
) -> Iterator[float]:
    """Yield the delays (seconds) before each reconnect attempt, forever.

    The n-th base delay is ``initial * factor**n`` capped at ``maximum``; each yielded delay is
    uniform in ``[base/2, base]``, so it never drops below half the base (no hammering) and
    clients spread out. Start a new generator once a connection has been up: the delays restart
    from ``initial``.
    """
    if initial <= 0 or maximum < initial or factor < 1:
        raise ValueError(
            f"invalid backoff: initial={initial}, maximum={maximum}, factor={factor}"
        )
    base = initial
    while True:
        yield base / 2 + rng() * base / 2
        base = min(base * factor, maximum)
