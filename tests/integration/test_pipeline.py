"""
The whole pipeline in one process: real threads, real watchdog observers (inotify and polling),
real folders, and the Canvas simulator over loopback HTTP.
"""

from __future__ import annotations

import hashlib
import zipfile

import pytest

from sis_watcher.simulator.canvas import CanvasSimulator, SimulatorSettings
from sis_watcher.simulator.model.faults import FaultKind

from support import BAD_HEADER_CSV, COURSES_CSV, ENROLLMENTS_CSV, TOKEN, USERS_CSV, drop_file, wait_until


@pytest.mark.parametrize("polling", [False, True], ids=["inotify", "polling"])
def test_an_export_goes_from_drop_to_done(tree, canvas, run_daemon, polling):
    """Files dropped while the daemon runs are sealed, imported and filed, with either observer."""
    config = tree.write_config(canvas.url, intake={"polling": polling, "rescan_seconds": 60})
    running = run_daemon(config)
    wait_until(running.daemon.intake.first_scan_done.is_set, what="the start-up scan")

    drop_file(tree.drop, "users.csv", USERS_CSV)
    drop_file(tree.drop, "enrollments.csv", ENROLLMENTS_CSV)
    wait_until(lambda: tree.batches("done"), what="a batch in done/")

    assert running.stop() == 0
    [batch] = tree.batches("done")
    assert [name for name in running.recorder.names() if name.startswith("batch_")] == [
        "batch_sealed",
        "batch_filed",
    ]
    assert ("batch_filed", (batch.name, "done")) in running.recorder.moments
    assert len(canvas.uploads) == 1
    assert tree.batches("queue") == []


def test_a_revoked_token_pauses_uploads_and_a_restored_one_resumes_them(tree, canvas, run_daemon):
    """401 pauses uploads without failing the batch; once the token works again it is imported."""
    config = tree.write_config(canvas.url)
    canvas.revoke_token()
    running = run_daemon(config)
    drop_file(tree.drop, "users.csv", USERS_CSV)

    wait_until(lambda: "uploads_paused" in running.recorder.names(), what="uploads paused")
    assert tree.batches("failed") == []
    canvas.restore_token()
    wait_until(lambda: tree.batches("done"), timeout=30, what="a batch in done/")

    assert "uploads_resumed" in running.recorder.names()
    assert running.stop() == 0


def test_canvas_down_longer_than_the_retry_budget_keeps_the_batch_queued(tree, canvas, run_daemon):
    """Retries running out never fail a batch: it waits in the queue and goes once Canvas is back."""
    fault = canvas.faults.add(kind=FaultKind.STATUS, status=503, count=None, path="sis_imports")
    config = tree.write_config(
        canvas.url,
        retry={"initial_backoff_seconds": 0.05, "max_backoff_seconds": 0.2, "max_elapsed_seconds": 0.5},
    )
    running = run_daemon(config)
    drop_file(tree.drop, "users.csv", USERS_CSV)

    wait_until(lambda: canvas.faults.fired(fault) >= 6, what="several failed attempts")
    assert tree.batches("failed") == []
    assert len(tree.batches("queue")) == 1
    canvas.faults.remove(fault)
    wait_until(lambda: tree.batches("done"), what="a batch in done/")

    assert len(canvas.imports) == 1
    assert running.stop() == 0


def test_a_connection_dropped_after_the_upload_adopts_the_import_instead_of_uploading_twice(
    tree, canvas, run_daemon
):
    """Canvas created the import but the answer was lost: the daemon finds it and uploads nothing more."""
    canvas.faults.add(kind=FaultKind.DROP_AFTER_UPLOAD, count=1, method="POST", path="sis_imports")
    config = tree.write_config(canvas.url)
    running = run_daemon(config)
    drop_file(tree.drop, "users.csv", USERS_CSV)

    wait_until(lambda: tree.batches("done"), what="a batch in done/")

    assert len(canvas.uploads) == 1
    manifest = tree.manifest(tree.batches("done")[0])
    assert manifest["upload"]["adopted"] is True
    assert canvas.uploads[0].import_id == manifest["canvas"]["import_id"]
    assert running.stop() == 0


def test_an_import_stuck_past_give_up_fails_the_batch_with_its_id_and_state(tree, canvas, run_daemon):
    """A stuck import is reported once after warn_after, then failed with its id and last state."""
    canvas.faults.add(kind=FaultKind.STUCK_IMPORTING, count=1, method="POST", path="sis_imports")
    config = tree.write_config(
        canvas.url,
        poll={
            "interval_seconds": 0.05,
            "max_interval_seconds": 0.1,
            "warn_after_seconds": 0.3,
            "give_up_after_seconds": 1.0,
        },
    )
    running = run_daemon(config)
    drop_file(tree.drop, "users.csv", USERS_CSV)

    wait_until(lambda: tree.batches("failed"), what="a batch in failed/")

    manifest = tree.manifest(tree.batches("failed")[0])
    import_id = manifest["canvas"]["import_id"]
    assert f"Canvas import {import_id} was still importing" in manifest["outcome"]["reason"]
    assert [("import_stuck", import_id)] == [
        moment for moment in running.recorder.moments if moment[0] == "import_stuck"
    ]
    assert running.stop() == 0


def test_trigger_mode_seals_only_when_the_trigger_appears_and_keeps_it_out_of_the_zip(
    tree, canvas, run_daemon
):
    """With trigger_file READY, nothing is sealed until READY appears; READY is filed but not zipped."""
    config = tree.write_config(canvas.url, intake={"trigger_file": "READY", "quiet_seconds": 0.1})
    running = run_daemon(config)
    drop_file(tree.drop, "users.csv", USERS_CSV)
    drop_file(tree.drop, "courses.csv", COURSES_CSV)
    wait_until(running.daemon.intake.first_scan_done.is_set)

    assert tree.batches("queue") + tree.batches("done") == []
    drop_file(tree.drop, "READY", b"")
    wait_until(lambda: tree.batches("done"), what="a batch in done/")

    [batch] = tree.batches("done")
    assert (batch / "READY").exists()
    assert {"users.csv", "courses.csv"} == {member.name for member in canvas.uploads[0].members}
    assert running.stop() == 0


def test_a_dropped_zip_is_its_own_batch_and_is_uploaded_as_it_is(tree, canvas, run_daemon, tmp_path):
    """A .zip in the drop folder is one batch, its bytes uploaded unchanged."""
    source = tmp_path / "export.zip"
    with zipfile.ZipFile(source, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("users.csv", USERS_CSV)
        archive.writestr("courses.csv", COURSES_CSV)
    data = source.read_bytes()
    config = tree.write_config(canvas.url)
    running = run_daemon(config)
    drop_file(tree.drop, "export.zip", data)

    wait_until(lambda: tree.batches("done"), what="a batch in done/")

    [upload] = canvas.uploads
    assert hashlib.sha256(data).hexdigest() == upload.sha256
    manifest = tree.manifest(tree.batches("done")[0])
    assert manifest["source"] == "zip"
    assert {"user", "course"} == {member["csv_type"] for member in manifest["files"][0]["members"]}
    assert running.stop() == 0


def test_strict_validation_fails_a_bad_batch_before_any_upload(tree, canvas, run_daemon):
    """In strict mode a file Canvas would reject is failed before upload, naming file, row and problem."""
    config = tree.write_config(canvas.url)
    running = run_daemon(config)
    drop_file(tree.drop, "users.csv", BAD_HEADER_CSV)

    wait_until(lambda: tree.batches("failed"), what="a batch in failed/")

    assert canvas.uploads == []
    reason = tree.manifest(tree.batches("failed")[0])["outcome"]["reason"]
    assert "users.csv" in reason
    assert "row 1" in reason
    assert running.stop() == 0


def test_a_done_folder_removed_by_hand_is_made_again_when_a_batch_is_filed(tree, canvas, run_daemon):
    """Someone deleted done/ while the daemon runs: the next batch is still filed there."""
    config = tree.write_config(canvas.url)
    running = run_daemon(config)
    wait_until(running.daemon.intake.first_scan_done.is_set)
    tree.done.rmdir()

    drop_file(tree.drop, "users.csv", USERS_CSV)
    wait_until(lambda: tree.batches("done"), what="a batch in a new done/")

    assert 0 == running.stop()


def test_without_an_errors_file_canvas_errors_come_from_the_paginated_errors_endpoint(tree, run_daemon):
    """When Canvas never attaches its errors file, errors.csv is built from every page of the errors API."""
    settings = SimulatorSettings(errors_attachment_delay_seconds=3600)
    with CanvasSimulator(token=TOKEN, settings=settings) as canvas:
        rows = b"".join(b"u%d,l%d,wandering\n" % (index, index) for index in range(150))
        config = tree.write_config(canvas.url)
        running = run_daemon(config)
        drop_file(tree.drop, "users.csv", b"user_id,login_id,status\n" + rows)

        wait_until(lambda: tree.batches("done"), what="a batch in done/")

        [batch] = tree.batches("done")
        lines = (batch / "errors.csv").read_text().splitlines()
        assert "sis_import_id,file,message,row" == lines[0]
        assert 150 == len(lines) - 1
        errors_pages = [request for request in canvas.requests if request.path.endswith("/errors")]
        assert len(errors_pages) >= 2
        assert 0 == running.stop()
