"""Unit tests for `sis_watcher.schedule.pause_file`: the operator's pause on disk, and its alert record."""

from __future__ import annotations

import pytest

from sis_watcher.schedule.pause_file import (
    ALERTED_NAME,
    NO_REASON,
    PAUSE_NAME,
    OperatorPause,
    PauseFileUnreadable,
    alerted_since,
    read_pause,
    record_alerted,
    remove_pause,
    write_pause,
)

PAUSE = OperatorPause(reason="term rollover", since="2027-06-25T12:00:00.000000Z", by="alice")


class TestPauseFile:
    def test_no_file_means_no_pause(self, tmp_path):
        """A queue without `.pause.json` (or a queue not made yet) is not paused."""
        assert None is read_pause(tmp_path)
        assert None is read_pause(tmp_path / "not-yet")

    def test_what_is_written_is_read_back(self, tmp_path):
        """The reason, since and by survive the round trip; no temporary file is left."""
        write_pause(tmp_path, PAUSE)
        assert PAUSE == read_pause(tmp_path)
        assert [PAUSE_NAME] == [path.name for path in tmp_path.iterdir()]

    def test_missing_reason_and_by_get_words(self, tmp_path):
        """A hand-written file with only `since` is a pause with no reason, by someone unknown."""
        (tmp_path / PAUSE_NAME).write_text('{"since": "2027-06-25T12:00:00Z"}', encoding="utf-8")
        assert OperatorPause(reason=NO_REASON, since="2027-06-25T12:00:00Z", by="unknown") == read_pause(
            tmp_path
        )

    @pytest.mark.parametrize(
        ("content", "problem"),
        [
            ("{not json", "not JSON"),
            ('["a list"]', 'not an object with a "since" time'),
            ('{"reason": "x"}', 'not an object with a "since" time'),
            ('{"since": 5}', 'not an object with a "since" time'),
            ("[" * 100_000 + "]" * 100_000, "not JSON"),
        ],
    )
    def test_a_corrupt_file_is_an_error_naming_it(self, tmp_path, content, problem):
        """Anything but an object with a `since` string raises PauseFileUnreadable with the path."""
        (tmp_path / PAUSE_NAME).write_text(content, encoding="utf-8")
        with pytest.raises(PauseFileUnreadable) as caught:
            read_pause(tmp_path)
        assert caught.value.path == tmp_path / PAUSE_NAME
        assert problem in caught.value.problem
        assert str(tmp_path / PAUSE_NAME) in str(caught.value)

    def test_an_unreadable_file_is_an_error_too(self, tmp_path):
        """A pause path that cannot be read (here a folder; or bytes not UTF-8) is PauseFileUnreadable."""
        (tmp_path / PAUSE_NAME).mkdir()
        with pytest.raises(PauseFileUnreadable):
            read_pause(tmp_path)
        other = tmp_path / "other"
        other.mkdir()
        (other / PAUSE_NAME).write_bytes(b"\xff\xfe")
        with pytest.raises(PauseFileUnreadable):
            read_pause(other)

    def test_remove_takes_the_pause_and_its_alert_record(self, tmp_path):
        """`remove_pause` says whether there was a pause; the alert record goes with it."""
        write_pause(tmp_path, PAUSE)
        record_alerted(tmp_path, PAUSE.since)
        assert remove_pause(tmp_path)
        assert [] == list(tmp_path.iterdir())
        assert not remove_pause(tmp_path)


class TestAlertRecord:
    def test_the_alerted_pause_is_remembered_by_its_start(self, tmp_path):
        """`record_alerted` writes the pause's `since`; `alerted_since` reads it back."""
        assert None is alerted_since(tmp_path)
        record_alerted(tmp_path, PAUSE.since)
        assert PAUSE.since == alerted_since(tmp_path)

    @pytest.mark.parametrize("content", ["{broken", '["x"]', '{"since": 3}'])
    def test_a_corrupt_record_counts_as_none(self, tmp_path, content):
        """The worst a bad record does is one more alert."""
        (tmp_path / ALERTED_NAME).write_text(content, encoding="utf-8")
        assert None is alerted_since(tmp_path)
