"""Circuit breaker: after ``threshold`` consecutive failures, refuse calls for ``reset_after`` seconds.

After the cool-down one trial call is let through (half-open): success closes the circuit, failure re-opens it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from enum import Enum

from hostwinds.errors import CircuitOpenError


class BreakerState(Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class CircuitBreaker:
    def __init__(self, threshold: int = 5, reset_after: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold = threshold
        self.reset_after = reset_after
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_in_flight = False
        self._lock = threading.Lock()

    @property
    def state(self) -> BreakerState:
        with self._lock:
            return self._state_locked()

    def _state_locked(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at >= self.reset_after:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def before_call(self) -> None:
        """Raise CircuitOpenError if calls are currently refused."""
        with self._lock:
            state = self._state_locked()
            if state is BreakerState.CLOSED:
                return
            if state is BreakerState.HALF_OPEN and not self._trial_in_flight:
                self._trial_in_flight = True
                return
            assert self._opened_at is not None
            remaining = max(0.0, self.reset_after - (self._clock() - self._opened_at))
        raise CircuitOpenError(
            f"Hostwinds circuit open after {self.threshold} consecutive failures; "
            f"calls refused for another {remaining:.0f} s"
        )

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._trial_in_flight = False

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._trial_in_flight or self._failures >= self.threshold:
                self._opened_at = self._clock()
            self._trial_in_flight = False
