"""The control-message rate limit: refuse, then close if it goes on."""

from __future__ import annotations

from openagi_nb.server._limits import ControlRate, Verdict


class FakeClock:
    """A clock the test moves by hand (the limiter takes any callable)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_burst_is_accepted_then_refused_then_closed():
    limiter = ControlRate(rate=1.0, burst=3, strikes=2, clock=FakeClock())
    verdicts = [limiter.check() for _ in range(5)]
    assert verdicts == [Verdict.ACCEPT] * 3 + [Verdict.REFUSE, Verdict.CLOSE]


def test_bucket_refills_at_the_rate_and_an_accepted_message_clears_the_strikes():
    clock = FakeClock()
    limiter = ControlRate(rate=10.0, burst=1, strikes=2, clock=clock)
    assert limiter.check() is Verdict.ACCEPT
    assert limiter.check() is Verdict.REFUSE
    clock.now += 0.1
    assert limiter.check() is Verdict.ACCEPT
    assert limiter.check() is Verdict.REFUSE  # a fresh first strike, not the closing one
    clock.now += 10.0
    assert [limiter.check() for _ in range(2)] == [Verdict.ACCEPT, Verdict.REFUSE]
