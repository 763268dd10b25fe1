"""Unit tests for `sis_watcher.pipeline.pre_attachment` recovering: unknown outcomes, restarts, waiting for a sent file."""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from structlog.testing import capture_logs

from sis_watcher.batch.manifest import BatchState
from sis_watcher.canvas.file_upload import (
    Confirm,
    confirm_upload,
    create_with_pre_attachment,
    send_to_storage,
)
from sis_watcher.canvas.preflight import Preflight
from sis_watcher.core.clock import isoformat
from sis_watcher.core.errors import CanvasUnavailable, Stopping, UploadRejected
from sis_watcher.pipeline.attempts import abandoned_revived
from sis_watcher.pipeline.poll import poll
from sis_watcher.pipeline.upload import upload
from sis_watcher.simulator.model.faults import FaultKind

from unit.pipeline.large_uploads import (
    LATER,
    PATIENT,
    QUICK,
    SkewedClock,
    by_pre_attachment,
    processed_once,
    states,
)


class TestUnknownOutcomes:
    def test_a_lost_confirmation_answer_is_confirmed_again_and_400_means_done(self, build, simulator):
        """create_success took effect but its answer was lost: the repeat's empty 400 is "already confirmed"."""
        canvas = simulator(upload_style="s3")
        canvas.faults.add(kind=FaultKind.DROP_AFTER_UPLOAD, path="create_success")
        pipeline = by_pre_attachment(build, canvas)
        batch = pipeline.zipped()

        upload(batch, pipeline.context)

        confirmations = [request.status for request in canvas.requests if "create_success" in request.path]
        assert [None, 400] == confirmations
        assert batch.manifest.zip is not None
        processed_once(canvas, batch.manifest.zip.sha256)
        assert BatchState.IMPORTING == pipeline.on_disk(batch).state

    def test_a_400_to_the_first_confirmation_abandons_that_upload(self, build, simulator):
        """Canvas had nothing pending to confirm: that import is aborted and the upload starts over."""
        canvas = simulator(upload_style="s3")
        canvas.faults.add(kind=FaultKind.STATUS, status=400, path="create_success")
        pipeline = by_pre_attachment(build, canvas)
        batch = pipeline.zipped()

        upload(batch, pipeline.context)

        saved = pipeline.on_disk(batch)
        assert ["aborted"] == states(canvas)[:1]
        assert [canvas.imports[0]["id"]] == saved.upload.abandoned_import_ids
        assert batch.manifest.zip is not None
        processed_once(canvas, batch.manifest.zip.sha256)

    def test_storage_failing_after_the_body_waits_for_the_file_then_starts_over_past_the_grace(
        self, build, canvas
    ):
        """A 502 from storage: its file may still reach the import, so it is waited for, and aborted only long after."""
        canvas.faults.add(kind=FaultKind.STATUS, status=502, path="^/uploads/")
        pipeline = by_pre_attachment(build, canvas, policy=QUICK)
        batch = pipeline.zipped()

        with capture_logs() as logs, pytest.raises(CanvasUnavailable, match="may still get the zip"):
            upload(batch, pipeline.context)

        saved = pipeline.on_disk(batch)
        assert (BatchState.UPLOADING, ["initializing"]) == (saved.state, states(canvas))
        assert saved.upload.file_sending_at is not None
        assert saved.upload.file_sent_at is not None
        assert (1, 1, []) == (
            saved.upload.attempts,
            saved.upload.unknown_outcomes,
            saved.upload.abandoned_import_ids,
        )
        assert any(event["event"] == "upload.waiting_for_file" for event in logs)

        upload(batch, dataclasses.replace(pipeline.context, clock=SkewedClock(LATER)))

        saved = pipeline.on_disk(batch)
        assert (2, "aborted") == (len(canvas.imports), states(canvas)[0])
        assert [canvas.imports[0]["id"]] == saved.upload.abandoned_import_ids
        assert batch.manifest.zip is not None
        processed_once(canvas, batch.manifest.zip.sha256)

    def test_s3_failing_before_any_confirmation_starts_over_at_once(self, build, simulator):
        """S3 tells Canvas nothing by itself: with no confirmation begun, the import can never get the zip; aborted at once."""
        canvas = simulator(upload_style="s3")
        canvas.faults.add(kind=FaultKind.STATUS, status=502, path="^/uploads/")
        pipeline = by_pre_attachment(build, canvas)
        batch = pipeline.zipped()

        upload(batch, pipeline.context)

        saved = pipeline.on_disk(batch)
        assert (2, "aborted") == (len(canvas.imports), states(canvas)[0])
        assert ([canvas.imports[0]["id"]], 1) == (
            saved.upload.abandoned_import_ids,
            saved.upload.unknown_outcomes,
        )
        assert saved.upload.storage_tells_canvas is False
        assert batch.manifest.zip is not None
        processed_once(canvas, batch.manifest.zip.sha256)

    def test_a_capture_after_a_lost_storage_answer_is_adopted_and_imported_once(self, build, canvas):
        """inst-fs keeps the zip, the answer is lost, Canvas hears of it a second later: waited for, adopted, once."""
        canvas.faults.add(kind=FaultKind.LATE_CAPTURE, delay_seconds=1.0, path="^/uploads/")
        pipeline = by_pre_attachment(build, canvas)
        batch = pipeline.zipped()

        upload(batch, pipeline.context)
        poll(batch, pipeline.context)

        saved = pipeline.on_disk(batch)
        assert (True, []) == (saved.upload.adopted, saved.upload.abandoned_import_ids)
        assert ["imported"] == states(canvas)
        assert batch.manifest.zip is not None
        processed_once(canvas, batch.manifest.zip.sha256)

    def test_an_abandoned_import_canvas_revived_is_reported_as_a_duplicate(self, build, canvas):
        """A capture later than the grace revives the aborted import (as Canvas does): logged as a duplicate."""
        canvas.faults.add(kind=FaultKind.LATE_CAPTURE, delay_seconds=2.0, path="^/uploads/")
        pipeline = by_pre_attachment(build, canvas, policy=QUICK)
        batch = pipeline.zipped()
        with pytest.raises(CanvasUnavailable):
            upload(batch, pipeline.context)
        upload(batch, dataclasses.replace(pipeline.context, clock=SkewedClock(LATER)))
        first = canvas.imports[0]["id"]
        assert [first] == pipeline.on_disk(batch).upload.abandoned_import_ids

        canvas.wait_until(lambda: (canvas.import_json(first) or {}).get("workflow_state") != "aborted")
        with capture_logs() as logs:
            assert [first] == abandoned_revived(batch, pipeline.context)

        [event] = [event for event in logs if event["event"] == "upload.duplicate_detected"]
        assert ("error", [first]) == (event["log_level"], event["duplicates"])

    def test_storage_failing_after_canvas_got_the_file_adopts_the_import(self, build, canvas):
        """A 502 after inst-fs told Canvas: the import left `initializing`, so it is ours and adopted."""
        canvas.faults.add(kind=FaultKind.STATUS, status=502, path="^/uploads/", process_first=True)
        pipeline = by_pre_attachment(build, canvas)
        batch = pipeline.zipped()

        upload(batch, pipeline.context)

        saved = pipeline.on_disk(batch)
        assert saved.upload.adopted is True
        assert (1, []) == (saved.upload.attempts, saved.upload.abandoned_import_ids)
        assert 1 == len(canvas.imports)

    def test_a_lost_create_answer_leaves_an_orphan_that_is_found_and_aborted(self, build, canvas):
        """The create arrived but its answer did not: the `initializing` import of ours is aborted, then a new upload."""
        canvas.faults.add(kind=FaultKind.DROP_AFTER_UPLOAD, method="POST", path="sis_imports")
        pipeline = by_pre_attachment(build, canvas)
        batch = pipeline.zipped()

        with capture_logs() as logs:
            upload(batch, pipeline.context)

        saved = pipeline.on_disk(batch)
        assert ["aborted"] == states(canvas)[:1]
        assert 2 == len(canvas.imports)
        assert [canvas.imports[0]["id"]] == saved.upload.abandoned_import_ids
        assert ["upload.orphan_aborted"] == [
            e["event"] for e in logs if e["event"] == "upload.orphan_aborted"
        ]
        assert batch.manifest.zip is not None
        processed_once(canvas, batch.manifest.zip.sha256)

    def test_unreachable_storage_is_tried_with_the_same_upload_until_it_expires_then_three_times_fresh(
        self, build, simulator
    ):
        """No connection to storage: the same preflight again until it expires, then a new one; the third fails the batch."""
        canvas = simulator(upload_jwt_seconds=1.6)  # 0.6 to 1.6 s by the local clock (`Date` is in seconds)
        pipeline = by_pre_attachment(build, canvas, policy=PATIENT)
        batch = pipeline.zipped()
        assert canvas.storage_listener is not None
        canvas.storage_listener.close()

        with capture_logs() as logs, pytest.raises(UploadRejected) as raised:
            upload(batch, pipeline.context)

        host = httpx.URL(canvas.storage_url).host
        assert str(raised.value).startswith(
            f"the zip did not reach file storage (cannot reach file storage ({host}"
        )
        assert str(raised.value).endswith("(3 fresh pre_attachment uploads in a row)")
        assert ["aborted"] * 3 == states(canvas)
        assert [item["id"] for item in canvas.imports] == pipeline.on_disk(batch).upload.abandoned_import_ids
        retries = [event for event in logs if event["event"] == "upload.retry_scheduled"]
        assert len(retries) > 3  # storage was asked again within each upload's life
        assert [] == canvas.uploads


class TestRecovery:
    def test_a_stop_before_the_zip_reached_storage_starts_over_at_once_after_the_restart(self, build, canvas):
        """Shutdown after the create, before storage has the whole zip: `file_sent_at` is cleared, no wait after."""
        canvas.faults.add(kind=FaultKind.SLOW, delay_seconds=0.3, method="POST", path="sis_imports$")
        pipeline = by_pre_attachment(build, canvas)
        batch = pipeline.zipped()
        stopper = threading.Thread(
            target=lambda: (canvas.wait_until(lambda: bool(canvas.imports)), pipeline.context.stopping.set())
        )
        stopper.start()

        with pytest.raises(Stopping):
            upload(batch, pipeline.context)
        stopper.join()

        saved = pipeline.on_disk(batch)
        assert (BatchState.UPLOADING, None) == (saved.state, saved.upload.file_sent_at)
        assert [] == canvas.storage_uploads
        pipeline.context.stopping.clear()  # the restart
        upload(batch, pipeline.context)
        saved = pipeline.on_disk(batch)
        assert (2, "aborted", 0) == (len(canvas.imports), states(canvas)[0], saved.upload.start_overs)
        assert batch.manifest.zip is not None
        processed_once(canvas, batch.manifest.zip.sha256)

    def test_after_a_crash_an_import_still_waiting_for_its_file_is_aborted_and_the_upload_starts_over(
        self, build, canvas
    ):
        """A restart finds the recorded pending import `initializing`: aborted, then one import runs."""
        pipeline = by_pre_attachment(build, canvas)
        batch = pipeline.zipped()
        created, _preflight = create_with_pre_attachment(
            pipeline.context.client, name="batch.zip", size=1, params={}, now=lambda: datetime.now(UTC)
        )
        batch.manifest.upload.method = "pre_attachment"
        batch.manifest.upload.started_at = batch.now_text()
        batch.manifest.upload.pending_import_id = created["id"]
        batch.advance(BatchState.UPLOADING)

        upload(batch, pipeline.context)

        saved = pipeline.on_disk(batch)
        assert [created["id"]] == saved.upload.abandoned_import_ids
        assert ["aborted"] == states(canvas)[:1]
        assert 2 == len(canvas.imports)
        assert saved.canvas.import_id != created["id"]

    def test_an_instance_without_pre_attachment_falls_back_to_direct_logged_once(self, build, simulator):
        """The create answers no `pre_attachment`: its import is aborted, logged once, and every batch goes direct."""
        canvas = simulator(pre_attachment_supported=False)
        pipeline = by_pre_attachment(build, canvas)
        first = pipeline.zipped()

        with capture_logs() as logs:
            upload(first, pipeline.context)
            second = pipeline.zipped(
                ("courses.csv", b"course_id,short_name,long_name,status\nC9,S9,L9,active\n")
            )
            upload(second, pipeline.context)

        assert 1 == sum(event["event"] == "upload.pre_attachment_unsupported" for event in logs)
        assert "direct" == pipeline.on_disk(first).upload.method == pipeline.on_disk(second).upload.method
        creates = [request for request in canvas.requests if request.method == "POST"]
        assert 1 == sum("pre_attachment" in request.query for request in creates)
        assert 3 == len(creates)
        assert "aborted" == states(canvas)[0]
        assert pipeline.on_disk(first).upload.abandoned_import_ids == [canvas.imports[0]["id"]]

    def test_an_abort_cut_short_is_done_again_before_the_direct_upload(self, build, simulator):
        """The unsupported instance's import could not be aborted at first: the next attempt aborts it, then posts."""
        canvas = simulator(pre_attachment_supported=False)
        canvas.faults.add(kind=FaultKind.STATUS, status=502, method="PUT", path="abort$")
        pipeline = by_pre_attachment(build, canvas)
        batch = pipeline.zipped()

        upload(batch, pipeline.context)

        saved = pipeline.on_disk(batch)
        aborts = [request.status for request in canvas.requests if request.path.endswith("/abort")]
        assert [502, 200] == aborts
        assert "aborted" == states(canvas)[0]
        assert ("direct", [canvas.imports[0]["id"]]) == (
            saved.upload.method,
            saved.upload.abandoned_import_ids,
        )


def crashed_after_the_create(batch, context, *, sent: bool) -> tuple[int, Preflight]:
    """Leave `batch` as a SIGKILL after the create does: the pending import recorded, the body sending."""
    assert batch.manifest.zip is not None
    zip_path = batch.path(batch.manifest.zip.name)
    created, preflight = create_with_pre_attachment(
        context.client,
        name=zip_path.name,
        size=zip_path.stat().st_size,
        params={},
        now=lambda: datetime.now(UTC),
    )
    assert isinstance(preflight, Preflight)
    upload = batch.manifest.upload
    upload.method, upload.started_at, upload.attempts = "pre_attachment", batch.now_text(), 1
    upload.pending_import_id, upload.expires_at = created["id"], isoformat(preflight.expires_at)
    upload.storage_tells_canvas = preflight.storage_tells_canvas
    upload.file_sending_at = batch.now_text()
    upload.file_sent_at = batch.now_text() if sent else None
    batch.advance(BatchState.UPLOADING)
    return created["id"], preflight


class TestCrashRecovery:
    def test_a_crash_mid_body_aborts_and_uploads_again_at_once(self, build, canvas):
        """Only `file_sending_at`: the body was cut short, storage keeps none of it; no wait, one import runs."""
        pipeline = by_pre_attachment(build, canvas, policy=QUICK)
        batch = pipeline.zipped()
        first, _preflight = crashed_after_the_create(batch, pipeline.context, sent=False)

        with capture_logs() as logs:
            upload(batch, pipeline.context)

        saved = pipeline.on_disk(batch)
        assert (BatchState.IMPORTING, "aborted") == (saved.state, states(canvas)[0])
        assert (2, [first], 0) == (
            len(canvas.imports),
            saved.upload.abandoned_import_ids,
            saved.upload.start_overs,
        )
        assert [] == [event for event in logs if event["event"] == "upload.waiting_for_file"]
        [aborted] = [event for event in logs if event["event"] == "upload.orphan_aborted"]
        assert (first, "its file was cut short") == (aborted["import_id"], aborted["reason"])
        assert batch.manifest.zip is not None
        processed_once(canvas, batch.manifest.zip.sha256)

    def test_a_crash_once_the_whole_body_went_out_waits_for_the_file(self, build, canvas):
        """`file_sent_at`: storage may keep the zip and tell Canvas late; the import is waited for, not aborted."""
        pipeline = by_pre_attachment(build, canvas, policy=QUICK)
        batch = pipeline.zipped()
        first, _preflight = crashed_after_the_create(batch, pipeline.context, sent=True)

        with pytest.raises(CanvasUnavailable, match="may still get the zip"):
            upload(batch, pipeline.context)

        assert (["initializing"], []) == (states(canvas), pipeline.on_disk(batch).upload.abandoned_import_ids)
        assert first == canvas.imports[0]["id"]

    @pytest.mark.parametrize(
        "confirmed_before", [False, True], ids=["before-it-went", "after-it-took-effect"]
    )
    def test_a_crash_during_the_s3_confirmation_confirms_again_and_adopts_at_once(
        self, build, simulator, confirmed_before
    ):
        """The recorded create_success URL is asked (again) with the token, or the import it attached adopted; one import."""
        canvas = simulator(upload_style="s3")
        pipeline = by_pre_attachment(build, canvas, policy=QUICK)
        batch = pipeline.zipped()
        first, preflight = crashed_after_the_create(batch, pipeline.context, sent=True)
        assert batch.manifest.zip is not None
        answer = send_to_storage(pipeline.context.client, preflight, batch.path(batch.manifest.zip.name))
        assert isinstance(answer, Confirm)
        if confirmed_before:
            assert confirm_upload(pipeline.context.client, answer.url, repeat=False)
        batch.manifest.upload.confirming_at = batch.now_text()
        batch.manifest.upload.confirmation_url = answer.url
        batch.save()

        with capture_logs() as logs:
            upload(batch, pipeline.context)

        saved = pipeline.on_disk(batch)
        confirmations = [request.status for request in canvas.requests if "create_success" in request.path]
        assert [200] == confirmations  # the one before the crash took effect: the import left `initializing`
        assert (BatchState.IMPORTING, first, True, []) == (
            saved.state,
            saved.canvas.import_id,
            saved.upload.adopted,
            saved.upload.abandoned_import_ids,
        )
        assert 1 == len(canvas.imports)
        assert [] == [event for event in logs if event["event"] == "upload.waiting_for_file"]
        processed_once(canvas, batch.manifest.zip.sha256)

    def test_a_refused_confirmation_falls_back_to_waiting_for_the_file(self, build, simulator):
        """Canvas refuses the repeated confirmation (a 4xx, not its 400): the sent file is waited for as before."""
        canvas = simulator(upload_style="s3")
        canvas.faults.add(kind=FaultKind.STATUS, status=422, count=None, path="create_success")
        pipeline = by_pre_attachment(build, canvas, policy=QUICK)
        batch = pipeline.zipped()
        crashed_after_the_create(batch, pipeline.context, sent=True)
        batch.manifest.upload.confirming_at = batch.now_text()
        batch.manifest.upload.confirmation_url = f"{canvas.url}/api/v1/files/1/create_success?uuid=x"
        batch.save()

        with pytest.raises(CanvasUnavailable, match="may still get the zip"):
            upload(batch, pipeline.context)

        assert {422} == {request.status for request in canvas.requests if "create_success" in request.path}
        assert ["initializing"] == states(canvas)

    def test_a_recorded_confirmation_off_canvas_origin_is_never_sent_the_token(self, build, simulator):
        """A confirmation URL on another origin (an edited manifest) is not asked: the sent file is waited for."""
        canvas = simulator(upload_style="s3")
        pipeline = by_pre_attachment(build, canvas, policy=QUICK)
        batch = pipeline.zipped()
        crashed_after_the_create(batch, pipeline.context, sent=True)
        batch.manifest.upload.confirming_at = batch.now_text()
        batch.manifest.upload.confirmation_url = f"{canvas.storage_url}/api/v1/files/1/create_success?uuid=x"
        batch.save()

        with pytest.raises(CanvasUnavailable, match="may still get the zip"):
            upload(batch, pipeline.context)

        assert [] == [request for request in canvas.requests if "create_success" in request.path]
        assert [] == canvas.storage_uploads
        assert ["initializing"] == states(canvas)


class TestDirectRecovery:
    def test_an_old_initializing_import_does_not_hold_up_a_direct_recovery(self, build, canvas):
        """Someone's pre_attachment import waits `initializing` for ever: a direct recovery passes over it once stale."""
        pipeline = build(canvas.url, policy=QUICK, upload={"method": "direct"})
        create_with_pre_attachment(
            pipeline.context.client, name="x.zip", size=1, params={}, now=lambda: datetime.now(UTC)
        )
        canvas.faults.add(kind=FaultKind.DROP, method="POST", path="sis_imports")
        batch = pipeline.zipped()
        with pytest.raises(CanvasUnavailable, match="waiting for Canvas to start"):
            upload(batch, pipeline.context)  # a fresh one could be our direct POST's: waited for

        upload(batch, dataclasses.replace(pipeline.context, clock=SkewedClock(timedelta(minutes=-8))))

        saved = pipeline.on_disk(batch)
        assert (BatchState.IMPORTING, "direct") == (saved.state, saved.upload.method)
        assert "initializing" == states(canvas)[0]
        assert [saved.canvas.import_id] == [item["id"] for item in canvas.imports[1:]]
