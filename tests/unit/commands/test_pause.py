"""Unit tests for `sis_watcher.commands.pause` (`pause`, `resume`) and what `status` says of a pause."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from sis_watcher.batch.lock import FolderLock
from sis_watcher.commands.pause import run_pause, run_resume
from sis_watcher.commands.status import collect, run_status
from sis_watcher.config.load import parse
from sis_watcher.config.settings import Config, FolderSettings
from sis_watcher.core.exit_codes import EXIT_FAILURE, EXIT_OK
from sis_watcher.ops.status_file import STATUS_NAME
from sis_watcher.schedule.pause_file import PAUSE_NAME, read_pause

from support import HandClock

NOW = datetime(2027, 6, 25, 12, 0, tzinfo=UTC)
WINDOW = {"from": "2027-06-25T11:00:00Z", "to": "2027-06-25T13:00:00Z", "reason": "term rollover"}
LATER = {"from": "2027-12-20T00:00:00Z", "to": "2027-12-21T00:00:00Z", "reason": "winter"}


def config_for(folders: FolderSettings, **sections: Any) -> Config:
    raw = {
        "canvas": {"base_url": "https://school.instructure.com"},
        "folders": {name: str(getattr(folders, name)) for name in ("drop", "queue", "done", "failed")},
        **sections,
    }
    return parse(raw, source="test", base=folders.drop.parent)


def pause(config: Config, reason: str | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_pause(config, reason=reason, out=out, err=err, clock=HandClock(NOW))
    return code, out.getvalue(), err.getvalue()


def resume(config: Config) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_resume(config, out=out, err=err, clock=HandClock(NOW))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def daemon_lock(folders: FolderSettings) -> Iterator[None]:
    """Hold the queue's lock as a running daemon would."""
    lock = FolderLock(folders.queue)
    lock.acquire()
    yield
    lock.release()


class TestPause:
    def test_pause_without_a_daemon_records_the_pause(self, folders):
        """The pause file holds the reason, the time and who; the output says what happens next."""
        config = config_for(folders)
        code, out, _ = pause(config, "term rollover")
        assert EXIT_OK == code
        recorded = read_pause(folders.queue)
        assert recorded is not None
        assert ("term rollover", "2027-06-25T12:00:00.000000Z") == (recorded.reason, recorded.since)
        assert "Uploads paused: term rollover" in out
        assert "No daemon is running" in out
        assert "sis-watcher resume" in out

    def test_pausing_again_keeps_the_start_and_takes_a_new_reason(self, folders):
        """A second `pause` with no (or the same) reason changes nothing; a new reason is recorded."""
        config = config_for(folders)
        pause(config, "audit")
        code, out, _ = pause(config)
        assert EXIT_OK == code
        assert "already paused since 2027-06-25T12:00:00.000000Z" in out
        code, out, _ = pause(config, "still auditing")
        recorded = read_pause(folders.queue)
        assert recorded is not None
        assert ("still auditing", "2027-06-25T12:00:00.000000Z") == (recorded.reason, recorded.since)
        assert "still paused, reason now: still auditing" in out

    def test_a_corrupt_pause_file_is_replaced_and_said(self, folders):
        """`pause` over an unreadable file writes a good one, and says which file it was."""
        config = config_for(folders)
        (folders.queue / PAUSE_NAME).write_text("{", encoding="utf-8")
        code, _, err = pause(config, "fixed")
        assert EXIT_OK == code
        assert str(folders.queue / PAUSE_NAME) in err
        assert read_pause(folders.queue) is not None

    def test_a_queue_that_cannot_be_written_fails(self, folders):
        """The pause cannot be recorded: exit 1, saying where."""
        folders.queue.rmdir()
        folders.queue.write_text("a file, not a folder", encoding="utf-8")
        code, _, err = pause(config_for(folders), "x")
        assert EXIT_FAILURE == code
        assert "cannot write the pause file" in err

    def test_with_a_daemon_running_the_import_in_flight_is_named(self, folders, daemon_lock):
        """The running daemon's status file says which import finishes before uploads stop."""
        status = {"batch_id": "20270625T110000Z-000001", "import": {"import_id": 42}}
        (folders.queue / STATUS_NAME).write_text(json.dumps(status), encoding="utf-8")
        _, out, _ = pause(config_for(folders), "x")
        assert "lets batch 20270625T110000Z-000001 (Canvas import 42) finish" in out

    def test_with_a_daemon_running_and_nothing_in_flight(self, folders, daemon_lock):
        """The daemon stops uploading within seconds."""
        _, out, _ = pause(config_for(folders), "x")
        assert "stops uploading within a few seconds" in out


class TestResume:
    def test_resume_removes_the_pause(self, folders):
        """After `resume` there is no pause file; the output recalls the pause."""
        config = config_for(folders)
        pause(config, "audit")
        code, out, _ = resume(config)
        assert EXIT_OK == code
        assert not (folders.queue / PAUSE_NAME).exists()
        assert "Uploads resumed (they were paused since 2027-06-25T12:00:00.000000Z by" in out
        assert "audit" in out

    def test_resume_without_a_pause_says_so(self, folders):
        code, out, _ = resume(config_for(folders))
        assert EXIT_OK == code
        assert "were not paused" in out

    def test_resume_removes_a_corrupt_pause_file(self, folders):
        """A pause file no one can read is still removed by `resume`."""
        (folders.queue / PAUSE_NAME).write_text("{", encoding="utf-8")
        code, out, _ = resume(config_for(folders))
        assert EXIT_OK == code
        assert not (folders.queue / PAUSE_NAME).exists()
        assert "cannot be read" in out

    def test_resume_during_a_blackout_says_when_uploads_start(self, folders):
        """An active blackout window still holds uploads until it ends."""
        config = config_for(folders, schedule={"blackout": [WINDOW]})
        _, out, _ = resume(config)
        assert "lasts until 2027-06-25T13:00:00.000000Z" in out

    def test_a_pause_that_cannot_be_removed_fails(self, folders):
        """The pause file's folder is not a folder: exit 1, saying where."""
        folders.queue.rmdir()
        folders.queue.write_text("a file, not a folder", encoding="utf-8")
        code, _, err = resume(config_for(folders))
        assert EXIT_FAILURE == code
        assert "cannot remove the pause file" in err


class TestStatus:
    def test_status_shows_an_operator_pause_in_text_and_json(self, folders):
        """`pause` in the JSON (source, reason, since, by), a line and what to run in the text."""
        config = config_for(folders, schedule={"blackout": [LATER]})
        pause(config, "audit")
        document = collect(config, now=NOW)
        assert {"source": "operator", "reason": "audit", "until": None}.items() <= document["pause"].items()
        assert "winter" == document["next_blackout"]["reason"]
        assert "stopped" == document["daemon"]["state"]

        out = io.StringIO()
        assert EXIT_OK == run_status(config, as_json=False, out=out)
        text = out.getvalue()
        assert "uploads:  paused by operator (" in text
        assert "sis-watcher resume -c CONFIG" in text
        assert "blackout: next from 2027-12-20T00:00:00.000000Z" in text

    def test_status_shows_a_blackout_with_its_end_and_a_running_daemon_as_paused(self, folders, daemon_lock):
        """A blackout in force: `paused` state, `source` blackout and `until`; no `resume` hint."""
        config = config_for(folders, schedule={"blackout": [WINDOW]})
        document = collect(config, now=NOW)
        assert "paused" == document["daemon"]["state"]
        assert {"source": "blackout", "until": "2027-06-25T13:00:00.000000Z"}.items() <= document[
            "pause"
        ].items()
        assert None is document["next_blackout"]

    def test_status_without_a_pause(self, folders):
        """No pause: `pause` is null, and no line about it."""
        config = config_for(folders)
        assert None is collect(config)["pause"]
        out = io.StringIO()
        run_status(config, as_json=False, out=out)
        assert "uploads:" not in out.getvalue()
