"""Unit tests for `sis_watcher.pipeline.worker`: the queue driven batch by batch to done/ or failed/."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator

import pytest

from sis_watcher.batch.manifest import BatchState, load_manifest
from sis_watcher.core.backoff import RetryPolicy
from sis_watcher.pipeline.worker import Worker
from sis_watcher.simulator.model.faults import FaultKind

from support import BAD_HEADER_CSV, COURSES_CSV, USERS_CSV, wait_until


def once_worker(pipeline) -> Worker:
    """Return a `once` worker whose intake has finished, so it stops when the queue is empty."""
    worker = Worker(context=pipeline.context, wake=threading.Event(), once=True)
    worker.intake_finished.set()
    return worker


class Background:
    """A worker in `run` mode on a thread of its own; stopped (and joined) by `stop`."""

    def __init__(self, pipeline) -> None:
        self.worker = Worker(context=pipeline.context, wake=threading.Event())
        self.thread = threading.Thread(target=self.worker.run, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.worker.context.stopping.set()
        self.worker.wake.set()
        self.thread.join(timeout=10)
        assert not self.thread.is_alive(), "the worker did not stop"


@pytest.fixture
def background() -> Iterator[list[Background]]:
    """Workers started in the background; each is stopped at the end of the test."""
    started: list[Background] = []
    yield started
    for running in started:
        if running.thread.is_alive():
            running.stop()


class TestOnce:
    def test_a_sealed_batch_is_driven_from_queue_to_done(self, pipeline, canvas):
        """A queued batch is checked, zipped, uploaded, polled, judged and moved into done/."""
        batch_dir = pipeline.sealed()
        worker = once_worker(pipeline)

        worker.run()

        [done] = pipeline.tree.batches("done")
        saved = load_manifest(done)
        assert batch_dir.name == done.name
        assert [] == pipeline.tree.batches("queue")
        assert BatchState.DONE == saved.state
        assert "done" == saved.outcome.result
        assert USERS_CSV == (done / "users.csv").read_bytes()
        assert (done / "batch.zip").exists()
        assert 1 == len(canvas.uploads)
        assert worker.incomplete is None
        assert (1, 0) == (worker.done_count, worker.failed_count)
        assert [(saved.batch_id, "done")] == pipeline.moments.named("batch_filed")
        assert ["queued", "zipped", "uploading", "importing", "reporting", "done"] == [
            entry.state for entry in saved.history
        ][-6:]

    def test_batches_are_processed_oldest_first(self, pipeline, canvas):
        """Two queued batches go to Canvas in the order they were sealed."""
        first = pipeline.sealed(("users.csv", USERS_CSV))
        second = pipeline.sealed(("courses.csv", COURSES_CSV))

        once_worker(pipeline).run()

        assert [first.name, second.name] == [path.name for path in pipeline.tree.batches("done")]
        imports = [load_manifest(path).canvas.import_id for path in pipeline.tree.batches("done")]
        assert [upload.import_id for upload in canvas.uploads] == imports

    def test_a_zip_is_not_kept_in_done_unless_keep_zip(self, build, canvas):
        """With `keep_zip: false`, a done batch keeps its originals and manifest but not batch.zip."""
        pipeline = build(canvas.url)
        pipeline.config = pipeline.config.model_copy(update={"keep_zip": False})
        pipeline.context = dataclasses.replace(pipeline.context, config=pipeline.config)
        pipeline.sealed()

        once_worker(pipeline).run()

        [done] = pipeline.tree.batches("done")
        assert ["manifest.json", "users.csv"] == sorted(path.name for path in done.iterdir())

    def test_a_revoked_token_ends_the_run_incomplete_with_the_batch_still_queued(self, pipeline, canvas):
        """A 401 in `once` mode stops the run, says uploads are paused, and fails nothing."""
        canvas.revoke_token()
        batch_dir = pipeline.sealed()
        worker = once_worker(pipeline)

        worker.run()

        assert worker.incomplete is not None
        assert worker.incomplete.startswith("uploads paused: Canvas rejected the token")
        assert [batch_dir] == pipeline.tree.batches("queue")
        assert BatchState.ZIPPED == load_manifest(batch_dir).state
        assert [] == pipeline.tree.batches("failed")
        assert (0, 0) == (worker.done_count, worker.failed_count)

    def test_canvas_down_past_the_retry_budget_ends_the_run_incomplete(self, build, canvas):
        """An outage longer than the retries in `once` mode leaves the batch queued, its upload unknown."""
        canvas.faults.add(kind=FaultKind.STATUS, status=503, count=None, method="POST")
        short = RetryPolicy(
            initial_seconds=0.01, max_backoff_seconds=0.02, max_elapsed_seconds=0.1, jitter_seconds=0
        )
        pipeline = build(canvas.url, policy=short)
        batch_dir = pipeline.sealed()
        worker = once_worker(pipeline)

        worker.run()

        assert worker.incomplete is not None
        assert "HTTP 503" in worker.incomplete
        assert BatchState.UPLOADING == load_manifest(batch_dir).state
        assert [] == canvas.uploads
        assert [] == pipeline.tree.batches("failed")

    def test_a_batch_file_gone_missing_is_a_local_fault_that_keeps_the_batch(self, pipeline, canvas):
        """An original missing from the batch folder is a local fault: the run ends incomplete, nothing is failed."""
        batch_dir = pipeline.sealed(("users.csv", USERS_CSV), ("courses.csv", COURSES_CSV))
        (batch_dir / "courses.csv").unlink()
        worker = once_worker(pipeline)

        worker.run()

        assert worker.incomplete is not None
        assert worker.incomplete.startswith("local fault:")
        assert "courses.csv" in worker.incomplete
        assert [batch_dir] == pipeline.tree.batches("queue")
        assert BatchState.QUEUED == load_manifest(batch_dir).state

    def test_an_unreadable_manifest_is_quarantined_to_failed_and_kept(self, pipeline, canvas):
        """A corrupt manifest.json sends the batch to failed/ with the old file kept and advice to check Canvas."""
        batch_dir = pipeline.sealed()
        (batch_dir / "manifest.json").write_text("{not json", encoding="utf-8")

        once_worker(pipeline).run()

        [failed] = pipeline.tree.batches("failed")
        saved = load_manifest(failed)
        assert batch_dir.name == failed.name
        assert "{not json" == (failed / "manifest.unreadable.json").read_text(encoding="utf-8")
        assert BatchState.FAILED == saved.state
        assert saved.outcome.reason is not None
        assert "Check in Canvas" in saved.outcome.reason
        assert USERS_CSV == (failed / "users.csv").read_bytes()
        assert [] == canvas.uploads

    def test_a_batch_canvas_rejects_is_failed_and_the_next_one_still_goes_to_done(self, pipeline, canvas):
        """A 400 on the upload files that batch in failed/ with the reason; the batch after it is imported."""
        canvas.faults.add(kind=FaultKind.STATUS, status=400, count=1, method="POST")
        rejected = pipeline.sealed(("users.csv", USERS_CSV))
        accepted = pipeline.sealed(("courses.csv", COURSES_CSV))
        worker = once_worker(pipeline)

        worker.run()

        [failed] = pipeline.tree.batches("failed")
        [done] = pipeline.tree.batches("done")
        reason = load_manifest(failed).outcome.reason
        assert (rejected.name, accepted.name) == (failed.name, done.name)
        assert reason is not None
        assert reason.startswith("Canvas refused the upload: HTTP 400")
        assert 1 == worker.failed_count
        assert [(rejected.name, "failed"), (accepted.name, "done")] == pipeline.moments.named("batch_filed")

    def test_a_batch_failing_validation_is_failed_without_an_upload(self, pipeline, canvas):
        """A strict validation error files the batch in failed/ before anything reaches Canvas."""
        pipeline.sealed(("users.csv", BAD_HEADER_CSV))

        once_worker(pipeline).run()

        [failed] = pipeline.tree.batches("failed")
        reason = load_manifest(failed).outcome.reason
        assert reason is not None
        assert reason.startswith("pre-flight validation found")
        assert [] == canvas.uploads

    def test_an_empty_queue_ends_the_run_at_once(self, pipeline, canvas):
        """With nothing queued and intake finished, `once` returns with nothing incomplete."""
        worker = once_worker(pipeline)

        worker.run()

        assert worker.incomplete is None
        assert (0, 0) == (worker.done_count, worker.failed_count)

    def test_a_stop_request_before_the_run_leaves_the_queue_untouched(self, pipeline, canvas):
        """Shutdown requested before the run: `once` returns, the queued batch untouched and nothing sent."""
        batch_dir = pipeline.sealed()
        pipeline.context.stopping.set()
        worker = once_worker(pipeline)

        worker.run()

        assert [batch_dir] == pipeline.tree.batches("queue")
        assert BatchState.QUEUED == load_manifest(batch_dir).state
        assert [] == canvas.uploads


class TestRun:
    def test_a_batch_sealed_while_idle_is_picked_up_when_woken(self, pipeline, canvas, background):
        """The idle worker takes a batch as soon as intake wakes it."""
        running = Background(pipeline)
        background.append(running)
        wait_until(lambda: "idle, 0 queued" in pipeline.moments.named("activity"), timeout=5, what="idle")

        pipeline.sealed()
        running.worker.wake.set()
        wait_until(lambda: pipeline.tree.batches("done"), timeout=5, what="a batch in done/")

        running.stop()
        assert 1 == len(canvas.uploads)

    def test_a_revoked_token_pauses_uploads_until_canvas_accepts_it_again(self, pipeline, canvas, background):
        """401 pauses uploads without failing the batch; once the token works again it is imported."""
        canvas.revoke_token()
        pipeline.sealed()
        running = Background(pipeline)
        background.append(running)

        wait_until(lambda: pipeline.moments.named("uploads_paused"), timeout=5, what="uploads paused")
        assert [] == pipeline.tree.batches("failed")
        canvas.restore_token()
        wait_until(lambda: pipeline.tree.batches("done"), timeout=5, what="a batch in done/")

        running.stop()
        assert 1 == len(pipeline.moments.named("uploads_paused"))
        assert [None] == pipeline.moments.named("uploads_resumed")

    def test_retries_stuck_for_long_are_reported_once_and_their_recovery_too(self, build, canvas, background):
        """A batch held up past `alerts.retries_stuck_after_seconds` is reported once, then recovered."""
        fault = canvas.faults.add(kind=FaultKind.THROTTLE_429, count=None, method="POST")
        short = RetryPolicy(
            initial_seconds=0.01, max_backoff_seconds=0.02, max_elapsed_seconds=0.05, jitter_seconds=0
        )
        pipeline = build(canvas.url, policy=short, alerts={"retries_stuck_after_seconds": 0.2})
        batch_dir = pipeline.sealed()
        running = Background(pipeline)
        background.append(running)

        wait_until(lambda: pipeline.moments.named("retries_stuck"), timeout=5, what="retries reported stuck")
        canvas.faults.remove(fault)
        wait_until(lambda: pipeline.tree.batches("done"), timeout=5, what="a batch in done/")

        running.stop()
        assert [batch_dir.name] == pipeline.moments.named("retries_stuck")
        assert [batch_dir.name] == pipeline.moments.named("retries_recovered")

    def test_a_stop_request_while_paused_ends_the_run(self, pipeline, canvas, background):
        """Shutdown while uploads are paused ends `run` promptly, the batch still queued."""
        canvas.revoke_token()
        batch_dir = pipeline.sealed()
        running = Background(pipeline)
        background.append(running)
        wait_until(lambda: pipeline.moments.named("uploads_paused"), timeout=5, what="uploads paused")

        running.stop()

        assert [batch_dir] == pipeline.tree.batches("queue")
