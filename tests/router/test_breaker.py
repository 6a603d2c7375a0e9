from __future__ import annotations

from inferstack.config.router import BreakerConfig
from inferstack.router.breaker import BreakerState, CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def breaker(**overrides: float) -> tuple[CircuitBreaker, Clock]:
    clock = Clock()
    config = BreakerConfig(
        **{"consecutive_failures": 3, "cooldown_s": 5, "window": 10, "min_calls": 4, **overrides}
    )
    return CircuitBreaker(config, clock), clock


def test_opens_after_consecutive_failures_and_blocks_calls() -> None:
    cb, _ = breaker()
    for _ in range(2):
        assert cb.acquire()
        cb.record_failure()
    assert cb.state is BreakerState.CLOSED
    cb.record_failure()
    assert cb.state is BreakerState.OPEN and not cb.available() and not cb.acquire()


def test_opens_on_failure_rate_over_the_window() -> None:
    cb, _ = breaker(consecutive_failures=100, failure_rate=0.5)
    for failed in (False, True, False, True):
        cb.record_failure() if failed else cb.record_success()
    assert cb.state is BreakerState.OPEN  # 2 of 4 >= 0.5 once min_calls (4) calls were seen


def test_half_open_lets_exactly_one_probe_through() -> None:
    cb, clock = breaker()
    for _ in range(3):
        cb.record_failure()
    clock.now = 4.9
    assert not cb.acquire()
    clock.now = 5.0
    assert cb.available()
    assert cb.acquire() and cb.state is BreakerState.HALF_OPEN
    assert not cb.acquire() and not cb.available()  # the probe is in flight


def test_probe_success_closes_and_failure_reopens() -> None:
    cb, clock = breaker()
    for _ in range(3):
        cb.record_failure()
    clock.now = 5
    assert cb.acquire()
    cb.record_failure()
    assert cb.state is BreakerState.OPEN and cb.opened_total == 2
    clock.now = 10
    assert cb.acquire()
    cb.record_success()
    assert cb.state is BreakerState.CLOSED and cb.acquire()


def test_released_probe_can_be_retaken() -> None:
    cb, clock = breaker()
    for _ in range(3):
        cb.record_failure()
    clock.now = 5
    assert cb.acquire()
    cb.release()  # the client went away mid-probe
    assert cb.acquire()
