"""Unit tests for `sis_watcher.schedule.windows`: which blackout window a moment falls in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sis_watcher.config.schedule import BlackoutWindow
from sis_watcher.schedule.windows import active_window, next_window

T0 = datetime(2027, 6, 25, tzinfo=UTC)
FIRST = BlackoutWindow(starts=T0, ends=T0 + timedelta(hours=2), reason="first")
SECOND = BlackoutWindow(starts=T0 + timedelta(hours=2), ends=T0 + timedelta(hours=3), reason="second")
WINDOWS = (SECOND, FIRST)


class TestActiveWindow:
    def test_windows_are_half_open(self):
        """`from` is inside, `to` is outside: touching windows hand over without a gap."""
        assert FIRST is active_window(WINDOWS, T0)
        assert FIRST is active_window(WINDOWS, T0 + timedelta(hours=1, minutes=59))
        assert SECOND is active_window(WINDOWS, T0 + timedelta(hours=2))
        assert None is active_window(WINDOWS, T0 + timedelta(hours=3))
        assert None is active_window(WINDOWS, T0 - timedelta(seconds=1))

    def test_time_zones_do_not_matter(self):
        """A window written with an offset is compared as the instant it is."""
        eastern = datetime(2027, 6, 24, 21, 0, tzinfo=timezone(timedelta(hours=-4)))  # 01:00 UTC
        assert FIRST is active_window(WINDOWS, eastern)

    def test_no_windows_no_blackout(self):
        assert None is active_window((), T0)


class TestNextWindow:
    def test_the_next_window_is_the_first_to_start_later(self):
        """Before both: the first; inside the first: the second; after both: none."""
        assert FIRST is next_window(WINDOWS, T0 - timedelta(days=1))
        assert SECOND is next_window(WINDOWS, T0)
        assert None is next_window(WINDOWS, T0 + timedelta(hours=2))
