"""Unit tests for `sis_watcher.ops.status_file`: what the running daemon says it is doing."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from sis_watcher.batch.manifest import BatchState, HoldReason, HoldRecord, Manifest
from sis_watcher.ops.status_file import STATUS_NAME, StatusFile, read_status

START = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.moment = START

    def monotonic(self) -> float:
        return (self.moment - START).total_seconds()

    def now(self) -> datetime:
        return self.moment

    def advance(self, seconds: float) -> None:
        self.moment += timedelta(seconds=seconds)


def read(queue: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((queue / STATUS_NAME).read_text(encoding="utf-8"))
    return document


def manifest(import_id: int | None = 501) -> Manifest:
    found = Manifest(batch_id="B1", state=BatchState.IMPORTING, sealed_at="2026-11-27T02:00:00.000000Z")
    found.canvas.import_id = import_id
    found.canvas.workflow_state = "importing"
    found.canvas.progress = 40
    return found


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


class TestStatusFile:
    def test_nothing_is_written_until_something_changes(self, tmp_path, clock):
        """Creating the status file object writes nothing yet."""
        StatusFile(tmp_path, clock=clock)

        assert not (tmp_path / STATUS_NAME).exists()

    def test_activity_is_written_with_pid_and_times(self, tmp_path, clock):
        """An activity change is written atomically with our pid, start and update times."""
        status = StatusFile(tmp_path, clock=clock)
        clock.advance(5)

        status.activity("uploading B1", queued=3, batch_id="B1")

        document = read(tmp_path)
        assert document["activity"] == "uploading B1"
        assert document["batch_id"] == "B1"
        assert document["pid"] == os.getpid()
        assert document["started_at"] == "2026-11-27T02:00:00.000000Z"
        assert document["updated_at"] == "2026-11-27T02:00:05.000000Z"
        assert sorted(path.name for path in tmp_path.iterdir()) == [STATUS_NAME]

    def test_unchanged_values_are_not_rewritten(self, tmp_path, clock):
        """Setting the same values again does not touch the file."""
        status = StatusFile(tmp_path, clock=clock)
        status.activity("idle")
        before = (tmp_path / STATUS_NAME).stat().st_ino
        clock.advance(60)

        status.activity("idle")

        assert (tmp_path / STATUS_NAME).stat().st_ino == before
        assert read(tmp_path)["updated_at"] == "2026-11-27T02:00:00.000000Z"

    def test_import_progress_and_filing(self, tmp_path, clock):
        """The in-flight import is shown while polling and cleared when the batch is filed."""
        status = StatusFile(tmp_path, clock=clock)

        status.import_progress(manifest())
        during = read(tmp_path)
        status.batch_filed(manifest(), tmp_path / "done" / "B1")
        after = read(tmp_path)

        assert during["batch_id"] == "B1"
        assert during["import"] == {"import_id": 501, "workflow_state": "importing", "progress": 40}
        assert (after["batch_id"], after["import"]) == (None, None)

    def test_pause_and_resume(self, tmp_path, clock):
        """A pause reason is shown until uploads resume."""
        status = StatusFile(tmp_path, clock=clock)

        status.uploads_paused("Canvas rejected the token")
        paused = read(tmp_path)["paused"]
        status.uploads_resumed()

        assert paused == "Canvas rejected the token"
        assert read(tmp_path)["paused"] is None

    def test_intake_problem_and_recovery(self, tmp_path, clock):
        """An intake problem is shown until intake recovers."""
        status = StatusFile(tmp_path, clock=clock)

        status.intake_problem("drop folder missing")
        problem = read(tmp_path)["intake_problem"]
        status.intake_recovered()

        assert problem == "drop folder missing"
        assert read(tmp_path)["intake_problem"] is None

    def test_stopped(self, tmp_path, clock):
        """On stop, the activity says so and no batch is in hand."""
        status = StatusFile(tmp_path, clock=clock)
        status.import_progress(manifest())

        status.stopped()

        document = read(tmp_path)
        assert (document["activity"], document["batch_id"], document["import"]) == ("stopped", None, None)

    def test_write_failure_is_logged_not_raised(self, tmp_path, clock):
        """If the queue folder cannot be written, a warning is logged and the daemon carries on."""
        status = StatusFile(tmp_path / "absent", clock=clock)

        with capture_logs() as events:
            status.activity("idle")

        [event] = events
        assert (event["event"], event["log_level"]) == ("status.write_failed", "warning")
        assert "absent" in event["caused_by"]


def held(batch_id: str = "B1") -> Manifest:
    """A batch held by one rule, with a change summary."""
    reason = HoldReason(
        csv_type="enrollment", rule="hold.max_delete_percent", value=15.0, limit=10.0, text="too many drops"
    )
    return Manifest(
        batch_id=batch_id,
        state=BatchState.HELD,
        sealed_at="2026-11-27T02:00:00.000000Z",
        changes={"summary": "enrollment -45"},
        hold=HoldRecord(reasons=[reason], held_at="2026-11-27T02:01:00.000000Z"),
    )


class TestHeldBatches:
    def test_a_held_batch_is_listed_with_its_reasons_and_changes(self, tmp_path, clock):
        """The batch_held moment lists the batch, its hold reasons and change summary; once only."""
        status = StatusFile(tmp_path, clock=clock)

        status.batch_held(held())
        status.batch_held(held())

        entry = {
            "batch_id": "B1",
            "held_at": "2026-11-27T02:01:00.000000Z",
            "reasons": ["too many drops"],
            "changes": "enrollment -45",
        }
        assert [entry] == read(tmp_path)["held"]

    def test_waiting_keeps_it_listed_and_moving_on_or_filing_takes_it_off(self, tmp_path, clock):
        """While held it stays listed; uploading it (approved) or filing it (discarded) takes it off."""
        status = StatusFile(tmp_path, clock=clock)
        status.batch_held(held("B1"))
        status.batch_held(held("B2"))

        status.activity("held: B1 waits for approve or discard", batch_id="B1")
        waiting = [item["batch_id"] for item in read(tmp_path)["held"]]
        status.activity("uploading B1", batch_id="B1")
        approved = [item["batch_id"] for item in read(tmp_path)["held"]]
        status.batch_filed(held("B2"), tmp_path / "failed" / "B2")

        assert (["B1", "B2"], ["B2"], []) == (waiting, approved, read(tmp_path)["held"])


class TestReadStatus:
    def test_reads_what_was_written(self, tmp_path, clock):
        """read_status returns the last document written."""
        StatusFile(tmp_path, clock=clock).activity("idle")

        status = read_status(tmp_path)

        assert status is not None
        assert status["activity"] == "idle"

    @pytest.mark.parametrize("content", [None, "{broken", "[1, 2]", '"text"'])
    def test_missing_or_damaged_is_none(self, tmp_path, content):
        """No file, bad JSON or a non-object: nothing to report."""
        if content is not None:
            (tmp_path / STATUS_NAME).write_text(content, encoding="utf-8")

        assert read_status(tmp_path) is None
