"""Unit tests for `sis_watcher.pipeline.pre_attachment`: the large-upload flow against the simulator, never twice."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from structlog.testing import capture_logs

from sis_watcher.batch.manifest import BatchState
from sis_watcher.core.errors import UploadRejected
from sis_watcher.pipeline.context import StageContext
from sis_watcher.pipeline.poll import poll
from sis_watcher.pipeline.upload import upload
from sis_watcher.simulator.model.faults import FaultKind

from unit.pipeline.large_uploads import (
    PATIENT,
    QUICK,
    SkewedClock,
    by_pre_attachment,
    processed_once,
    states,
)


@pytest.fixture(params=["inst_fs", "s3"])
def style(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class TestFlow:
    def test_a_zip_above_the_threshold_goes_by_pre_attachment_once(self, build, simulator, style):
        """`auto` with a zip above direct_max_bytes: create, storage, (confirmation), one import, no token at storage."""
        canvas = simulator(upload_style=style)
        pipeline = build(canvas.url, upload={"method": "auto", "direct_max_bytes": 100})
        batch = pipeline.zipped()

        upload(batch, pipeline.context)

        saved = pipeline.on_disk(batch)
        assert BatchState.IMPORTING == saved.state
        assert "pre_attachment" == saved.upload.method
        assert saved.upload.expires_at is not None
        assert saved.upload.file_sent_at is not None
        assert (saved.upload.confirming_at is not None) == (style == "s3")
        assert saved.upload.pending_import_id is None
        assert [] == saved.upload.abandoned_import_ids
        assert batch.manifest.zip is not None
        processed_once(canvas, batch.manifest.zip.sha256)
        assert [saved.canvas.import_id] == [item["id"] for item in canvas.imports]
        poll(batch, pipeline.context)
        assert "imported" == batch.manifest.canvas.workflow_state

    def test_an_import_still_initializing_once_storage_kept_the_zip_is_polled_then_given_up(
        self, build, canvas
    ):
        """Storage kept the zip but Canvas shows `initializing`: recorded and polled as unfinished; the give-up applies."""
        canvas.faults.add(kind=FaultKind.STUCK_INITIALIZING, method="POST", path="sis_imports$")
        pipeline = by_pre_attachment(
            build,
            canvas,
            poll={"interval_seconds": 0.05, "warn_after_seconds": 0.4, "give_up_after_seconds": 0.5},
        )
        batch = pipeline.zipped()

        upload(batch, pipeline.context)

        saved = pipeline.on_disk(batch)
        assert (BatchState.IMPORTING, "initializing") == (saved.state, saved.canvas.workflow_state)
        poll(batch, pipeline.context)
        assert BatchState.FAILED == batch.state
        assert f"Canvas import {saved.canvas.import_id} was still initializing" in (
            batch.manifest.outcome.reason or ""
        )
        assert ["initializing"] == states(canvas)

    def test_a_zip_at_the_threshold_goes_directly(self, build, canvas):
        """`auto` with a small zip: the direct POST, as before."""
        pipeline = build(canvas.url, upload={"method": "auto", "direct_max_bytes": 10_000})
        batch = pipeline.zipped()

        upload(batch, pipeline.context)

        assert "direct" == pipeline.on_disk(batch).upload.method
        assert ["direct"] == [received.method for received in canvas.uploads]
        assert [] == canvas.storage_uploads

    def test_the_import_options_go_with_the_create(self, build, canvas):
        """Canvas stores the options of the pre_attachment create on the import."""
        pipeline = by_pre_attachment(build, canvas, **{"import": {"override_sis_stickiness": True}})
        batch = pipeline.zipped()

        upload(batch, pipeline.context)

        [received] = canvas.uploads
        assert "true" == received.params["override_sis_stickiness"]
        assert canvas.imports[0]["override_sis_stickiness"] is True

    def test_retry_remaster_is_sent_with_the_create(self, build, canvas):
        """A batch re-driven by `retry --remaster` asks for the remaster in its pre_attachment create."""
        pipeline = by_pre_attachment(build, canvas)
        batch = pipeline.zipped()
        batch.manifest.upload.remaster = True

        upload(batch, pipeline.context)

        assert "true" == canvas.uploads[0].params["diffing_remaster_data_set"]

    def test_an_unusable_file_is_canvas_verdict_file_upload_failed(self, build, canvas):
        """Storage kept the file but Canvas cannot use it: the import fails with "File upload failed"."""
        canvas.faults.add(kind=FaultKind.UNUSABLE_FILE, path="^/uploads/")
        pipeline = by_pre_attachment(build, canvas)
        batch = pipeline.zipped()

        upload(batch, pipeline.context)
        poll(batch, pipeline.context)

        assert "failed" == batch.manifest.canvas.workflow_state
        assert "File upload failed" == batch.manifest.canvas.error_message


class TestExpiry:
    def test_an_upload_that_expired_before_it_was_sent_is_aborted_not_sent_three_times_then_the_batch_fails(
        self, build, simulator
    ):
        """An upload whose JWT has already expired is never posted: aborted; the third such start fails the batch."""
        canvas = simulator(upload_jwt_seconds=0.0)
        pipeline = by_pre_attachment(build, canvas, policy=PATIENT)
        batch = pipeline.zipped()

        with pytest.raises(UploadRejected, match="expired before it was sent"):
            upload(batch, pipeline.context)

        assert [] == canvas.storage_uploads
        assert ["aborted"] * 3 == states(canvas)

    @pytest.mark.parametrize("offset", [timedelta(minutes=-11), timedelta(minutes=11)])
    def test_a_clock_eleven_minutes_off_still_sends_once(self, build, canvas, offset):
        """The expiry is the upload's lifetime from Canvas's `Date`: a clock fast or slow by 11 minutes sends, once."""
        pipeline = by_pre_attachment(build, canvas, policy=QUICK)
        batch = pipeline.zipped()

        upload(batch, dataclasses.replace(pipeline.context, clock=SkewedClock(offset)))

        assert BatchState.IMPORTING == pipeline.on_disk(batch).state
        assert 1 == len(canvas.imports)
        assert batch.manifest.zip is not None
        processed_once(canvas, batch.manifest.zip.sha256)

    def test_storage_refusing_an_expired_upload_starts_over_three_times_then_fails_in_storage_words(
        self, build, simulator
    ):
        """Storage refuses every upload: three imports, all aborted, and the batch fails with storage's status."""
        canvas = simulator(upload_style="s3")
        canvas.faults.add(kind=FaultKind.STATUS, status=403, count=None, path="^/uploads/")
        pipeline = by_pre_attachment(build, canvas, policy=PATIENT)
        batch = pipeline.zipped()

        with pytest.raises(UploadRejected) as raised:
            upload(batch, pipeline.context)

        assert "file storage refused the upload (HTTP 403) (3 fresh pre_attachment uploads in a row)" == str(
            raised.value
        )
        assert ["fault status"] * 3 == [record.reason for record in canvas.storage_uploads]
        assert ["aborted"] * 3 == states(canvas)
        assert "Policy" not in str(pipeline.on_disk(batch).model_dump())


def trapped(context: StageContext) -> StageContext:
    """A context whose create Canvas refuses after saving its row: multi-term batch mode, no change_threshold."""
    options = context.config.import_options.model_copy(update={"multi_term_batch_mode": True})
    return dataclasses.replace(context, config=context.config.model_copy(update={"import_options": options}))


class TestPermanentProblems:
    def test_plain_http_storage_fails_the_batch_after_one_import_aborted(self, build, simulator):
        """Storage named by a remote host over plain http: nothing sent, that import aborted, the batch refused once."""
        canvas = simulator(upload_host="storage.example.com")
        pipeline = by_pre_attachment(build, canvas, policy=PATIENT)
        batch = pipeline.zipped()

        with pytest.raises(
            UploadRejected, match=r"file storage \(storage.example.com\) takes uploads over plain http"
        ):
            upload(batch, pipeline.context)

        assert ["aborted"] == states(canvas)
        assert [] == canvas.storage_uploads
        assert [canvas.imports[0]["id"]] == pipeline.on_disk(batch).upload.abandoned_import_ids

    def test_a_confirmation_off_canvas_origin_fails_the_batch(self, build, simulator):
        """Storage redirects to another origin than canvas.base_url: the token is not sent, the import is aborted, once."""
        canvas = simulator(upload_style="s3")
        pipeline = build(canvas.url.replace("127.0.0.1", "localhost"), upload={"method": "pre_attachment"})
        batch = pipeline.zipped()

        with pytest.raises(UploadRejected, match=r"sent the confirmation to 127\.0\.0\.1, not Canvas"):
            upload(batch, pipeline.context)

        assert ["aborted"] == states(canvas)
        assert [] == [request for request in canvas.requests if "create_success" in request.path]

    def test_a_refused_create_has_its_orphan_aborted(self, build, canvas):
        """Canvas's 400 early return keeps the `initializing` row (docs/canvas.md §A1): it is found and aborted."""
        pipeline = by_pre_attachment(build, canvas)
        context = trapped(pipeline.context)
        batch = pipeline.zipped()

        with capture_logs() as logs, pytest.raises(UploadRejected, match="change_threshold is required"):
            upload(batch, context)

        assert ["aborted"] == states(canvas)
        assert [canvas.imports[0]["id"]] == [
            e["import_id"] for e in logs if e["event"] == "upload.orphan_aborted"
        ]

    def test_a_failed_orphan_look_up_after_a_refused_create_still_refuses(self, build, canvas):
        """The look-up for the orphan cannot be made: logged, and the refusal is what the batch gets."""
        canvas.faults.add(kind=FaultKind.STATUS, status=503, count=None, method="GET", path="sis_imports$")
        pipeline = by_pre_attachment(build, canvas)
        context = trapped(pipeline.context)
        batch = pipeline.zipped()

        with capture_logs() as logs, pytest.raises(UploadRejected):
            upload(batch, context)

        assert ["upload.orphan_lookup_failed"] == [
            e["event"] for e in logs if e["event"].startswith("upload.orphan")
        ]
