"""Unit tests for `sis_watcher.pipeline.conclude`: Canvas's report kept, the batch's outcome decided."""

from __future__ import annotations

import csv
import io

import pytest

from sis_watcher.batch.manifest import BatchState, FileEntry, Manifest
from sis_watcher.core.errors import Stopping
from sis_watcher.pipeline.conclude import conclude, fetch_errors_report, report_name
from sis_watcher.simulator.canvas import CanvasSimulator, SimulatorSettings
from sis_watcher.simulator.model.faults import FaultKind

from support import TOKEN, USERS_CSV

WANDERING_USERS_CSV = b"user_id,login_id,status\nu1,l1,wandering\n"
REPORT_HEADER = ["sis_import_id", "file", "message", "row"]


def report_rows(path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))


class TestConclude:
    def test_an_imported_batch_is_done_with_canvas_reason_and_no_report(self, pipeline, canvas):
        """A clean import ends `done`, its reason naming the import, with no errors file fetched."""
        batch = pipeline.reporting()

        conclude(batch, pipeline.context)

        saved = pipeline.on_disk(batch)
        assert BatchState.DONE == saved.state
        assert ("done", f"Canvas import {saved.canvas.import_id} imported") == (
            saved.outcome.result,
            saved.outcome.reason,
        )
        assert saved.canvas.errors_report is None
        assert not batch.path("errors.csv").exists()
        assert [] == canvas.downloads

    def test_warnings_are_kept_as_errors_csv_beside_the_manifest(self, pipeline, canvas):
        """An import with warnings is done, and Canvas's error file is saved as errors.csv in the batch."""
        batch = pipeline.reporting(("users.csv", WANDERING_USERS_CSV))

        conclude(batch, pipeline.context)

        saved = pipeline.on_disk(batch)
        rows = report_rows(batch.path("errors.csv"))
        assert BatchState.DONE == saved.state
        assert "errors.csv" == saved.canvas.errors_report
        assert REPORT_HEADER == rows[0]
        assert [str(saved.canvas.import_id), "users.csv"] == rows[1][:2]
        assert "wandering" in rows[1][2]
        assert ["users.csv"] == list(saved.canvas.messages_by_file)
        assert saved.outcome.reason is not None
        assert "imported with 1 warning(s) and 0 error(s)" in saved.outcome.reason

    def test_warnings_are_failures_fails_a_batch_imported_with_messages(self, build, canvas):
        """With `outcome.warnings_are_failures`, an import with warnings fails the batch, report kept."""
        pipeline = build(canvas.url, outcome={"warnings_are_failures": True})
        batch = pipeline.reporting(("users.csv", WANDERING_USERS_CSV))

        conclude(batch, pipeline.context)

        saved = pipeline.on_disk(batch)
        assert BatchState.FAILED == saved.state
        assert "failed" == saved.outcome.result
        assert saved.outcome.reason is not None
        assert "wandering" in saved.outcome.reason
        assert batch.path("errors.csv").exists()

    def test_a_batch_canvas_failed_outright_is_failed_with_its_error_message(self, build):
        """Canvas's `data.error_message`, its only words for a zip it refused, is the failure's reason."""
        with CanvasSimulator(token=TOKEN, settings=SimulatorSettings(max_uncompressed_bytes=10)) as small:
            pipeline = build(small.url)
            batch = pipeline.reporting()

            conclude(batch, pipeline.context)

        saved = pipeline.on_disk(batch)
        assert BatchState.FAILED == saved.state
        assert (
            f"Canvas import {saved.canvas.import_id} ended failed: CanvasUnzip::SizeLimitExceeded"
            == saved.outcome.reason
        )
        assert saved.canvas.errors_report is None

    def test_a_file_canvas_could_not_read_fails_the_batch_naming_the_file(self, build, canvas):
        """A CSV Canvas cannot type ends `failed_with_messages`; the reason names the file, the report is kept."""
        pipeline = build(canvas.url, validation={"mode": "off"})
        batch = pipeline.reporting(("users.csv", USERS_CSV), ("mystery.csv", b"colour,flavour\nred,sweet\n"))

        conclude(batch, pipeline.context)

        saved = pipeline.on_disk(batch)
        assert BatchState.FAILED == saved.state
        assert saved.outcome.reason is not None
        assert saved.outcome.reason.startswith(
            f"Canvas import {saved.canvas.import_id} ended failed_with_messages: mystery.csv:"
        )
        assert "mystery.csv" in batch.path("errors.csv").read_text(encoding="utf-8")

    def test_an_original_named_errors_csv_is_not_overwritten_by_the_report(self, pipeline, canvas):
        """When the export has its own errors.csv, Canvas's report is saved as canvas-errors.csv."""
        batch = pipeline.reporting(("errors.csv", WANDERING_USERS_CSV))

        conclude(batch, pipeline.context)

        saved = pipeline.on_disk(batch)
        assert "canvas-errors.csv" == saved.canvas.errors_report
        assert WANDERING_USERS_CSV == batch.path("errors.csv").read_bytes()
        assert REPORT_HEADER == report_rows(batch.path("canvas-errors.csv"))[0]

    def test_a_report_canvas_refuses_entirely_files_the_batch_without_it(self, pipeline, canvas):
        """Errors file and errors API both refused (403): the batch still gets its verdict, without a report."""
        batch = pipeline.reporting(("users.csv", WANDERING_USERS_CSV))
        canvas.faults.add(kind=FaultKind.PERMISSION_DENIED, status=403, count=None, path=r"/files/|/errors$")

        conclude(batch, pipeline.context)

        saved = pipeline.on_disk(batch)
        assert BatchState.DONE == saved.state
        assert saved.canvas.errors_report is None
        assert not batch.path("errors.csv").exists()

    def test_a_report_saved_before_a_restart_is_not_fetched_again(self, pipeline, canvas):
        """A batch resumed in `reporting` with its report recorded asks Canvas for nothing more."""
        batch = pipeline.reporting(("users.csv", WANDERING_USERS_CSV))
        batch.manifest.canvas.errors_report = "errors.csv"
        batch.save()
        asked = len(canvas.requests)

        conclude(batch, pipeline.context)

        assert asked == len(canvas.requests)
        assert BatchState.DONE == pipeline.on_disk(batch).state


class TestFetchErrorsReport:
    def test_the_errors_attachment_is_downloaded_as_canvas_wrote_it(self, pipeline, canvas):
        """When Canvas links its error file, that file is downloaded byte for byte."""
        batch = pipeline.reporting(("users.csv", WANDERING_USERS_CSV))
        import_id = batch.manifest.canvas.import_id or 0

        source = fetch_errors_report(batch, pipeline.context)

        assert "errors_attachment" == source
        stored = canvas.storage_dir / f"sis_errors_attachment_{import_id}.csv"
        assert stored.read_bytes() == batch.path("errors.csv").read_bytes()

    def test_a_forbidden_download_falls_back_to_the_errors_api(self, pipeline, canvas):
        """A 403 on the file link is no token problem: the rows come from the errors endpoint instead."""
        batch = pipeline.reporting(("users.csv", WANDERING_USERS_CSV))
        canvas.faults.add(kind=FaultKind.PERMISSION_DENIED, status=403, count=None, path=r"/files/")

        source = fetch_errors_report(batch, pipeline.context)

        rows = report_rows(batch.path("errors.csv"))
        assert "errors endpoint" == source
        assert REPORT_HEADER == rows[0]
        assert [str(batch.manifest.canvas.import_id), "users.csv"] == rows[1][:2]
        assert "wandering" in rows[1][2]

    def test_an_errors_file_not_ready_after_five_looks_is_built_from_the_errors_api(self, build):
        """Canvas still writing its error file: the import is looked at five times, then the API is used."""
        slow_report = SimulatorSettings(errors_attachment_delay_seconds=60)
        with CanvasSimulator(token=TOKEN, settings=slow_report) as slow:
            pipeline = build(slow.url)
            batch = pipeline.reporting(("users.csv", WANDERING_USERS_CSV))
            import_id = batch.manifest.canvas.import_id
            asked = len(slow.requests)

            source = fetch_errors_report(batch, pipeline.context)

            looks = [
                request.path
                for request in slow.requests[asked:]
                if request.path.endswith(f"/sis_imports/{import_id}")
            ]
        assert "errors endpoint" == source
        assert 5 == len(looks)
        assert "wandering" in batch.path("errors.csv").read_text(encoding="utf-8")

    def test_a_stop_request_while_waiting_for_the_file_raises_stopping(self, build):
        """Shutdown while Canvas has not linked its error file yet raises `Stopping` and writes nothing."""
        slow_report = SimulatorSettings(errors_attachment_delay_seconds=60)
        with CanvasSimulator(token=TOKEN, settings=slow_report) as slow:
            pipeline = build(slow.url, poll={"interval_seconds": 30, "max_interval_seconds": 30})
            batch = pipeline.zipped(("users.csv", WANDERING_USERS_CSV))
            created = pipeline.context.client.create_import(batch.path("batch.zip"), params={})
            batch.manifest.canvas.import_id = created["id"]
            slow.wait_for_state(created["id"])
            pipeline.context.stopping.set()

            with pytest.raises(Stopping):
                fetch_errors_report(batch, pipeline.context)

        assert not batch.path("errors.csv").exists()


class TestReportName:
    @pytest.mark.parametrize(
        ("originals", "trigger", "expected"),
        [
            ([], None, "errors.csv"),
            (["errors.csv"], None, "canvas-errors.csv"),
            (["errors.csv", "canvas-errors.csv"], None, "canvas-errors-2.csv"),
            (["users.csv"], "errors.csv", "canvas-errors.csv"),
        ],
    )
    def test_the_report_never_takes_the_name_of_an_original_or_the_trigger(
        self, originals, trigger, expected
    ):
        """Canvas's report gets the first name no original file (nor the trigger file) has."""
        manifest = Manifest(
            batch_id="B1",
            state=BatchState.REPORTING,
            sealed_at="2026-11-27T02:00:00.000000Z",
            trigger_file=trigger,
            files=[FileEntry(name=name, bytes=1) for name in originals],
        )

        assert expected == report_name(manifest)
