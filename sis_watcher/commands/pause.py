"""
`sis-watcher pause [--reason TEXT]` and `sis-watcher resume`: stop and restart uploads on purpose.

Both only write or remove `queue/.pause.json` (`schedule.pause_file`), so they work the same
whether a daemon runs or not: a running daemon notices within a few seconds; a stopped one
finds the pause when it starts. Uploads stop after the import in flight finishes; intake and
validation go on (`PAUSE_EFFECT`). `pause` while paused keeps the pause's start and records the
new reason; `resume` removes a pause file even when it cannot be read. Exit 0, or 1 when the
queue folder cannot be written.
"""

from __future__ import annotations

import contextlib
from typing import TextIO

from sis_watcher.batch.lock import lock_owner
from sis_watcher.commands.decide import who
from sis_watcher.config.settings import Config
from sis_watcher.core.clock import Clock, SystemClock, isoformat
from sis_watcher.core.exit_codes import EXIT_FAILURE, EXIT_OK
from sis_watcher.ops.status_file import read_status
from sis_watcher.schedule.pause_file import (
    NO_REASON,
    OperatorPause,
    PauseFileUnreadable,
    read_pause,
    remove_pause,
    write_pause,
)
from sis_watcher.schedule.windows import active_window

PAUSE_EFFECT = (
    "Intake goes on and the queue fills in order: the next batch is checked, previewed and zipped;\n"
    "those behind it are validated (a batch strict validation refuses is filed under failed/ now)\n"
    "and previewed when they reach the front, since each preview depends on the batches before it."
)


def daemon_note(config: Config) -> str:
    """Return what the running daemon does next, or that none runs."""
    queue = config.folders.queue
    owner: int | None = -1
    with contextlib.suppress(OSError):
        owner = lock_owner(queue)
    if owner is None:
        return "No daemon is running; the pause holds when one starts."
    written = read_status(queue) or {}
    flight = written.get("import")
    if isinstance(flight, dict) and flight.get("import_id") is not None:
        return (
            f"The running daemon lets batch {written.get('batch_id')} (Canvas import {flight['import_id']}) "
            "finish, "
            "then uploads nothing more."
        )
    return "The running daemon stops uploading within a few seconds."


def run_pause(
    config: Config, *, reason: str | None, out: TextIO, err: TextIO, clock: Clock | None = None
) -> int:
    """Record an operator's pause; return the exit code."""
    clock = clock or SystemClock()
    queue = config.folders.queue
    try:
        existing = read_pause(queue)
    except PauseFileUnreadable as error:
        print(f"sis-watcher pause: {error}; writing a new one", file=err)
        existing = None
    if existing is not None and reason in (None, existing.reason):
        print(
            f"Uploads are already paused since {existing.since} by {existing.by}: {existing.reason}", file=out
        )
        return EXIT_OK
    since = existing.since if existing is not None else isoformat(clock.now())
    pause = OperatorPause(reason=reason or NO_REASON, since=since, by=who())
    try:
        queue.mkdir(parents=True, exist_ok=True)
        write_pause(queue, pause)
    except OSError as error:
        print(f"sis-watcher pause: cannot write the pause file in {queue}: {error}", file=err)
        return EXIT_FAILURE
    verb = "still paused, reason now" if existing is not None else "paused"
    print(f"Uploads {verb}: {pause.reason} (by {pause.by}, since {pause.since}).", file=out)
    print(PAUSE_EFFECT, file=out)
    print(daemon_note(config), file=out)
    print("To start uploads again: sis-watcher resume -c CONFIG", file=out)
    return EXIT_OK


def run_resume(config: Config, *, out: TextIO, err: TextIO, clock: Clock | None = None) -> int:
    """Remove the operator's pause; return the exit code."""
    clock = clock or SystemClock()
    queue = config.folders.queue
    try:
        pause = read_pause(queue)
        what = f"paused since {pause.since} by {pause.by}: {pause.reason}" if pause else ""
    except PauseFileUnreadable as error:
        what = str(error)
    try:
        removed = remove_pause(queue)
    except OSError as error:
        print(f"sis-watcher resume: cannot remove the pause file in {queue}: {error}", file=err)
        return EXIT_FAILURE
    if removed:
        print(f"Uploads resumed (they were {what}).", file=out)
    else:
        print("Uploads were not paused by `sis-watcher pause`.", file=out)
    window = active_window(config.schedule.blackout, clock.now())
    if window is not None:
        print(
            f"A blackout window ({window.reason}) lasts until {isoformat(window.ends)}: "
            "uploads start again when it ends.",
            file=out,
        )
    return EXIT_OK
