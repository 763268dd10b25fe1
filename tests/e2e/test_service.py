"""
`sis-watcher run` and `once` as users run them: subprocesses, real folders, the simulator.

Given/When/Then in each scenario; every wait is a condition with a deadline.
"""

from __future__ import annotations

import hashlib
import signal
import zipfile

from sis_watcher.simulator.canvas import CanvasSimulator
from sis_watcher.simulator.model.settings import SimulatorSettings

from support import (
    BAD_HEADER_CSV,
    COURSES_CSV,
    ENROLLMENTS_CSV,
    TOKEN,
    USERS_CSV,
    drop_file,
    run_command,
    wait_until,
)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def export_three_files(drop):
    files = {"users.csv": USERS_CSV, "courses.csv": COURSES_CSV, "enrollments.csv": ENROLLMENTS_CSV}
    for name, data in files.items():
        drop_file(drop, name, data)
    return files


class TestRun:
    def test_three_csvs_become_one_import_and_land_in_done_byte_for_byte(self, tree, canvas, service):
        """Users, courses and enrollments dropped together are one batch, one import, filed in done/."""
        config = tree.write_config(canvas.url)
        running = service(config)
        running.wait_for_event("daemon.started")

        files = export_three_files(tree.drop)
        wait_until(lambda: tree.batches("done"), what="a batch in done/")

        [batch] = tree.batches("done")
        for name, data in files.items():
            assert sha256(data) == sha256((batch / name).read_bytes())
        manifest = tree.manifest(batch)
        assert manifest["state"] == "done"
        assert manifest["outcome"]["result"] == "done"
        assert manifest["canvas"]["workflow_state"] == "imported"
        assert {"user", "course", "enrollment"} == {entry["csv_type"] for entry in manifest["files"]}
        [upload] = canvas.uploads
        assert {"users.csv", "courses.csv", "enrollments.csv"} == {member.name for member in upload.members}
        assert upload.params["extension"] == "zip"
        assert upload.content_type.startswith("application/zip")
        with zipfile.ZipFile(batch / "batch.zip") as archive:
            assert sorted(files) == sorted(archive.namelist())
        assert list(tree.drop.iterdir()) == []
        assert running.stop() == 0
        assert running.events("shutdown.completed")

    def test_rejected_batch_lands_in_failed_with_canvas_messages_and_daemon_goes_on(
        self, tree, canvas, service
    ):
        """A batch Canvas fails goes to failed/ with Canvas's words; the next batch still goes to done/."""
        config = tree.write_config(canvas.url, validation={"mode": "off"})
        running = service(config)
        running.wait_for_event("daemon.started")

        drop_file(tree.drop, "users.csv", BAD_HEADER_CSV)
        wait_until(lambda: tree.batches("failed"), what="a batch in failed/")
        drop_file(tree.drop, "courses.csv", COURSES_CSV)
        wait_until(lambda: tree.batches("done"), what="the next batch in done/")

        [failed] = tree.batches("failed")
        manifest = tree.manifest(failed)
        assert manifest["outcome"]["result"] == "failed"
        assert manifest["canvas"]["workflow_state"] == "failed_with_messages"
        assert "Couldn't find Canvas CSV import headers" in manifest["outcome"]["reason"]
        assert "users.csv" in manifest["outcome"]["reason"]
        assert (failed / "errors.csv").read_text().startswith("sis_import_id,file,message,row")
        assert canvas.downloads, "the errors file was fetched through the storage redirect"
        assert not [download for download in canvas.downloads if download.authorization_sent]
        assert (failed / "users.csv").read_bytes() == BAD_HEADER_CSV
        assert running.stop() == 0

    def test_two_server_errors_then_success_gives_exactly_one_import(self, tree, canvas, service):
        """Two 500s on the upload are retried, and Canvas ends up with exactly one import."""
        canvas.faults.add(kind="status", status=500, count=2, method="POST", path=r"/sis_imports")
        config = tree.write_config(canvas.url)
        running = service(config)
        running.wait_for_event("daemon.started")

        export_three_files(tree.drop)
        wait_until(lambda: tree.batches("done"), what="a batch in done/")

        assert len(canvas.uploads) == 1
        assert len(canvas.imports) == 1
        assert running.events("upload.retry_scheduled")
        assert running.stop() == 0

    def test_sigterm_gives_exit_zero(self, tree, canvas, service):
        """SIGTERM on an idle daemon stops it cleanly with exit code 0."""
        config = tree.write_config(canvas.url)
        running = service(config)
        running.wait_for_event("daemon.started")

        running.signal(signal.SIGTERM)

        assert running.wait(timeout=15) == 0
        assert running.events("shutdown.requested")
        assert running.events("shutdown.completed")

    def test_a_strict_mode_batch_with_a_bad_file_fails_before_any_request_reaches_canvas(
        self, tree, canvas, service
    ):
        """Strict validation files a bad export in failed/ with file, row and problem, and sends nothing."""
        config = tree.write_config(canvas.url, validation={"mode": "strict"})
        running = service(config)
        running.wait_for_event("daemon.started")

        drop_file(tree.drop, "users.csv", BAD_HEADER_CSV)
        wait_until(lambda: tree.batches("failed"), what="a batch in failed/")

        [failed] = tree.batches("failed")
        manifest = tree.manifest(failed)
        assert "pre-flight validation found 2 error(s)" in manifest["outcome"]["reason"]
        assert "users.csv row 1" in manifest["outcome"]["reason"]
        assert {"error"} == {problem["severity"] for problem in manifest["validation"]["problems"]}
        assert [] == canvas.requests
        assert 0 == running.stop()


class TestOnce:
    def test_once_processes_the_drop_folder_and_exits_zero(self, tree, canvas):
        """`once` seals files already complete without waiting, imports them, and exits 0."""
        config = tree.write_config(canvas.url, intake={"settle_seconds": 0, "quiet_seconds": 3600})
        export_three_files(tree.drop)

        result = run_command("once", "-c", str(config), cwd=tree.root)

        assert result.returncode == 0, result.stdout + result.stderr
        assert len(tree.batches("done")) == 1
        assert len(canvas.uploads) == 1

    def test_once_exits_one_when_a_batch_fails(self, tree, canvas):
        """`once` exits 1 when Canvas fails a batch, which is filed in failed/."""
        config = tree.write_config(canvas.url, intake={"settle_seconds": 0}, validation={"mode": "off"})
        drop_file(tree.drop, "users.csv", BAD_HEADER_CSV)

        result = run_command("once", "-c", str(config), cwd=tree.root)

        assert result.returncode == 1
        assert len(tree.batches("failed")) == 1

    def test_a_batch_canvas_fails_outright_is_filed_with_canvas_error_message(self, tree):
        """Canvas failing a batch with only `data.error_message` (no row messages): that text is the reason."""
        settings = SimulatorSettings(max_uncompressed_bytes=10)  # every zip is over Canvas's size limit
        with CanvasSimulator(token=TOKEN, settings=settings) as canvas:
            config = tree.write_config(canvas.url, intake={"settle_seconds": 0})
            drop_file(tree.drop, "users.csv", USERS_CSV)

            result = run_command("once", "-c", str(config), cwd=tree.root)

            assert result.returncode == 1, result.stdout + result.stderr
            [batch] = tree.batches("failed")
            manifest = tree.manifest(batch)
            import_id = manifest["canvas"]["import_id"]
            assert "processing_errors" not in (canvas.import_json(import_id) or {"processing_errors": 1})
            assert "CanvasUnzip::SizeLimitExceeded" == manifest["canvas"]["error_message"]
            assert (
                f"Canvas import {import_id} ended failed: CanvasUnzip::SizeLimitExceeded"
                == (manifest["outcome"]["reason"])
            )
