"""Unit tests for `sis_watcher.batch.requeue`: a failed batch goes back to the queue, its history kept."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sis_watcher.batch.manifest import MANIFEST_NAME, ZIP_NAME, BatchState, load_manifest
from sis_watcher.batch.requeue import retry_batch
from sis_watcher.config.settings import FolderSettings
from sis_watcher.core.clock import isoformat
from sis_watcher.core.errors import RetryRefused

NOW = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)
BATCH = "20261127T020000Z-3f9a1c"


def failed_manifest(**changes: Any) -> dict[str, Any]:
    """A manifest as a failed batch leaves it, written out by hand."""
    document: dict[str, Any] = {
        "schema_version": 1,
        "batch_id": BATCH,
        "state": "failed",
        "sealed_at": "2026-11-27T02:00:00.000000Z",
        "source": "csv",
        "files": [{"name": "courses.csv", "bytes": 50, "sha256": "ab" * 32, "csv_type": "course", "rows": 1}],
        "validation": {"mode": "strict", "errors": 0, "warnings": 0, "problems": []},
        "zip": {"name": ZIP_NAME, "bytes": 300, "sha256": "cd" * 32, "members": [], "dropped_as_is": False},
        "upload": {"started_at": "2026-11-27T02:01:00.000000Z", "attempts": 1},
        "canvas": {
            "import_id": 501,
            "workflow_state": "failed_with_messages",
            "progress": 100,
            "processing_errors": [["courses.csv", "No short_name given for course C001"]],
            "errors_report": "errors.csv",
        },
        "outcome": {"result": "failed", "reason": "Canvas import 501 ended failed_with_messages"},
        "history": [
            {"state": "sealing", "at": "2026-11-27T02:00:00.000000Z"},
            {"state": "queued", "at": "2026-11-27T02:00:00.000000Z"},
            {"state": "failed", "at": "2026-11-27T02:10:00.000000Z"},
        ],
    }
    document.update(changes)
    return document


def make_failed(folders: FolderSettings, batch_id: str = BATCH, **changes: Any) -> Path:
    folder = folders.failed / batch_id
    folder.mkdir()
    (folder / "courses.csv").write_bytes(b"course_id,short_name,long_name,status\nC001,,Biology,active\n")
    (folder / ZIP_NAME).write_bytes(b"PK old zip")
    (folder / "errors.csv").write_text(
        "sis_import_id,file,message,row\n501,courses.csv,No short_name,2\n", encoding="utf-8"
    )
    (folder / MANIFEST_NAME).write_text(
        json.dumps(failed_manifest(batch_id=batch_id, **changes)), encoding="utf-8"
    )
    return folder


class TestRetry:
    def test_failed_batch_goes_back_to_the_queue(self, folders):
        """The batch folder moves to queue/ under the same id, reset to `queued`."""
        make_failed(folders)

        target = retry_batch(folders, BATCH, force=False, now=NOW)

        assert target == folders.queue / BATCH
        assert not (folders.failed / BATCH).exists()
        manifest = load_manifest(target)
        assert manifest.state is BatchState.QUEUED
        assert manifest.force is False
        assert manifest.history[-1].model_dump(exclude_none=True) == {
            "state": "queued",
            "at": isoformat(NOW),
            "note": "retried",
        }
        assert [entry.state for entry in manifest.history] == ["sealing", "queued", "failed", "queued"]

    def test_last_attempt_is_kept_in_previous_attempts(self, folders):
        """Outcome, Canvas facts, upload and validation of the last attempt are kept; the live ones reset."""
        make_failed(folders)

        manifest = load_manifest(retry_batch(folders, BATCH, force=False, now=NOW))

        [attempt] = manifest.previous_attempts
        assert attempt["outcome"] == {
            "result": "failed",
            "reason": "Canvas import 501 ended failed_with_messages",
        }
        assert attempt["canvas"]["import_id"] == 501
        assert attempt["canvas"]["processing_errors"] == [
            ["courses.csv", "No short_name given for course C001"]
        ]
        assert attempt["canvas"]["errors_report"] == "errors.attempt-1.csv"
        assert attempt["upload"]["started_at"] == "2026-11-27T02:01:00.000000Z"
        assert attempt["validation"]["mode"] == "strict"
        assert attempt["retried_at"] == isoformat(NOW)
        assert manifest.canvas.import_id is None
        assert manifest.outcome.result is None
        assert manifest.upload.started_at is None
        assert manifest.validation is None
        assert manifest.zip is None
        assert [entry.name for entry in manifest.files] == ["courses.csv"]

    def test_errors_file_is_renamed_and_zip_removed(self, folders):
        """errors.csv becomes errors.attempt-1.csv; the old zip is removed; the originals stay byte for byte."""
        original = make_failed(folders) / "courses.csv"
        data = original.read_bytes()

        target = retry_batch(folders, BATCH, force=False, now=NOW)

        assert sorted(path.name for path in target.iterdir()) == [
            "courses.csv",
            "errors.attempt-1.csv",
            MANIFEST_NAME,
        ]
        assert (target / "courses.csv").read_bytes() == data
        assert (target / "errors.attempt-1.csv").read_text(encoding="utf-8").startswith("sis_import_id")

    def test_force_flag_is_set_and_noted(self, folders):
        """--force skips the shrink guard for this batch, and the history says so."""
        make_failed(folders)

        manifest = load_manifest(retry_batch(folders, BATCH, force=True, now=NOW))

        assert manifest.force is True
        assert manifest.history[-1].note == "retried with --force (shrink guard skipped)"

    def test_second_retry_numbers_the_attempts(self, folders):
        """A batch retried twice keeps both attempts and errors.attempt-1.csv / errors.attempt-2.csv."""
        make_failed(folders, previous_attempts=[{"outcome": {"result": "failed"}, "retried_at": "earlier"}])
        (folders.failed / BATCH / "errors.attempt-1.csv").write_text("first\n", encoding="utf-8")

        target = retry_batch(folders, BATCH, force=False, now=NOW)

        manifest = load_manifest(target)
        assert len(manifest.previous_attempts) == 2
        assert manifest.previous_attempts[1]["canvas"]["errors_report"] == "errors.attempt-2.csv"
        assert (target / "errors.attempt-1.csv").read_text(encoding="utf-8") == "first\n"
        assert (target / "errors.attempt-2.csv").exists()

    def test_dropped_zip_is_kept(self, folders):
        """A zip dropped as-is is the original itself: it is never removed."""
        zip_record = {
            "name": "export.zip",
            "bytes": 10,
            "sha256": "ef" * 32,
            "members": [],
            "dropped_as_is": True,
        }
        folder = make_failed(folders, zip=zip_record, source="zip")
        (folder / "export.zip").write_bytes(b"PK original")

        target = retry_batch(folders, BATCH, force=False, now=NOW)

        assert (target / "export.zip").read_bytes() == b"PK original"

    def test_missing_errors_report_is_recorded_as_it_was(self, folders):
        """If the named errors file is gone, nothing is renamed and the name is kept as recorded."""
        folder = make_failed(folders)
        (folder / "errors.csv").unlink()

        manifest = load_manifest(retry_batch(folders, BATCH, force=False, now=NOW))

        assert manifest.previous_attempts[0]["canvas"]["errors_report"] == "errors.csv"

    def test_batch_failed_before_upload_has_no_report(self, folders):
        """A batch failed by validation (no Canvas facts, no zip) is retried all the same."""
        folder = make_failed(folders, canvas={}, zip=None, validation=None, upload={})
        (folder / "errors.csv").unlink()
        (folder / ZIP_NAME).unlink()

        manifest = load_manifest(retry_batch(folders, BATCH, force=False, now=NOW))

        assert manifest.previous_attempts[0]["validation"] is None
        assert manifest.previous_attempts[0]["canvas"]["errors_report"] is None

    def test_half_done_retry_is_finished(self, folders):
        """A retry interrupted after its manifest write (state queued, still in failed/) is just moved."""
        make_failed(folders, state="queued", previous_attempts=[{"retried_at": "before the crash"}])

        target = retry_batch(folders, BATCH, force=True, now=NOW)

        manifest = load_manifest(target)
        assert manifest.state is BatchState.QUEUED
        assert len(manifest.previous_attempts) == 1
        assert (target / "errors.csv").exists()


class TestRefusals:
    @pytest.mark.parametrize("batch_id", ["", "a/b", "../queue", ".hidden", ".", ".."])
    def test_bad_ids_are_refused(self, folders, batch_id):
        """Empty ids, paths and hidden names are not batch ids."""
        with pytest.raises(RetryRefused, match="is not a batch id"):
            retry_batch(folders, batch_id, force=False, now=NOW)

    def test_unknown_id_is_refused(self, folders):
        """An id that is in failed/ nowhere is refused."""
        with pytest.raises(RetryRefused) as caught:
            retry_batch(folders, BATCH, force=False, now=NOW)

        assert str(caught.value) == f"cannot retry {BATCH}: no such batch in failed/"

    def test_batch_in_done_is_refused(self, folders):
        """A batch that succeeded cannot be retried; the message says where it is."""
        (folders.done / BATCH).mkdir()

        with pytest.raises(RetryRefused) as caught:
            retry_batch(folders, BATCH, force=False, now=NOW)

        assert (
            str(caught.value)
            == f"cannot retry {BATCH}: it is in done/, and only failed batches can be retried"
        )
        assert (folders.done / BATCH).exists()

    def test_existing_target_in_queue_is_refused(self, folders):
        """If queue/ already has a folder of that id, nothing is moved or changed."""
        make_failed(folders)
        (folders.queue / BATCH).mkdir()
        before = (folders.failed / BATCH / MANIFEST_NAME).read_bytes()

        with pytest.raises(RetryRefused, match="already exists"):
            retry_batch(folders, BATCH, force=False, now=NOW)

        assert (folders.failed / BATCH / MANIFEST_NAME).read_bytes() == before
        assert (folders.failed / BATCH / ZIP_NAME).exists()

    def test_file_of_that_name_in_failed_is_refused(self, folders):
        """A plain file under failed/ is not a batch."""
        (folders.failed / BATCH).write_text("not a folder", encoding="utf-8")

        with pytest.raises(RetryRefused, match="no such batch"):
            retry_batch(folders, BATCH, force=False, now=NOW)

    @pytest.mark.parametrize("content", [None, "{broken", '{"state": "failed"}'])
    def test_failed_batch_without_a_readable_manifest_is_refused(self, folders, content):
        """A failed/ folder whose manifest is missing or broken is refused with RetryRefused (the CLI's exit 2), not a traceback."""
        folder = folders.failed / BATCH
        folder.mkdir()
        if content is not None:
            (folder / MANIFEST_NAME).write_text(content, encoding="utf-8")

        with pytest.raises(RetryRefused, match=BATCH):
            retry_batch(folders, BATCH, force=False, now=NOW)

        assert folder.exists()
