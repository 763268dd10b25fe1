"""Unit tests for `sis_watcher.schedule.current`: the deliberate pause in force at a moment."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from sis_watcher.ops.events import PauseNotice
from sis_watcher.schedule.current import current_pause, unreadable_notice
from sis_watcher.schedule.pause_file import PAUSE_NAME, OperatorPause, PauseFileUnreadable, write_pause

from unit.schedule.conftest import START

WINDOW = {"from": "2027-06-25T11:00:00Z", "to": "2027-06-25T13:00:00Z", "reason": "term rollover"}


class TestCurrentPause:
    def test_nothing_paused(self, make_config):
        """No pause file and no window: uploads go on."""
        assert None is current_pause(make_config(), START)

    def test_a_blackout_window_is_a_pause_until_its_end(self, make_config):
        """Inside the window: a blackout notice with its reason, start and end in UTC."""
        config = make_config(schedule={"blackout": [WINDOW]})
        assert PauseNotice(
            source="blackout",
            reason="term rollover",
            since="2027-06-25T11:00:00.000000Z",
            until="2027-06-25T13:00:00.000000Z",
        ) == current_pause(config, START)
        assert None is current_pause(config, START + timedelta(hours=1))

    def test_an_operator_pause_comes_before_a_blackout(self, make_config):
        """Both in force: the operator's pause is shown (it outlasts the window)."""
        config = make_config(schedule={"blackout": [WINDOW]})
        write_pause(
            config.folders.queue, OperatorPause(reason="audit", since="2027-06-25T10:00:00Z", by="bob")
        )
        notice = current_pause(config, START)
        assert notice == PauseNotice(
            source="operator", reason="audit", since="2027-06-25T10:00:00Z", by="bob"
        )

    def test_a_corrupt_pause_file_counts_as_a_pause_and_says_why(self, make_config):
        """A person asked for something: paused, since the file was written, naming the file."""
        config = make_config()
        path = config.folders.queue / PAUSE_NAME
        path.write_text("{half a pause", encoding="utf-8")
        written = datetime(2027, 6, 25, 9, 30, tzinfo=UTC)
        os.utime(path, (written.timestamp(), written.timestamp()))

        notice = current_pause(config, START)
        assert notice is not None
        assert "operator" == notice.source
        assert "2027-06-25T09:30:00.000000Z" == notice.since
        assert notice.problem is not None
        assert str(path) in notice.problem
        assert "sis-watcher resume" in notice.reason

    def test_a_corrupt_file_that_vanished_is_dated_now(self, tmp_path):
        """If the file cannot even be stat'ed any more, the pause is dated at the moment asked."""
        error = PauseFileUnreadable(tmp_path / "gone.json", "not JSON")
        assert "2027-06-25T12:00:00.000000Z" == unreadable_notice(error, START).since
