"""Per-model circuit breaker fed by real completion traffic.

closed → `failure_threshold` failures in a row → open (requests refused) → after `open_sec`
half-open: one trial request is let through; its success closes the circuit, its failure opens it
again. A trial whose outcome is never reported frees its slot after another `open_sec`.
"""

import time
from collections.abc import Callable
from typing import Literal

CircuitState = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    def __init__(
        self,
        failure_threshold: int = 3,
        open_sec: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.open_sec = open_sec
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_started_at: float | None = None

    @property
    def state(self) -> CircuitState:
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at < self.open_sec:
            return "open"
        return "half_open"

    def blocks_listing(self) -> bool:
        """Only a freshly opened circuit hides the model; a half-open one is worth a try."""
        return self.state == "open"

    def allow_request(self) -> bool:
        """True if a request may go through now; in half-open state this claims the one trial."""
        state = self.state
        if state == "closed":
            return True
        if state == "open":
            return False
        now = self._clock()
        if self._trial_started_at is not None and now - self._trial_started_at < self.open_sec:
            return False  # a trial is already under way
        self._trial_started_at = now
        return True

    def record_success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._trial_started_at = None

    def record_failure(self) -> None:
        self._failures += 1
        if self.state == "half_open" or self._failures >= self.failure_threshold:
            self._opened_at = self._clock()
            self._trial_started_at = None

    def reset(self) -> None:
        self.record_success()
