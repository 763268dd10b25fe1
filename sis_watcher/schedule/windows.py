"""
`schedule.blackout`: the date-time windows during which uploads pause by themselves.

A window is half-open, `from <= now < to`, so two windows that touch (one's `to` is the
next one's `from`) leave no gap and no moment in both. Windows never overlap (the config
refuses that), so at most one is active at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sis_watcher.config.schedule import BlackoutWindow


def active_window(windows: Sequence[BlackoutWindow], now: datetime) -> BlackoutWindow | None:
    """Return the blackout window `now` falls in, or None."""
    return next((window for window in windows if window.starts <= now < window.ends), None)


def next_window(windows: Sequence[BlackoutWindow], now: datetime) -> BlackoutWindow | None:
    """Return the first window that starts after `now`, or None."""
    coming = [window for window in windows if window.starts > now]
    return min(coming, key=lambda window: window.starts, default=None)
