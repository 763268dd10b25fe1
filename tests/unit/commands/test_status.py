"""Unit tests for `sis_watcher.commands.status`: how things stand, read from folders written by hand."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sis_watcher.batch.lock import FolderLock
from sis_watcher.batch.manifest import MANIFEST_NAME
from sis_watcher.commands.status import collect, render, run_status, summary
from sis_watcher.config.load import parse
from sis_watcher.config.settings import Config, FolderSettings
from sis_watcher.ops.status_file import STATUS_NAME


def config_for(folders: FolderSettings) -> Config:
    raw = {
        "canvas": {"base_url": "https://school.instructure.com"},
        "folders": {name: str(getattr(folders, name)) for name in ("drop", "queue", "done", "failed")},
    }
    return parse(raw, source="test", base=folders.drop.parent)


def write_batch(root: Path, batch_id: str, state: str, **fields: Any) -> Path:
    """Write a batch folder with a hand-written manifest."""
    folder = root / batch_id
    folder.mkdir()
    document: dict[str, Any] = {
        "batch_id": batch_id,
        "state": state,
        "sealed_at": "2026-11-27T02:00:00.000000Z",
        "files": [{"name": "users.csv", "bytes": 10}],
        "history": [{"state": state, "at": f"2026-11-27T03:{len(batch_id) % 60:02d}:00.000000Z"}],
    }
    document.update(fields)
    (folder / MANIFEST_NAME).write_text(json.dumps(document), encoding="utf-8")
    return folder


def write_status(folders: FolderSettings, **fields: Any) -> None:
    document = {"pid": os.getpid(), "activity": "idle", "paused": None, "intake_problem": None, **fields}
    (folders.queue / STATUS_NAME).write_text(json.dumps(document), encoding="utf-8")


@pytest.fixture
def running(folders) -> Iterator[FolderLock]:
    """The daemon's queue lock, held by this process."""
    lock = FolderLock(folders.queue)
    lock.acquire()
    yield lock
    lock.release()


def rendered(status: dict[str, Any]) -> str:
    out = io.StringIO()
    render(status, out)
    return out.getvalue()


class TestDaemonState:
    def test_stopped_when_nobody_holds_the_lock(self, folders):
        """No lock holder: stopped, and a stale status file is not believed."""
        write_status(folders, activity="uploading B1", paused="token rejected")

        daemon = collect(config_for(folders))["daemon"]

        assert daemon == {
            "state": "stopped",
            "pid": None,
            "activity": None,
            "paused": None,
            "intake_problem": None,
        }

    def test_idle_when_running_with_an_empty_queue(self, folders, running):
        """Lock held, nothing queued: idle, with the pid and the daemon's own activity line."""
        write_status(folders, activity="idle, 0 queued")

        daemon = collect(config_for(folders))["daemon"]

        assert daemon == {
            "state": "idle",
            "pid": os.getpid(),
            "activity": "idle, 0 queued",
            "paused": None,
            "intake_problem": None,
        }

    def test_working_when_batches_are_queued(self, folders, running):
        """Lock held and a batch in the queue: working."""
        write_batch(folders.queue, "20261127T020000Z-000001", "queued")

        assert collect(config_for(folders))["daemon"]["state"] == "working"

    def test_paused_wins_over_working(self, folders, running):
        """Uploads paused (auth) is shown as paused, with the reason, even with batches waiting."""
        write_batch(folders.queue, "20261127T020000Z-000001", "zipped")
        write_status(
            folders, paused="Canvas rejected the token (HTTP 401)", intake_problem="drop folder missing"
        )

        daemon = collect(config_for(folders))["daemon"]

        assert daemon["state"] == "paused"
        assert daemon["paused"] == "Canvas rejected the token (HTTP 401)"
        assert daemon["intake_problem"] == "drop folder missing"

    def test_running_without_a_status_file(self, folders, running):
        """A daemon that has not written its status yet is idle with no activity."""
        daemon = collect(config_for(folders))["daemon"]

        assert (daemon["state"], daemon["activity"], daemon["paused"]) == ("idle", None, None)


class TestBatches:
    def test_queue_in_flight_and_recent(self, folders):
        """The queue in order, the first batch past `queued` as in flight, and the newest done/failed first."""
        write_batch(
            folders.queue,
            "20261127T020000Z-000001",
            "importing",
            canvas={"import_id": 501, "workflow_state": "importing", "progress": 45},
        )
        write_batch(folders.queue, "20261127T020000Z-000002", "queued")
        for index in range(7):
            write_batch(
                folders.done,
                f"20261120T02000{index}Z-00000{index}",
                "done",
                outcome={"result": "done", "reason": f"ok {index}"},
            )
        write_batch(
            folders.failed,
            "20261121T020000Z-0000ff",
            "failed",
            outcome={"result": "failed", "reason": "bad header"},
        )

        status = collect(config_for(folders))

        assert [item["batch_id"] for item in status["queue"]] == [
            "20261127T020000Z-000001",
            "20261127T020000Z-000002",
        ]
        assert status["in_flight"]["batch_id"] == "20261127T020000Z-000001"
        assert (status["in_flight"]["import_id"], status["in_flight"]["progress"]) == (501, 45)
        assert [item["reason"] for item in status["done"]] == ["ok 6", "ok 5", "ok 4", "ok 3", "ok 2"]
        assert status["failed"][0]["result"] == "failed"
        assert status["failed"][0]["reason"] == "bad header"

    def test_nothing_in_flight_while_only_queued(self, folders):
        """Batches still `sealing` or `queued` are not in flight."""
        write_batch(folders.queue, "20261127T020000Z-000001", "sealing")
        write_batch(folders.queue, "20261127T020000Z-000002", "queued")

        assert collect(config_for(folders))["in_flight"] is None

    def test_summary_of_a_batch(self, folders):
        """A batch's summary has its files, Canvas facts, outcome and last history time."""
        folder = write_batch(
            folders.done,
            "20261127T020000Z-000001",
            "done",
            history=[
                {"state": "queued", "at": "2026-11-27T02:00:00Z"},
                {"state": "done", "at": "2026-11-27T02:09:00Z"},
            ],
            canvas={"import_id": 9, "workflow_state": "imported", "progress": 100},
            outcome={"result": "done", "reason": "Canvas import 9 imported"},
        )

        assert summary(folder) == {
            "batch_id": "20261127T020000Z-000001",
            "state": "done",
            "files": ["users.csv"],
            "import_id": 9,
            "workflow_state": "imported",
            "progress": 100,
            "result": "done",
            "reason": "Canvas import 9 imported",
            "updated_at": "2026-11-27T02:09:00Z",
            "changes": None,
            "prediction": None,
            "prediction_details": [],
            "hold": None,
        }

    def test_summary_without_history_uses_the_sealed_time(self, folders):
        """A manifest with no history is dated by its sealed_at."""
        folder = write_batch(folders.queue, "20261127T020000Z-000001", "queued", history=[])

        assert summary(folder)["updated_at"] == "2026-11-27T02:00:00.000000Z"

    def test_batch_without_a_readable_manifest(self, folders):
        """A folder without a manifest is listed as unknown, not a crash."""
        (folders.failed / "20261127T020000Z-000001").mkdir()

        assert summary(folders.failed / "20261127T020000Z-000001") == {
            "batch_id": "20261127T020000Z-000001",
            "state": "unknown (no readable manifest)",
        }

    def test_queued_batch_without_a_manifest_is_not_in_flight(self, folders, running):
        """A queue folder whose manifest is not written yet (a crash mid-seal) is not the batch in flight."""
        (folders.queue / "20261127T020000Z-000001").mkdir()

        status = collect(config_for(folders))

        assert status["in_flight"] is None
        assert status["queue"][0]["state"] == "unknown (no readable manifest)"

    def test_text_view_with_a_manifestless_queue_batch(self, folders, running):
        """`sis-watcher status` prints, rather than crashing, when a queue folder has no readable manifest."""
        (folders.queue / "20261127T020000Z-000001").mkdir()
        out = io.StringIO()

        code = run_status(config_for(folders), as_json=False, out=out)

        assert code == 0
        assert "  20261127T020000Z-000001  unknown (no readable manifest)" in out.getvalue()


class TestDrop:
    def test_waiting_files_are_listed(self, folders):
        """Candidate files in the drop folder are listed by name; others are not."""
        (folders.drop / "users.csv").write_bytes(b"x")
        (folders.drop / "b.zip").write_bytes(b"x")
        (folders.drop / ".partial").write_bytes(b"x")

        drop = collect(config_for(folders))["drop"]

        assert drop == {"folder": str(folders.drop), "files": ["b.zip", "users.csv"]}

    def test_unreadable_drop_folder(self, folders):
        """A missing drop folder is reported as unreadable, not an error."""
        folders.drop.rmdir()

        status = collect(config_for(folders))

        assert status["drop"]["files"] is None
        assert f"drop:     unreadable in {folders.drop}" in rendered(status)


class TestRender:
    def test_text_view_of_a_busy_daemon(self, folders, running):
        """The text view shows daemon, activity, pause, intake problem, import progress, queue, drop and recents."""
        write_status(
            folders,
            activity="polling 20261127T020000Z-000001",
            paused="token rejected",
            intake_problem="slow share",
        )
        write_batch(
            folders.queue,
            "20261127T020000Z-000001",
            "importing",
            canvas={"import_id": 501, "workflow_state": "importing", "progress": None},
        )
        write_batch(folders.failed, "20261121T020000Z-0000ff", "failed", outcome={"reason": "bad header"})
        (folders.drop / "users.csv").write_bytes(b"x")

        text = rendered(collect(config_for(folders)))

        assert text.splitlines()[:5] == [
            f"daemon:   paused (pid {os.getpid()})",
            "activity: polling 20261127T020000Z-000001",
            "paused:   token rejected",
            "intake:   slow share",
            "in flight: 20261127T020000Z-000001 (importing, Canvas import 501: importing 0%)",
        ]
        assert "queue:    1 batch(es)" in text
        assert "  20261127T020000Z-000001  importing" in text
        assert f"drop:     1 file(s) waiting in {folders.drop}" in text
        assert "recent done:\n  (none)" in text
        assert "recent failed:\n  20261121T020000Z-0000ff" in text
        assert "bad header" in text

    def test_text_view_of_a_stopped_daemon(self, folders):
        """A stopped daemon with a zipped batch shows it in flight without a Canvas import."""
        write_batch(folders.queue, "20261127T020000Z-000001", "zipped")

        text = rendered(collect(config_for(folders)))

        assert text.splitlines()[0] == "daemon:   stopped"
        assert "in flight: 20261127T020000Z-000001 (zipped)" in text
        assert "activity:" not in text
        assert "paused:" not in text

    def test_run_status_json(self, folders):
        """`status --json` prints the collected status as JSON and returns 0."""
        write_batch(folders.done, "20261127T020000Z-000001", "done")
        out = io.StringIO()

        code = run_status(config_for(folders), as_json=True, out=out)

        assert code == 0
        document = json.loads(out.getvalue())
        assert document["daemon"]["state"] == "stopped"
        assert document["done"][0]["batch_id"] == "20261127T020000Z-000001"

    def test_run_status_text(self, folders):
        """`status` without --json prints the text view and returns 0."""
        out = io.StringIO()

        assert run_status(config_for(folders), as_json=False, out=out) == 0
        assert out.getvalue().startswith("daemon:   stopped\n")


HOLD: dict[str, Any] = {
    "reasons": [
        {
            "csv_type": "enrollment",
            "rule": "hold.max_delete_percent",
            "value": 15.0,
            "limit": 10.0,
            "text": "enrollment: 15.0% deleted or dropped of 300 in the ledger (hold.max_delete_percent is 10)",
        }
    ],
    "held_at": "2026-11-27T02:01:00.000000Z",
}


def previewed(summary: str, **types: dict[str, int]) -> dict[str, Any]:
    """A manifest's `changes` in batch mode with `summary` and per-type counts."""
    return {
        **types,
        "baseline": "B0",
        "csv": "changes.csv",
        "summary": summary,
        "options": {"batch_mode": True},
    }


class TestPreviewAndHold:
    def test_held_batches_are_listed_with_reasons_and_changes(self, folders, running):
        """A held batch is listed apart with its hold, and the daemon waits on it: state `held`."""
        write_batch(
            folders.queue, "20261127T020000Z-000001", "held", hold=HOLD, changes=previewed("enrollment -45")
        )
        write_batch(folders.queue, "20261127T020000Z-000002", "queued")

        status = collect(config_for(folders))

        [item] = status["held"]
        assert ("held", "20261127T020000Z-000001") == (status["daemon"]["state"], item["batch_id"])
        assert ("enrollment -45", HOLD["held_at"]) == (item["changes"], item["hold"]["held_at"])
        assert [reason["rule"] for reason in HOLD["reasons"]] == [
            reason["rule"] for reason in item["hold"]["reasons"]
        ]
        assert status["in_flight"] is None

    def test_the_text_view_shows_the_hold_and_what_to_run(self, folders, running):
        """The text view names each held batch, its reasons, its changes and the approve command."""
        write_batch(
            folders.queue, "20261127T020000Z-000001", "held", hold=HOLD, changes=previewed("enrollment -45")
        )

        lines = rendered(collect(config_for(folders))).splitlines()

        start = lines.index("held:     1 batch(es) waiting for approve or discard")
        assert [
            "  20261127T020000Z-000001  held at 2026-11-27T02:01:00.000000Z",
            f"    reason:  {HOLD['reasons'][0]['text']}",
            "    changes: enrollment -45",
            "    run:     sis-watcher approve -c CONFIG 20261127T020000Z-000001  (or discard)",
        ] == lines[start + 1 : start + 5]
        assert f"daemon:   held (pid {os.getpid()})" == lines[0]

    def test_in_flight_and_recent_batches_show_changes_and_the_prediction(self, folders):
        """The in-flight line carries the change summary; a recent batch its summary and prediction."""
        write_batch(
            folders.queue,
            "20261127T020000Z-000002",
            "importing",
            canvas={"import_id": 502, "workflow_state": "importing", "progress": 10},
            changes=previewed("user +120"),
        )
        write_batch(
            folders.done,
            "20261127T020000Z-000001",
            "done",
            canvas={
                "import_id": 501,
                "workflow_state": "imported",
                "counts": {"batch_enrollments_deleted": 45},
            },
            outcome={"result": "done", "reason": "Canvas import 501 imported"},
            changes=previewed("enrollment -45", enrollment={"added": 0, "deleted": 0, "dropped": 45}),
        )

        status = collect(config_for(folders))
        text = rendered(status)

        done = status["done"][0]
        assert ("enrollment -45", "predicted 45 enrollments dropped; Canvas deleted 45") == (
            done["changes"],
            done["prediction"],
        )
        assert status["in_flight"]["prediction"] is None
        assert (
            "in flight: 20261127T020000Z-000002 (importing, Canvas import 502: importing 10%); changes: user +120"
            in text
        )
        assert (
            "    changes:    enrollment -45\n"
            "    prediction: predicted 45 enrollments dropped; Canvas deleted 45\n"
            "recent failed:"
        ) in text

    def test_json_carries_the_held_list_and_the_prediction(self, folders):
        """`status --json` has `held` and each batch's `changes`, `prediction` and `hold`."""
        write_batch(folders.queue, "20261127T020000Z-000001", "held", hold=HOLD, changes=previewed("user +1"))
        out = io.StringIO()

        run_status(config_for(folders), as_json=True, out=out)

        document = json.loads(out.getvalue())
        [item] = document["held"]
        assert ("user +1", None, HOLD["reasons"][0]["text"]) == (
            item["changes"],
            item["prediction"],
            item["hold"]["reasons"][0]["text"],
        )
