"""Unit tests for `sis_watcher.pipeline.upload`: zipped -> uploading -> importing, never twice."""

from __future__ import annotations

import threading
import zipfile
from datetime import timedelta

import pytest

from sis_watcher.batch.manifest import BatchState
from sis_watcher.core.backoff import RetryPolicy
from sis_watcher.core.clock import isoformat
from sis_watcher.core.errors import CanvasUnavailable, UploadRejected
from sis_watcher.pipeline.upload import attempt_upload, recover, upload
from sis_watcher.simulator.model.faults import FaultKind

from support import wait_until


def list_requests(canvas) -> list[str]:
    """Return the paths of the `GET .../sis_imports` look-ups Canvas received."""
    return [
        request.path
        for request in canvas.requests
        if request.method == "GET" and request.path.endswith("/sis_imports")
    ]


def left_uploading(pipeline, *, seconds_ago: float = 1.0):
    """Return a zipped batch as a crash after recording the upload's start leaves it."""
    batch = pipeline.zipped()
    batch.manifest.upload.started_at = isoformat(batch.clock.now() - timedelta(seconds=seconds_ago))
    batch.manifest.upload.attempts = 1
    batch.advance(BatchState.UPLOADING)
    return batch


class TestUpload:
    def test_a_zipped_batch_is_uploaded_once_and_importing(self, pipeline, canvas):
        """A zipped batch is POSTed once and saved as `importing` with Canvas's import id."""
        batch = pipeline.zipped()

        upload(batch, pipeline.context)

        [received] = canvas.uploads
        saved = pipeline.on_disk(batch)
        assert BatchState.IMPORTING == saved.state
        assert received.import_id == saved.canvas.import_id
        assert batch.manifest.zip is not None
        assert batch.manifest.zip.sha256 == received.sha256
        assert 1 == saved.upload.attempts
        assert saved.upload.finished_at is not None
        assert saved.upload.adopted is False
        assert [] == list_requests(canvas)

    def test_the_configured_import_options_are_sent(self, build, canvas):
        """Canvas receives the `import:` options of the config as create parameters."""
        pipeline = build(canvas.url, **{"import": {"override_sis_stickiness": True, "skip_deletes": False}})
        batch = pipeline.zipped()

        upload(batch, pipeline.context)

        [received] = canvas.uploads
        assert "true" == received.params.get("override_sis_stickiness")
        assert "skip_deletes" not in received.params

    def test_a_gateway_503_is_looked_up_then_sent_again_making_one_import(self, pipeline, canvas):
        """Two 503s from the create are unknown outcomes: Canvas is asked each time, and one import results."""
        canvas.faults.add(kind=FaultKind.STATUS, status=503, count=2, method="POST")
        batch = pipeline.zipped()

        upload(batch, pipeline.context)

        saved = pipeline.on_disk(batch)
        assert 1 == len(canvas.uploads)
        assert BatchState.IMPORTING == saved.state
        assert 3 == saved.upload.attempts
        assert 2 == saved.upload.unknown_outcomes
        assert 2 == len(list_requests(canvas))
        assert ["upload", "upload"] == pipeline.moments.named("retry_scheduled")

    def test_a_throttled_create_goes_back_to_zipped_and_is_sent_again_without_a_look_up(
        self, pipeline, canvas
    ):
        """A 429 proves Canvas never took the upload: the next try POSTs at once, no import list is read."""
        canvas.faults.add(kind=FaultKind.THROTTLE_429, count=1, method="POST")
        batch = pipeline.zipped()

        upload(batch, pipeline.context)

        saved = pipeline.on_disk(batch)
        assert 1 == len(canvas.uploads)
        assert 2 == saved.upload.attempts
        assert 0 == saved.upload.unknown_outcomes
        assert [] == list_requests(canvas)
        assert "upload did not reach Canvas" in [entry.note for entry in saved.history]

    def test_a_400_from_the_create_raises_upload_rejected_and_leaves_the_batch_zipped(self, pipeline, canvas):
        """Canvas refusing the upload itself is a verdict: `UploadRejected`, batch back in `zipped`, not retried."""
        canvas.faults.add(kind=FaultKind.STATUS, status=400, count=None, method="POST")
        batch = pipeline.zipped()

        with pytest.raises(UploadRejected, match="HTTP 400"):
            upload(batch, pipeline.context)

        saved = pipeline.on_disk(batch)
        assert BatchState.ZIPPED == saved.state
        assert "Canvas refused the upload" == saved.history[-1].note
        assert 1 == saved.upload.attempts
        assert [] == canvas.uploads
        assert [] == pipeline.moments.named("retry_scheduled")

    def test_an_answer_lost_after_the_upload_adopts_the_import_instead_of_uploading_twice(
        self, pipeline, canvas
    ):
        """Canvas created the import but hung up: the retry finds that import and adopts it."""
        canvas.faults.add(kind=FaultKind.DROP_AFTER_UPLOAD, count=1, method="POST")
        batch = pipeline.zipped()

        upload(batch, pipeline.context)

        [received] = canvas.uploads
        saved = pipeline.on_disk(batch)
        assert BatchState.IMPORTING == saved.state
        assert received.import_id == saved.canvas.import_id
        assert saved.upload.adopted is True
        assert 1 == saved.upload.attempts
        assert 1 == saved.upload.unknown_outcomes

    def test_canvas_down_for_the_whole_budget_raises_and_keeps_the_batch_uploading(self, build, canvas):
        """Retries running out raise `CanvasUnavailable`; the batch stays `uploading`, its outcome unknown."""
        canvas.faults.add(kind=FaultKind.STATUS, status=502, count=None, method="POST")
        short = RetryPolicy(
            initial_seconds=0.01, max_backoff_seconds=0.02, max_elapsed_seconds=0.1, jitter_seconds=0
        )
        pipeline = build(canvas.url, policy=short)
        batch = pipeline.zipped()

        with pytest.raises(CanvasUnavailable, match="HTTP 502"):
            upload(batch, pipeline.context)

        saved = pipeline.on_disk(batch)
        assert BatchState.UPLOADING == saved.state
        assert saved.upload.attempts == saved.upload.unknown_outcomes
        assert [] == canvas.uploads


class TestAttemptUpload:
    def test_the_start_is_saved_before_the_post_is_answered(self, pipeline, canvas):
        """While the POST is in flight, manifest.json already says `uploading` with its start and attempt."""
        canvas.faults.add(kind=FaultKind.SLOW, count=1, method="POST", delay_seconds=0.5)
        batch = pipeline.zipped()
        sending = threading.Thread(target=attempt_upload, args=(batch, pipeline.context))
        sending.start()
        try:
            wait_until(lambda: canvas.state()["in_flight"] >= 1, timeout=5, what="the POST in flight")
            in_flight = pipeline.on_disk(batch)
        finally:
            sending.join(timeout=10)

        assert BatchState.UPLOADING == in_flight.state
        assert in_flight.upload.started_at is not None
        assert 1 == in_flight.upload.attempts
        assert in_flight.canvas.import_id is None
        assert BatchState.IMPORTING == pipeline.on_disk(batch).state

    def test_a_connection_dropped_with_no_answer_counts_an_unknown_outcome(self, pipeline, canvas):
        """A hang-up after the body went out keeps the batch `uploading` and counts the unknown outcome."""
        canvas.faults.add(kind=FaultKind.DROP, count=1, method="POST")
        batch = pipeline.zipped()

        with pytest.raises(CanvasUnavailable) as raised:
            attempt_upload(batch, pipeline.context)

        saved = pipeline.on_disk(batch)
        assert raised.value.request_may_have_arrived is True
        assert BatchState.UPLOADING == saved.state
        assert 1 == saved.upload.unknown_outcomes
        assert [] == canvas.uploads

    def test_an_uploading_batch_with_nothing_in_canvas_is_sent_again(self, pipeline, canvas):
        """Resuming `uploading` when Canvas holds no import of ours: looked up once, then POSTed once."""
        batch = left_uploading(pipeline)

        attempt_upload(batch, pipeline.context)

        saved = pipeline.on_disk(batch)
        assert 1 == len(canvas.uploads)
        assert 1 == len(list_requests(canvas))
        assert 2 == saved.upload.attempts
        assert saved.upload.adopted is False


class TestRecover:
    def test_an_import_of_the_same_zip_made_since_the_start_is_adopted(self, pipeline, canvas):
        """An import whose attachments match the zip's members is recorded as ours, without a POST."""
        batch = left_uploading(pipeline)
        created = pipeline.context.client.create_import(batch.path("batch.zip"), params={})
        canvas.wait_for_state(created["id"])

        assert recover(batch, pipeline.context) is True

        saved = pipeline.on_disk(batch)
        assert BatchState.IMPORTING == saved.state
        assert created["id"] == saved.canvas.import_id
        assert saved.upload.adopted is True
        assert 1 == len(canvas.uploads)

    def test_nothing_found_returns_false_and_changes_nothing(self, pipeline, canvas):
        """With no import since the start, recovery says "not found" and the batch stays `uploading`."""
        batch = left_uploading(pipeline)

        assert recover(batch, pipeline.context) is False

        saved = pipeline.on_disk(batch)
        assert BatchState.UPLOADING == saved.state
        assert saved.canvas.import_id is None

    def test_an_import_of_different_files_is_not_adopted(self, pipeline, canvas):
        """Another zip's import in the window is not ours: recovery finds nothing."""
        batch = left_uploading(pipeline)
        other = pipeline.tree.root / "other.zip"
        with zipfile.ZipFile(other, "w") as archive:
            archive.writestr("courses.csv", "course_id,short_name,long_name,status\nC9,X,Y,active\n")
        created = pipeline.context.client.create_import(other, params={})
        canvas.wait_for_state(created["id"])

        assert recover(batch, pipeline.context) is False

        assert BatchState.UPLOADING == pipeline.on_disk(batch).state

    def test_an_import_an_earlier_attempt_recorded_is_not_adopted_again(self, pipeline, canvas):
        """A retried batch never adopts the import its previous attempt already recorded."""
        batch = left_uploading(pipeline)
        created = pipeline.context.client.create_import(batch.path("batch.zip"), params={})
        canvas.wait_for_state(created["id"])
        batch.manifest.previous_attempts = [{"canvas": {"import_id": created["id"]}}]
        batch.save()

        assert recover(batch, pipeline.context) is False

        assert pipeline.on_disk(batch).canvas.import_id is None

    def test_an_import_canvas_has_not_started_yet_is_waited_for(self, pipeline, canvas):
        """A candidate still `initializing` may be ours: recovery raises a retryable `CanvasUnavailable`."""
        canvas.faults.add(kind=FaultKind.STUCK_INITIALIZING, count=1, method="POST")
        batch = left_uploading(pipeline)
        created = pipeline.context.client.create_import(batch.path("batch.zip"), params={})

        with pytest.raises(
            CanvasUnavailable, match=f"waiting for Canvas to start import\\(s\\) \\[{created['id']}\\]"
        ):
            recover(batch, pipeline.context)

        assert BatchState.UPLOADING == pipeline.on_disk(batch).state
