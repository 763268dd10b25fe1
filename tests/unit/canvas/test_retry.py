"""Unit tests for `sis_watcher.canvas.retry`: what is retried, how long it waits, when it stops, what it logs."""

from __future__ import annotations

import random
import threading
import time

import pytest
from structlog.testing import capture_logs

from sis_watcher.canvas.retry import call_with_retries
from sis_watcher.config.settings import RetrySettings
from sis_watcher.core.backoff import RetryPolicy, interruptible_sleep
from sis_watcher.core.errors import (
    CanvasAuthProblem,
    CanvasProtocolError,
    CanvasUnavailable,
    Stopping,
    UploadRejected,
)

TINY = RetryPolicy(
    initial_seconds=0.001, max_backoff_seconds=0.004, max_elapsed_seconds=5.0, jitter_seconds=0.0
)


class Failing:
    """A callable that raises the given errors in turn, then returns `result`."""

    def __init__(self, *errors: BaseException, result: str = "ok") -> None:
        self.errors = list(errors)
        self.result = result
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return self.result


def unavailable(text: str = "503", **options: object) -> CanvasUnavailable:
    return CanvasUnavailable(text, status_code=503, **options)  # type: ignore[arg-type]


class TestWhatIsRetried:
    def test_success_needs_no_retry(self):
        """A call that works at once is called once and logs nothing."""
        function = Failing()

        with capture_logs() as events:
            result = call_with_retries(function, policy=TINY, stopping=threading.Event(), step="upload")

        assert (result, function.calls, events) == ("ok", 1, [])

    @pytest.mark.parametrize(
        "error",
        [unavailable(), CanvasProtocolError("not JSON"), CanvasUnavailable("throttled", status_code=429)],
    )
    def test_unavailable_is_retried_until_success(self, error):
        """CanvasUnavailable and its subclasses are retried; the eventual result is returned."""
        function = Failing(error, error)

        result = call_with_retries(function, policy=TINY, stopping=threading.Event(), step="upload")

        assert (result, function.calls) == ("ok", 3)

    @pytest.mark.parametrize(
        "error",
        [UploadRejected("400"), CanvasAuthProblem("401"), OSError("disk full"), ValueError("bug")],
    )
    def test_other_errors_propagate_at_once(self, error):
        """Rejections, auth problems and local faults are never retried."""
        function = Failing(error)

        with capture_logs() as events, pytest.raises(type(error)) as caught:
            call_with_retries(function, policy=TINY, stopping=threading.Event(), step="upload")

        assert caught.value is error
        assert function.calls == 1
        assert events == []


class TestWaits:
    def test_backoff_doubles_and_is_capped(self):
        """Without jitter the waits are initial, doubled each time, never above the cap."""
        policy = RetryPolicy(initial_seconds=1, max_backoff_seconds=5, jitter_seconds=0)

        assert [policy.backoff(attempt) for attempt in range(1, 7)] == [1, 2, 4, 5, 5, 5]

    def test_huge_attempt_numbers_stay_capped(self):
        """Attempt 10,000 does not overflow; it waits the cap."""
        policy = RetryPolicy(initial_seconds=1, max_backoff_seconds=300, jitter_seconds=0)

        assert policy.backoff(10_000) == 300

    def test_jitter_is_added_within_bounds_and_capped(self):
        """Jitter adds up to jitter_seconds, and the total still never passes the cap."""
        policy = RetryPolicy(initial_seconds=1, max_backoff_seconds=4.5, jitter_seconds=1)
        rng = random.Random(7)

        waits = [policy.backoff(attempt, rng=rng) for attempt in (1, 1, 1, 2, 2, 3, 3, 4)]

        assert all(1 <= wait <= 2 for wait in waits[:3])
        assert all(2 <= wait <= 3 for wait in waits[3:5])
        assert all(wait <= 4.5 for wait in waits[5:])
        assert len(set(waits[:3])) == 3

    def test_policy_from_settings(self):
        """The policy takes the config's values; jitter is at most one second and at most the first wait."""
        settings = RetrySettings(
            initial_backoff_seconds=0.25, max_backoff_seconds=30, max_elapsed_seconds=600
        )

        assert settings.policy() == RetryPolicy(
            initial_seconds=0.25, max_backoff_seconds=30, max_elapsed_seconds=600, jitter_seconds=0.25
        )
        assert RetrySettings().policy().jitter_seconds == 1.0

    def test_waits_grow_as_logged(self):
        """The logged waits follow the backoff: 1, 2, 4 ms ... up to the 4 ms cap."""
        function = Failing(*(unavailable() for _ in range(4)))

        with capture_logs() as events:
            call_with_retries(function, policy=TINY, stopping=threading.Event(), step="poll")

        assert [event["wait_for"] for event in events] == [0.001, 0.002, 0.004, 0.004]

    def test_retry_after_longer_than_backoff_is_honoured(self):
        """Canvas's Retry-After wins when it asks for longer than the backoff."""
        function = Failing(unavailable(retry_after_seconds=0.05))

        with capture_logs() as events:
            started = time.monotonic()
            call_with_retries(function, policy=TINY, stopping=threading.Event(), step="upload")
            elapsed = time.monotonic() - started

        assert events[0]["wait_for"] == 0.05
        assert elapsed >= 0.05

    def test_retry_after_shorter_than_backoff_is_ignored(self):
        """A Retry-After shorter than the backoff does not shorten the wait."""
        policy = RetryPolicy(initial_seconds=0.02, max_backoff_seconds=1, jitter_seconds=0)
        function = Failing(unavailable(retry_after_seconds=0.001))

        with capture_logs() as events:
            call_with_retries(function, policy=policy, stopping=threading.Event(), step="upload")

        assert events[0]["wait_for"] == 0.02


class TestStopping:
    def test_stops_after_max_elapsed_and_reraises_the_last_error(self):
        """When the time budget is spent, the last real CanvasUnavailable propagates."""
        policy = RetryPolicy(
            initial_seconds=0.005, max_backoff_seconds=0.005, max_elapsed_seconds=0.05, jitter_seconds=0
        )
        calls: list[int] = []

        def always_down() -> str:
            calls.append(1)
            raise unavailable(f"down #{len(calls)}")

        with pytest.raises(CanvasUnavailable) as caught:
            call_with_retries(always_down, policy=policy, stopping=threading.Event(), step="upload")

        assert str(caught.value) == f"down #{len(calls)}"
        assert len(calls) >= 2

    def test_already_stopping_calls_nothing(self):
        """If shutdown started before the call, Stopping is raised and the function never runs."""
        stopping = threading.Event()
        stopping.set()
        function = Failing()

        with pytest.raises(Stopping):
            call_with_retries(function, policy=TINY, stopping=stopping, step="upload")

        assert function.calls == 0

    def test_stopping_during_a_long_wait_returns_at_once(self):
        """SIGTERM during a one-minute backoff raises Stopping within moments, not a minute later."""
        policy = RetryPolicy(
            initial_seconds=60, max_backoff_seconds=60, max_elapsed_seconds=600, jitter_seconds=0
        )
        stopping = threading.Event()
        failed_once = threading.Event()

        def down() -> str:
            failed_once.set()
            raise unavailable()

        def stop_when_waiting() -> None:
            failed_once.wait(timeout=10)
            stopping.set()

        stopper = threading.Thread(target=stop_when_waiting)
        stopper.start()
        started = time.monotonic()
        try:
            with pytest.raises(Stopping, match="shutdown during a retry wait"):
                call_with_retries(down, policy=policy, stopping=stopping, step="upload")
        finally:
            stopper.join(timeout=10)

        assert time.monotonic() - started < 5

    def test_interruptible_sleep_sleeps_when_not_stopping(self):
        """The sleep waits the full time when nobody stops it."""
        sleep = interruptible_sleep(threading.Event())
        started = time.monotonic()

        sleep(0.02)

        assert time.monotonic() - started >= 0.02


class TestEvents:
    def test_one_retry_scheduled_event_per_retry(self):
        """Each retry logs one `<step>.retry_scheduled` warning with stamina's fields."""
        function = Failing(unavailable("first"), CanvasUnavailable("second", status_code=None))
        retries: list[int] = []

        with capture_logs() as events:
            call_with_retries(
                function, policy=TINY, stopping=threading.Event(), step="upload", on_retry=retries.append
            )

        assert [event["event"] for event in events] == ["upload.retry_scheduled"] * 2
        assert [event["log_level"] for event in events] == ["warning"] * 2
        assert [event["retry_num"] for event in events] == [1, 2]
        assert [event["caused_by"] for event in events] == ["first", "second"]
        assert [event["status_code"] for event in events] == [503, None]
        assert [event["wait_for"] for event in events] == [0.001, 0.002]
        assert all(isinstance(event["waited_so_far"], float) for event in events)
        assert events[1]["waited_so_far"] >= events[0]["waited_so_far"]
        assert retries == [1, 2]

    def test_step_names_the_event(self):
        """The step given names the event (`poll.retry_scheduled`)."""
        with capture_logs() as events:
            call_with_retries(Failing(unavailable()), policy=TINY, stopping=threading.Event(), step="poll")

        assert [event["event"] for event in events] == ["poll.retry_scheduled"]
