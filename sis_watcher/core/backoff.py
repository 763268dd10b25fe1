"""
The one backoff vocabulary of every retry loop: Canvas calls, alert deliveries, local faults.

A `RetryPolicy` says how long to wait before retry number N (exponential from
`initial_seconds`, doubled each time, plus up to `jitter_seconds` of random jitter, capped at
`max_backoff_seconds`) and when to give up (`max_elapsed_seconds` of trying, or `max_attempts`
tries, whichever comes first). `canvas.retry` runs Canvas calls on it through tenacity; the alert
courier runs its deliveries on it. Waits go through `interruptible_sleep`, so a stop request
ends any wait at once.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass

from sis_watcher.core.errors import Stopping


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    initial_seconds: float = 1.0
    max_backoff_seconds: float = 300.0
    max_elapsed_seconds: float = 3600.0
    jitter_seconds: float = 1.0
    max_attempts: int | None = None

    def backoff(self, attempt: int, *, rng: random.Random | None = None) -> float:
        """Return the wait before retry number `attempt` (1-based), jitter included."""
        exponential = self.initial_seconds * 2.0 ** min(attempt - 1, 60)
        jitter = (rng or random).uniform(0, self.jitter_seconds) if self.jitter_seconds else 0.0
        return min(exponential + jitter, self.max_backoff_seconds)

    def gives_up(self, *, attempts: int, elapsed_seconds: float) -> bool:
        """Return True when `attempts` tries over `elapsed_seconds` are all this policy allows."""
        if self.max_attempts is not None and attempts >= self.max_attempts:
            return True
        return elapsed_seconds >= self.max_elapsed_seconds


def interruptible_sleep(stopping: threading.Event) -> Callable[[float], None]:
    """Return a sleep that wakes, and raises `Stopping`, as soon as `stopping` is set."""

    def sleep(seconds: float) -> None:
        if stopping.wait(seconds):
            raise Stopping("shutdown during a retry wait")

    return sleep
