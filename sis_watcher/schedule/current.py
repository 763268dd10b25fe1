"""
Are uploads paused on purpose right now, and why: the one answer the daemon and `status` share.

An operator's pause (`queue/.pause.json`) comes first; otherwise the blackout window the moment
falls in (`pauses_in_force` gives both, for the daemon to tell each one's start and end). A
pause file that cannot be read counts as a pause: a person asked for something, and
uploading when someone wanted a pause (a term rollover under way) is worse than waiting for a
`resume` (which removes the file, readable or not); the notice's `problem` says what is wrong.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sis_watcher.config.settings import Config
from sis_watcher.core.clock import isoformat
from sis_watcher.ops.events import PauseNotice
from sis_watcher.schedule.pause_file import PauseFileUnreadable, read_pause
from sis_watcher.schedule.windows import active_window


def current_pause(config: Config, now: datetime) -> PauseNotice | None:
    """Return the deliberate pause in force at `now`, or None when uploads may go on."""
    operator, blackout = pauses_in_force(config, now)
    return operator or blackout


def pauses_in_force(config: Config, now: datetime) -> tuple[PauseNotice | None, PauseNotice | None]:
    """Return the operator's pause and the blackout window in force at `now` (each None if none)."""
    try:
        pause = read_pause(config.folders.queue)
    except PauseFileUnreadable as error:
        operator: PauseNotice | None = unreadable_notice(error, now)
    else:
        operator = (
            None
            if pause is None
            else PauseNotice(source="operator", reason=pause.reason, since=pause.since, by=pause.by)
        )
    window = active_window(config.schedule.blackout, now)
    if window is None:
        return operator, None
    blackout = PauseNotice(
        source="blackout", reason=window.reason, since=isoformat(window.starts), until=isoformat(window.ends)
    )
    return operator, blackout


def unreadable_notice(error: PauseFileUnreadable, now: datetime) -> PauseNotice:
    """The pause a corrupt pause file stands for: since the file was last written (or now)."""
    try:
        since = isoformat(datetime.fromtimestamp(error.path.stat().st_mtime, tz=UTC))
    except OSError:
        since = isoformat(now)
    return PauseNotice(
        source="operator",
        reason=f"{error}; run `sis-watcher resume` to remove it, or `pause` to write it again",
        since=since,
        problem=str(error),
    )
