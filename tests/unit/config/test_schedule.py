"""Unit tests for `schedule.blackout` and `alerts.paused_too_long_hours` in the config: problems by key path."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from sis_watcher.config.load import load
from sis_watcher.core.errors import ConfigError

MINIMAL: dict[str, Any] = {
    "canvas": {"base_url": "https://school.instructure.com"},
    "folders": {"drop": "drop", "queue": "queue", "done": "done", "failed": "failed"},
}


def config_with(tmp_path: Path, **sections: Any) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({**MINIMAL, **sections}, sort_keys=False), encoding="utf-8")
    return path


def problems(tmp_path: Path, **sections: Any) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as caught:
        load(config_with(tmp_path, **sections))
    return caught.value.problems


def window(start: str, end: str, **extra: str) -> dict[str, str]:
    return {"from": start, "to": end, **extra}


class TestBlackout:
    def test_windows_are_read_with_their_time_zones_and_reasons(self, tmp_path):
        """`from`/`to` keep their offsets; a window without a reason is a plain "blackout"."""
        blackout = [
            window("2027-06-25T18:00:00-04:00", "2027-06-29T08:00:00-04:00", reason="term rollover"),
            window("2027-12-20T00:00:00Z", "2027-12-21T00:00:00Z"),
        ]
        config = load(config_with(tmp_path, schedule={"blackout": blackout}))
        first, second = config.schedule.blackout
        assert datetime(2027, 6, 25, 22, tzinfo=UTC) == first.starts
        assert "term rollover" == first.reason
        assert "blackout" == second.reason

    def test_no_schedule_means_no_blackout_and_a_72_hour_pause_alert(self, tmp_path):
        """Both keys have defaults."""
        config = load(config_with(tmp_path))
        assert () == config.schedule.blackout
        assert 72.0 == config.alerts.paused_too_long_hours

    def test_a_window_ending_before_it_starts_is_named_by_its_key_path(self, tmp_path):
        """`to` before (or at) `from` is a problem at `schedule.blackout.N`."""
        blackout = [window("2027-06-25T18:00:00Z", "2027-06-25T17:00:00Z")]
        [problem] = problems(tmp_path, schedule={"blackout": blackout})
        assert problem.startswith("schedule.blackout.0")
        assert "to must be later than from" in problem

    def test_overlapping_windows_are_refused(self, tmp_path):
        """Two windows that overlap are one problem at `schedule.blackout`, naming both."""
        blackout = [
            window("2027-06-25T00:00:00Z", "2027-06-27T00:00:00Z"),
            window("2027-06-26T00:00:00Z", "2027-06-28T00:00:00Z"),
        ]
        [problem] = problems(tmp_path, schedule={"blackout": blackout})
        assert problem.startswith("schedule.blackout")
        assert "overlap" in problem
        assert "2027-06-26T00:00:00+00:00" in problem

    def test_windows_that_touch_do_not_overlap(self, tmp_path):
        """One window may start exactly when the previous one ends."""
        blackout = [
            window("2027-06-26T00:00:00Z", "2027-06-28T00:00:00Z"),
            window("2027-06-25T00:00:00Z", "2027-06-26T00:00:00Z"),
        ]
        assert 2 == len(load(config_with(tmp_path, schedule={"blackout": blackout})).schedule.blackout)

    @pytest.mark.parametrize(
        ("start", "key"),
        [
            ("2027-06-25T18:00:00", "from"),  # no time zone
            ("next tuesday", "from"),
            ("2027-13-40T00:00:00Z", "from"),
        ],
    )
    def test_bad_or_naive_dates_are_named_by_their_key_path(self, tmp_path, start, key):
        """A date-time without a time zone, or not a date-time at all, is a problem at its key."""
        blackout = [window(start, "2027-06-29T08:00:00Z")]
        found = problems(tmp_path, schedule={"blackout": blackout})
        assert any(problem.startswith(f"schedule.blackout.0.{key}") for problem in found), found

    def test_unknown_keys_in_a_window_are_refused(self, tmp_path):
        """A misspelt key (`until`) is a problem, not silently ignored."""
        blackout = [{"from": "2027-06-25T18:00:00Z", "until": "2027-06-29T08:00:00Z"}]
        found = problems(tmp_path, schedule={"blackout": blackout})
        assert any("schedule.blackout.0.until" in problem for problem in found), found
        assert any("schedule.blackout.0.to" in problem for problem in found), found


class TestPausedTooLong:
    def test_fractions_of_an_hour_are_allowed(self, tmp_path):
        """0.5 is half an hour."""
        config = load(config_with(tmp_path, alerts={"paused_too_long_hours": 0.5}))
        assert 0.5 == config.alerts.paused_too_long_hours

    @pytest.mark.parametrize("value", [0, -1, "soon"])
    def test_zero_negative_or_text_is_a_problem(self, tmp_path, value):
        """The limit must be a positive number of hours."""
        [problem] = problems(tmp_path, alerts={"paused_too_long_hours": value})
        assert problem.startswith("alerts.paused_too_long_hours")
