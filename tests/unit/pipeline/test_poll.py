"""Unit tests for `sis_watcher.pipeline.poll`: following an import until Canvas finishes it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import pytest

from sis_watcher.batch.manifest import BatchState
from sis_watcher.core.clock import isoformat
from sis_watcher.core.errors import Stopping
from sis_watcher.pipeline.poll import absorb, poll
from sis_watcher.simulator.canvas import CanvasSimulator, SimulatorSettings
from sis_watcher.simulator.model.faults import FaultKind

from support import TOKEN, wait_until

WANDERING_USERS_CSV = b"user_id,login_id,status\nu1,l1,wandering\n"


def status_polls(canvas, import_id: int) -> int:
    """Return how many times Canvas was asked for this import's state."""
    return sum(
        1
        for request in canvas.requests
        if request.method == "GET" and request.path.endswith(f"/sis_imports/{import_id}")
    )


class Background(threading.Thread):
    """A stage call on a thread of its own, keeping what it raised."""

    def __init__(self, function: Callable[..., object], *arguments: object) -> None:
        super().__init__(daemon=True)
        self.function = function
        self.arguments = arguments
        self.raised: list[BaseException] = []

    def run(self) -> None:
        try:
            self.function(*self.arguments)
        except BaseException as error:
            self.raised.append(error)


def in_background(function: Callable[..., object], *arguments: object) -> Background:
    thread = Background(function, *arguments)
    thread.start()
    return thread


class TestPoll:
    def test_an_import_is_followed_to_reporting_with_canvas_answer_saved(self, pipeline, canvas):
        """Polling ends in `reporting` with Canvas's final state, progress and end time in manifest.json."""
        batch = pipeline.importing()

        poll(batch, pipeline.context)

        saved = pipeline.on_disk(batch)
        assert BatchState.REPORTING == saved.state
        assert "imported" == saved.canvas.workflow_state
        assert 100 == saved.canvas.progress
        assert saved.canvas.ended_at is not None
        assert saved.canvas.last_polled_at is not None
        assert "imported" == pipeline.moments.named("import_progress")[-1]

    def test_canvas_messages_and_counts_are_recorded_at_the_end(self, pipeline, canvas):
        """An import with warnings leaves its messages and counts in the manifest for the verdict."""
        batch = pipeline.importing(("users.csv", WANDERING_USERS_CSV))

        poll(batch, pipeline.context)

        saved = pipeline.on_disk(batch)
        assert "imported_with_messages" == saved.canvas.workflow_state
        assert 1 == saved.canvas.warning_count
        assert 0 == saved.canvas.error_count
        [[file, message]] = saved.canvas.processing_warnings
        assert "users.csv" == file
        assert message is not None
        assert "wandering" in message

    def test_a_batch_canvas_fails_outright_records_its_error_message(self, build):
        """A zip Canvas refuses to open leaves `failed` and Canvas's `data.error_message` in the manifest."""
        with CanvasSimulator(token=TOKEN, settings=SimulatorSettings(max_uncompressed_bytes=10)) as small:
            pipeline = build(small.url)
            batch = pipeline.importing()

            poll(batch, pipeline.context)

        saved = pipeline.on_disk(batch)
        assert BatchState.REPORTING == saved.state
        assert "failed" == saved.canvas.workflow_state
        assert "CanvasUnzip::SizeLimitExceeded" == saved.canvas.error_message

    def test_a_passing_outage_while_polling_is_retried(self, pipeline, canvas):
        """Two 503s on the status look-up are retried; the poll still reaches `reporting`."""
        batch = pipeline.importing()
        canvas.faults.add(kind=FaultKind.STATUS, status=503, count=2, method="GET", path=r"/sis_imports/\d+$")

        poll(batch, pipeline.context)

        assert BatchState.REPORTING == pipeline.on_disk(batch).state
        assert ["poll", "poll"] == pipeline.moments.named("retry_scheduled")

    def test_an_import_stuck_past_give_up_fails_the_batch_naming_its_id_and_state(self, build, canvas):
        """An import still running after `give_up_after_seconds` fails the batch with its id and last state."""
        canvas.faults.add(kind=FaultKind.STUCK_IMPORTING, count=1, method="POST")
        pipeline = build(canvas.url, poll={"warn_after_seconds": 0.2, "give_up_after_seconds": 0.2})
        batch = pipeline.importing()
        import_id = batch.manifest.canvas.import_id or 0
        canvas.wait_for_state(import_id, states=frozenset({"importing"}))

        poll(batch, pipeline.context)

        saved = pipeline.on_disk(batch)
        assert BatchState.FAILED == saved.state
        assert "failed" == saved.outcome.result
        assert saved.outcome.reason is not None
        assert saved.outcome.reason.startswith(f"Canvas import {import_id} was still importing")
        assert saved.outcome.reason.endswith("check it in Canvas before retrying")

    def test_an_import_past_warn_after_is_reported_stuck_once(self, build, canvas):
        """After `warn_after_seconds` the import is reported stuck once, recorded, and polling goes on."""
        canvas.faults.add(kind=FaultKind.STUCK_IMPORTING, count=1, method="POST")
        pipeline = build(canvas.url, poll={"warn_after_seconds": 0.05, "give_up_after_seconds": 3600})
        batch = pipeline.importing()
        import_id = batch.manifest.canvas.import_id or 0
        polling = in_background(poll, batch, pipeline.context)

        wait_until(lambda: pipeline.moments.named("import_stuck"), timeout=5, what="the stuck report")
        reported_at = status_polls(canvas, import_id)
        wait_until(lambda: status_polls(canvas, import_id) >= reported_at + 3, timeout=5, what="more polls")
        pipeline.context.stopping.set()
        polling.join(timeout=5)

        assert [import_id] == pipeline.moments.named("import_stuck")
        assert pipeline.on_disk(batch).canvas.stuck_alerted is True
        assert BatchState.IMPORTING == pipeline.on_disk(batch).state

    def test_give_up_counts_from_the_recorded_upload_across_restarts(self, build, canvas):
        """An import uploaded two hours before a restart is given up at the first poll past the limit."""
        canvas.faults.add(kind=FaultKind.STUCK_IMPORTING, count=1, method="POST")
        pipeline = build(canvas.url, poll={"warn_after_seconds": 1800, "give_up_after_seconds": 3600})
        batch = pipeline.importing()
        batch.manifest.upload.finished_at = isoformat(batch.clock.now() - timedelta(hours=2))
        batch.manifest.canvas.stuck_alerted = True
        batch.save()

        poll(batch, pipeline.context)

        saved = pipeline.on_disk(batch)
        assert BatchState.FAILED == saved.state
        assert saved.outcome.reason is not None
        assert "after 2.0 h (poll.give_up_after_seconds)" in saved.outcome.reason
        assert 1 == status_polls(canvas, batch.manifest.canvas.import_id or 0)
        assert [] == pipeline.moments.named("import_stuck")

    def test_a_stop_request_between_polls_raises_stopping_at_once(self, build, canvas):
        """Shutdown during a 30-second wait between polls raises `Stopping` without waiting it out."""
        canvas.faults.add(kind=FaultKind.STUCK_IMPORTING, count=1, method="POST")
        pipeline = build(canvas.url, poll={"interval_seconds": 30, "max_interval_seconds": 30})
        batch = pipeline.importing()
        import_id = batch.manifest.canvas.import_id or 0
        polling = in_background(poll, batch, pipeline.context)
        wait_until(lambda: status_polls(canvas, import_id) >= 1, timeout=5, what="the first poll")
        pipeline.context.stopping.set()
        polling.join(timeout=5)

        assert not polling.is_alive()
        assert [Stopping] == [type(error) for error in polling.raised]
        assert BatchState.IMPORTING == pipeline.on_disk(batch).state

    def test_a_stop_request_before_polling_polls_nothing(self, pipeline, canvas):
        """With shutdown already requested, `poll` raises `Stopping` before asking Canvas."""
        batch = pipeline.importing()
        pipeline.context.stopping.set()

        with pytest.raises(Stopping):
            poll(batch, pipeline.context)

        assert 0 == status_polls(canvas, batch.manifest.canvas.import_id or 0)


class TestAbsorb:
    def test_the_same_answer_twice_is_a_change_only_the_first_time(self, pipeline, canvas):
        """Absorbing Canvas's answer reports a change once; the identical answer again changes nothing."""
        batch = pipeline.importing()
        answer = canvas.wait_for_state(batch.manifest.canvas.import_id or 0)

        assert absorb(batch, answer) is True
        assert absorb(batch, answer) is False

        assert "imported" == batch.manifest.canvas.workflow_state

    def test_an_answer_without_progress_keeps_the_last_known_progress(self, pipeline, canvas):
        """A state change with no usable `progress` keeps the progress recorded before."""
        batch = pipeline.zipped()
        batch.manifest.canvas.workflow_state = "created"
        batch.manifest.canvas.progress = 40

        changed = absorb(batch, {"workflow_state": "importing", "progress": None})

        assert changed is True
        assert ("importing", 40) == (batch.manifest.canvas.workflow_state, batch.manifest.canvas.progress)

    def test_messages_are_recorded_only_once_the_import_is_terminal(self, pipeline, canvas):
        """A non-terminal answer's messages are not copied; the verdict fields stay empty until the end."""
        batch = pipeline.importing(("users.csv", WANDERING_USERS_CSV))
        answer = canvas.wait_for_state(batch.manifest.canvas.import_id or 0)

        absorb(batch, {**answer, "workflow_state": "importing"})
        before = list(batch.manifest.canvas.processing_warnings)
        absorb(batch, answer)

        assert [] == before
        assert 1 == len(batch.manifest.canvas.processing_warnings)
        assert 1 == batch.manifest.canvas.warning_count


class TestStatistics:
    def test_statistics_are_recorded_at_the_end_and_the_diffing_flag_only_when_diffing(
        self, pipeline, canvas
    ):
        """A finished import leaves Canvas's `data.statistics` in the manifest; no diffing, no flag."""
        batch = pipeline.importing()

        poll(batch, pipeline.context)

        saved = pipeline.on_disk(batch)
        answer = canvas.import_json(saved.canvas.import_id or 0) or {}
        assert answer["data"]["statistics"] == saved.canvas.statistics
        assert 2 == (saved.canvas.statistics or {})["Pseudonym"]["created"]
        assert saved.canvas.diffing_threshold_exceeded is None

    def test_the_diffing_flag_is_recorded_for_a_diffing_import(self, build, canvas):
        """With a diffing data set, Canvas's `diffing_threshold_exceeded` is recorded as it answered."""
        pipeline = build(canvas.url, **{"import": {"diffing_data_set_identifier": "nightly"}})
        batch = pipeline.importing()

        poll(batch, pipeline.context)

        assert pipeline.on_disk(batch).canvas.diffing_threshold_exceeded is False

    def test_a_batch_failed_outright_has_no_statistics(self, build):
        """Canvas writes no statistics for an import it failed outright, and none are recorded."""
        with CanvasSimulator(token=TOKEN, settings=SimulatorSettings(max_uncompressed_bytes=10)) as small:
            pipeline = build(small.url)
            batch = pipeline.importing()

            poll(batch, pipeline.context)

        saved = pipeline.on_disk(batch)
        assert ("failed", None) == (saved.canvas.workflow_state, saved.canvas.statistics)

    def test_statistics_are_not_taken_from_an_answer_still_running(self, pipeline, canvas):
        """A non-terminal answer's statistics are ignored; the terminal one's are kept."""
        batch = pipeline.importing()
        answer = canvas.wait_for_state(batch.manifest.canvas.import_id or 0)

        absorb(batch, {**answer, "workflow_state": "importing"})
        before = batch.manifest.canvas.statistics
        absorb(batch, answer)

        assert before is None
        assert answer["data"]["statistics"] == batch.manifest.canvas.statistics
