"""Per-deployment circuit breaker (closed -> open -> half-open -> closed)."""

from __future__ import annotations

import enum
import time
from collections import deque
from collections.abc import Callable

from inferstack.config.router import BreakerConfig


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Counts call outcomes. While open no call is let through; after the cooldown exactly one
    probe call is (half-open), and its outcome decides. Single event loop: no locking needed."""

    def __init__(self, config: BreakerConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._clock = clock
        self._outcomes: deque[bool] = deque(maxlen=config.window)  # True = failure
        self._consecutive = 0
        self._opened_at = 0.0
        self._probing = False
        self.state = BreakerState.CLOSED
        self.opened_total = 0

    def _cooled_down(self) -> bool:
        return self._clock() - self._opened_at >= self.config.cooldown_s

    def available(self) -> bool:
        """Would a call be let through now? No side effects (used to list candidates)."""
        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.OPEN:
            return self._cooled_down()
        return not self._probing

    def acquire(self) -> bool:
        """Ask to make a call; in half-open only the first caller gets the probe."""
        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.OPEN and self._cooled_down():
            self.state = BreakerState.HALF_OPEN
            self._probing = False
        if self.state is BreakerState.HALF_OPEN and not self._probing:
            self._probing = True
            return True
        return False

    def record_success(self) -> None:
        self._consecutive = 0
        self._outcomes.append(False)
        if self.state is not BreakerState.CLOSED:
            self.state = BreakerState.CLOSED
            self._probing = False
            self._outcomes.clear()

    def record_failure(self) -> None:
        self._consecutive += 1
        self._outcomes.append(True)
        if self.state is BreakerState.HALF_OPEN:
            self._open()
            return
        if self.state is BreakerState.CLOSED and self._should_open():
            self._open()

    def release(self) -> None:
        """A call ended with neither outcome (client went away): free the probe slot."""
        self._probing = False

    def _should_open(self) -> bool:
        cfg = self.config
        if self._consecutive >= cfg.consecutive_failures:
            return True
        calls = len(self._outcomes)
        return calls >= cfg.min_calls and sum(self._outcomes) / calls >= cfg.failure_rate

    def _open(self) -> None:
        self.state = BreakerState.OPEN
        self._opened_at = self._clock()
        self._probing = False
        self.opened_total += 1
