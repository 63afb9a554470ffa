"""stream/_reconnect.py: backoff delays and the retry decision, without a network."""

from __future__ import annotations

import itertools
import random

import pytest

from openagi_nb.stream._reconnect import (
    AUTH_ATTEMPTS,
    Action,
    Ending,
    Outcome,
    backoff,
    decide,
    is_auth_refusal,
)


def take(n, delays):
    return list(itertools.islice(delays, n))


def test_backoff_doubles_until_the_cap_with_the_top_of_the_jitter():
    assert take(8, backoff(0.1, 5.0, rng=lambda: 1.0)) == pytest.approx(
        [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0]
    )


def test_backoff_never_goes_below_half_the_base_delay():
    assert take(4, backoff(1.0, 8.0, rng=lambda: 0.0)) == pytest.approx([0.5, 1.0, 2.0, 4.0])


def test_backoff_jitter_spreads_clients_apart():
    rng = random.Random(3)
    first = [next(backoff(1.0, rng=rng.random)) for _ in range(50)]
    assert len(set(first)) == 50
    assert all(0.5 <= d <= 1.0 for d in first)


def test_backoff_stays_within_the_cap_forever():
    assert max(take(200, backoff(0.1, 2.0))) <= 2.0


@pytest.mark.parametrize(("initial", "maximum", "factor"), [(0, 1, 2), (2, 1, 2), (1, 5, 0.5)])
def test_backoff_refuses_a_nonsense_policy(initial, maximum, factor):
    with pytest.raises(ValueError, match="invalid backoff"):
        next(backoff(initial, maximum, factor))


@pytest.mark.parametrize("ending", [
    Ending(Outcome.NETWORK),
    Ending(Outcome.CLOSED, 1000),
    Ending(Outcome.CLOSED, 1001),
    Ending(Outcome.CLOSED, 1006),
    Ending(Outcome.CLOSED, 1011),
    Ending(Outcome.CLOSED, 1013),
    Ending(Outcome.HTTP, 503),
    Ending(Outcome.HTTP, 429),
])
def test_network_errors_closes_and_transient_statuses_retry(ending):
    assert decide(ending, can_refresh=False) is Action.RETRY


@pytest.mark.parametrize("code", [400, 403, 404])
def test_other_http_statuses_fail(code):
    assert decide(Ending(Outcome.HTTP, code), can_refresh=True) is Action.FAIL


@pytest.mark.parametrize("ending", [Ending(Outcome.HTTP, 401, 1), Ending(Outcome.CLOSED, 4001, 1)])
def test_a_refused_token_is_refreshed_when_a_provider_exists(ending):
    assert decide(ending, can_refresh=True) is Action.REFRESH_TOKEN


@pytest.mark.parametrize("ending", [Ending(Outcome.HTTP, 401, 1), Ending(Outcome.CLOSED, 4001, 1)])
def test_a_refused_static_token_fails(ending):
    assert decide(ending, can_refresh=False) is Action.FAIL


def test_a_provider_whose_tokens_keep_being_refused_fails_eventually():
    assert decide(Ending(Outcome.HTTP, 401, AUTH_ATTEMPTS), can_refresh=True) is (
        Action.REFRESH_TOKEN
    )
    assert decide(Ending(Outcome.HTTP, 401, AUTH_ATTEMPTS + 1), can_refresh=True) is Action.FAIL


def test_stop_and_an_invalid_url_end_the_stream():
    assert decide(Ending(Outcome.STOPPED), can_refresh=True) is Action.STOP
    assert decide(Ending(Outcome.CONFIG), can_refresh=True) is Action.FAIL


def test_is_auth_refusal_names_401_and_4001_only():
    assert is_auth_refusal(Ending(Outcome.HTTP, 401))
    assert is_auth_refusal(Ending(Outcome.CLOSED, 4001))
    assert not is_auth_refusal(Ending(Outcome.CLOSED, 1008))
    assert not is_auth_refusal(Ending(Outcome.HTTP, 403))
