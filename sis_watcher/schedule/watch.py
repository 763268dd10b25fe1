"""
The daemon's view of deliberate pauses: noticed within seconds, told to the world once.

`PauseWatch.refresh()` asks `pauses_in_force` (the pause file, the blackout windows, the
daemon's clock), logs each source's start and end (a blackout that outlasts an operator's
pause, or the other way round, is told once, when its own source begins and ends) and tells
the monitor when the pause in force begins, changes or ends; the daemon's main thread calls it
every `PAUSE_RECHECK_SECONDS`, and the worker before every create it would send
(`StageContext.may_send`). So `status`, the metrics and systemd's STATUS= line learn of a
pause even while the queue is empty, and no upload starts once a pause is in force, not even
a retried one. An import Canvas already has (adopted by a recovery, or importing) is never
held: the import in flight finishes.

When an operator's pause has lasted longer than `alerts.paused_too_long_hours`, the monitor
hears `pause_too_long` once for that pause, also across restarts (`pause_file.record_alerted`).
A blackout never raises it: its end is written in the config, and it resumes by itself.
"""

from __future__ import annotations

import threading
from datetime import datetime

from sis_watcher.batch.ids import batch_folders
from sis_watcher.config.settings import Config
from sis_watcher.core.clock import Clock, parse_time
from sis_watcher.core.errors import Stopping
from sis_watcher.core.logs import get_logger
from sis_watcher.ops.events import Monitor, PauseNotice
from sis_watcher.schedule.current import pauses_in_force
from sis_watcher.schedule.pause_file import alerted_since, pause_path, record_alerted

log = get_logger()
PAUSE_RECHECK_SECONDS = 2.0


class PauseWatch:
    """Tracks the deliberate pause in force; thread-safe (the main thread and the worker call it)."""

    def __init__(self, *, config: Config, clock: Clock, monitor: Monitor, stopping: threading.Event) -> None:
        self.config = config
        self.clock = clock
        self.monitor = monitor
        self.stopping = stopping
        self.lock = threading.Lock()
        self.current: PauseNotice | None = None  # the pause in force: the operator's, else the blackout
        self.operator: PauseNotice | None = None
        self.blackout: PauseNotice | None = None
        self.alerted: str | None = None  # the `since` of the operator pause already alerted about
        self.waiting: str | None = None  # the batch whose wait was logged

    def refresh(self) -> PauseNotice | None:
        """Return the pause in force now (None: uploads may go on), telling the monitor of changes."""
        with self.lock:
            now = self.clock.now()
            operator, blackout = pauses_in_force(self.config, now)
            for previous, notice in ((self.operator, operator), (self.blackout, blackout)):
                if previous is not None and (notice is None or notice.since != previous.since):
                    self.ended(previous)  # only when this source itself is over
                if notice is not None and notice != previous:
                    self.began(notice)
            self.operator, self.blackout = operator, blackout
            effective = operator or blackout
            previous, self.current = self.current, effective
            if effective != previous:
                if effective is None:
                    assert previous is not None  # noqa: S101 - they differ
                    self.monitor.pause_ended(previous)
                else:  # began, or the pause in force changed (a new reason, the other source)
                    self.monitor.pause_began(effective)
            due = self.too_long(operator, now)
        if due is not None:  # the record's fsync and the alert's fan-out outside the lock
            self.alert_too_long(*due)
        return effective

    def began(self, notice: PauseNotice) -> None:
        if notice.problem is not None:
            log.error(
                "pause.file_unreadable",
                path=str(pause_path(self.config.folders.queue)),
                caused_by=notice.problem,
            )
        if notice.source == "blackout":
            log.warning(
                "uploads.blackout_started", reason=notice.reason, since=notice.since, until=notice.until
            )
        else:
            log.warning("uploads.paused_by_operator", reason=notice.reason, since=notice.since, by=notice.by)

    def ended(self, notice: PauseNotice) -> None:
        if notice.source == "blackout":
            log.info("uploads.blackout_ended", reason=notice.reason, since=notice.since, until=notice.until)
        else:
            log.info("uploads.resumed_by_operator", reason=notice.reason, since=notice.since)

    def too_long(self, notice: PauseNotice | None, now: datetime) -> tuple[PauseNotice, float] | None:
        """Return the operator's pause (and its hours) to alert about, claimed under the lock; else None."""
        if notice is None or notice.since == self.alerted:
            return None
        try:
            hours = (now - parse_time(notice.since)).total_seconds() / 3600
        except (ValueError, OverflowError):
            hours = 0.0  # a `since` no one can read: the pause is shown, but never "too long"
        if hours < self.config.alerts.paused_too_long_hours:
            return None
        self.alerted = notice.since
        return notice, hours

    def alert_too_long(self, notice: PauseNotice, hours: float) -> None:
        """
        Alert once that an operator's pause lasted past `alerts.paused_too_long_hours`.

        The record is written first, then the alert queued (at most once across restarts, as
        `ops.timed_alerts`): a kill -9 in between loses this one alert, never repeats it. A
        record that cannot be written is a warning; the alert still goes out (and may once more
        after a restart).
        """
        queue = self.config.folders.queue
        if alerted_since(queue) == notice.since:  # alerted before a restart
            return
        try:
            record_alerted(queue, notice.since)
        except OSError as error:
            log.warning("pause.alert_record_failed", caused_by=str(error))
        log.warning(
            "uploads.paused_too_long",
            reason=notice.reason,
            since=notice.since,
            hours=round(hours, 3),
            limit_hours=self.config.alerts.paused_too_long_hours,
        )
        self.monitor.pause_too_long(notice, hours)

    def idle_activity(self) -> str:
        """Return the worker's activity with an empty queue: `idle, 0 queued`, or the pause."""
        notice = self.refresh()
        return "idle, 0 queued" if notice is None else f"{notice.text()}; 0 queued"

    def wait(self, batch_id: str, notice: PauseNotice) -> None:
        """The zipped batch `batch_id` waits for the pause to end: say so, then wait a little."""
        if self.waiting != batch_id:
            self.waiting = batch_id
            log.info("batch.waiting_for_resume", pause=notice.text())
        try:
            queued: int | None = len(batch_folders(self.config.folders.queue))
        except OSError:
            queued = None
        self.monitor.activity(
            f"{notice.text()}; {batch_id} waits to be uploaded", queued=queued, batch_id=batch_id
        )
        if self.stopping.wait(PAUSE_RECHECK_SECONDS):
            raise Stopping("shutdown while uploads are paused")
