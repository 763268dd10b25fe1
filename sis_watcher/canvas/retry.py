"""
Retries of Canvas calls: the only place tenacity is configured (stamina's rules, on tenacity).

- Retry only `CanvasUnavailable` (network errors, timeouts, 5xx, throttling); everything else
  propagates at once.
- Exponential backoff with jitter from `retry.initial_backoff_seconds`, capped at
  `retry.max_backoff_seconds`; Canvas's `Retry-After` is honoured when it asks for longer.
- Stop when `retry.max_elapsed_seconds` have passed: the last real exception propagates
  (`reraise=True`) and the caller decides (the worker keeps the batch queued and tries later;
  exhausted transient failure is never a verdict on the data).
- Every wait goes through the shared `stopping` event: SIGTERM during a five-minute backoff
  raises `Stopping` at once.
- One warning event per scheduled retry, `<step>.retry_scheduled`, with `retry_num`,
  `wait_for`, `waited_so_far` and `caused_by`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

import tenacity

from sis_watcher.core.backoff import RetryPolicy, interruptible_sleep
from sis_watcher.core.errors import CanvasUnavailable, Stopping
from sis_watcher.core.logs import get_logger

T = TypeVar("T")
log = get_logger()


def wait_for(policy: RetryPolicy) -> Callable[[tenacity.RetryCallState], float]:
    """Return tenacity's wait: backoff with jitter, or Canvas's Retry-After when longer."""

    def wait(state: tenacity.RetryCallState) -> float:
        delay = policy.backoff(state.attempt_number)
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        if isinstance(error, CanvasUnavailable) and error.retry_after_seconds is not None:
            delay = max(delay, error.retry_after_seconds)
        return delay

    return wait


def log_retry(step: str) -> Callable[[tenacity.RetryCallState], None]:
    """Return tenacity's before_sleep hook: one `<step>.retry_scheduled` warning per retry."""

    def before_sleep(state: tenacity.RetryCallState) -> None:
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        log.warning(
            f"{step}.retry_scheduled",
            retry_num=state.attempt_number,
            wait_for=round(state.upcoming_sleep or 0.0, 3),
            waited_so_far=round(state.seconds_since_start or 0.0, 3),
            caused_by=str(error) if error is not None else None,
            status_code=getattr(error, "status_code", None),
        )

    return before_sleep


def call_with_retries(
    function: Callable[[], T],
    *,
    policy: RetryPolicy,
    stopping: threading.Event,
    step: str,
    on_retry: Callable[[int], None] | None = None,
) -> T:
    """
    Call `function` until it succeeds, retrying `CanvasUnavailable` per `policy`.

    Raise the last `CanvasUnavailable` when the time budget is spent, `Stopping` on shutdown,
    and any other exception at once. `on_retry(attempt)` is told of each retry (for metrics).
    """
    logger = log_retry(step)

    def before_sleep(state: tenacity.RetryCallState) -> None:
        logger(state)
        if on_retry is not None:
            on_retry(state.attempt_number)

    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(CanvasUnavailable),
        wait=wait_for(policy),
        stop=tenacity.stop_after_delay(policy.max_elapsed_seconds) | tenacity.stop_when_event_set(stopping),
        sleep=interruptible_sleep(stopping),
        before_sleep=before_sleep,
        reraise=True,
    )
    if stopping.is_set():
        raise Stopping("shutdown requested")
    try:
        return retrying(function)
    except CanvasUnavailable as error:
        if stopping.is_set():
            raise Stopping("shutdown during a retried call") from error
        raise


class OutcomeUnknown(Exception):
    """A request may have reached its host, but the answer was lost: not to be sent again by itself."""

    def __init__(self, error: CanvasUnavailable) -> None:
        super().__init__(str(error))
        self.error = error


def until_it_may_have_arrived(function: Callable[[], T]) -> Callable[[], T]:
    """
    Wrap `function` for `call_with_retries`: retried while its request provably did not arrive.

    A `CanvasUnavailable` whose request may have arrived becomes `OutcomeUnknown`, which
    `call_with_retries` does not retry, for a request that must not be sent twice blindly.
    """

    def call() -> T:
        try:
            return function()
        except CanvasUnavailable as error:
            if error.request_may_have_arrived:
                raise OutcomeUnknown(error) from error
            raise

    return call
