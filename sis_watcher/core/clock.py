"""Time, injected: every component asks a `Clock`, so tests never sleep to make time pass."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float:
        """Return seconds on a clock that never goes back (for waits and readiness)."""

    def now(self) -> datetime:
        """Return the current wall-clock time, timezone-aware UTC (for records and Canvas)."""


class SystemClock:
    """The real clocks of the machine."""

    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return datetime.now(UTC)


def isoformat(moment: datetime) -> str:
    """Return `moment` as ISO 8601 UTC with a `Z`, e.g. `2026-11-27T02:00:00.123456Z`."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    """Parse an ISO 8601 time (ours or Canvas's, `Z` or an offset) into an aware UTC datetime."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
