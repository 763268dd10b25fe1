"""
Stage 2: the intake loop. Scans the drop folder, applies the intake rules, seals batches.

It scans at start, whenever the observer wakes it, whenever a readiness window closes, and at
least every `intake.rescan_seconds` (events are lost on queue overflow, and never fire for
writes made by another host over NFS or SMB). It also supervises the observer: a dead observer,
a drop folder deleted and recreated, or a vanished mount are logged, alerted, and retried with
backoff until intake works again; an inotify limit makes it fall back to polling.
"""

from __future__ import annotations

import threading
import time

from sis_watcher.batch.ids import staged_folders
from sis_watcher.batch.manifest import ManifestUnreadable
from sis_watcher.batch.repair import finish_staged
from sis_watcher.batch.sealing import SealPlan, seal
from sis_watcher.config.settings import Config
from sis_watcher.core.clock import Clock
from sis_watcher.core.errors import Stopping
from sis_watcher.core.logs import get_logger
from sis_watcher.intake.readiness import SealPlanner, scan
from sis_watcher.intake.watcher import DropWatcher, is_inotify_limit
from sis_watcher.ops.events import Monitor

log = get_logger()
MIN_SCAN_INTERVAL = 0.05
HEALTH_CHECK_SECONDS = 2.0
FIRST_BACKOFF = 1.0
MAX_BACKOFF = 60.0


class IntakeLoop:
    """Watches, scans and seals; `run` is the daemon's intake thread, `run_once` the `once` command."""

    def __init__(
        self,
        *,
        config: Config,
        clock: Clock,
        stopping: threading.Event,
        batch_sealed: threading.Event,
        monitor: Monitor,
    ) -> None:
        self.config = config
        self.clock = clock
        self.stopping = stopping
        self.batch_sealed = batch_sealed
        self.monitor = monitor
        self.wake = threading.Event()
        self.first_scan_done = threading.Event()
        self.planner = SealPlanner(config.intake)
        self.watcher = DropWatcher(config.folders.drop, wake=self.wake, polling=config.intake.polling)
        self.problem: str | None = None
        self.backoff = FIRST_BACKOFF
        self.next_watch_attempt = 0.0

    def report_problem(self, reason: str) -> None:
        if self.problem != reason:
            self.problem = reason
            log.error("intake.problem", reason=reason, drop=str(self.config.folders.drop))
            self.monitor.intake_problem(reason)

    def report_recovered(self) -> None:
        if self.problem is not None:
            self.problem = None
            self.backoff = FIRST_BACKOFF
            log.info("intake.recovered", drop=str(self.config.folders.drop), observer=self.watcher.kind)
            self.monitor.intake_recovered()

    def ensure_watching(self) -> bool:
        """Start or restart the observer if it is not listening; return True if it is."""
        if self.watcher.healthy():
            return True
        now = self.clock.monotonic()
        if now < self.next_watch_attempt:
            return False
        restarting = self.watcher.observer is not None
        try:
            self.watcher.start()
        except OSError as error:
            if not self.watcher.polling and is_inotify_limit(error):
                log.warning("intake.inotify_unavailable", caused_by=str(error), fallback="polling")
                self.watcher.use_polling()
                return self.ensure_watching()
            self.next_watch_attempt = now + self.backoff
            self.backoff = min(self.backoff * 2, MAX_BACKOFF)
            self.report_problem(f"cannot watch the drop folder: {error.strerror or error}")
            return False
        event = "intake.observer_restarted" if restarting else "intake.observer_started"
        log.info(event, observer=self.watcher.kind, drop=str(self.config.folders.drop))
        return True

    def finish_unsealed(self) -> bool:
        """
        Finish seals that failed half-way (files already in `.sealing-<id>`); False if one still fails.

        Until they are finished nothing new is sealed: the rest of that export must join its
        batch, and a later batch must not overtake it.
        """
        for staged in staged_folders(self.config.folders.queue):
            try:
                batch_dir = finish_staged(staged, drop=self.config.folders.drop, now=self.clock.now())
            except (OSError, ManifestUnreadable) as error:
                log.error(
                    "batch.seal_failed", caused_by=f"{error.__class__.__name__}: {error}", folder=staged.name
                )
                self.report_problem(f"cannot finish sealing {staged.name}: {error}")
                return False
            if batch_dir is not None:
                log.info("batch.sealed", batch_id=batch_dir.name, sealed_on="retry of an interrupted seal")
                self.batch_sealed.set()
        return True

    def scan_and_seal(self, *, once: bool = False) -> bool:
        """Scan, seal what is ready; return False if the drop folder could not be read."""
        if not self.finish_unsealed():
            return False
        try:
            snapshot = scan(self.config.folders.drop, self.config.intake)
        except OSError as error:
            self.report_problem(f"cannot read the drop folder: {error.strerror or error}")
            return False
        self.planner.observe(snapshot, self.clock.monotonic())
        wall = time.time_ns() if once else None
        for plan in self.planner.plans(self.clock.monotonic(), wall_now_ns=wall):
            self.seal(plan)
        return True

    def seal(self, plan: SealPlan) -> None:
        """Seal one plan into the queue; a failure leaves the files in the drop folder."""
        try:
            result = seal(plan, folders=self.config.folders, now=self.clock.now())
        except OSError as error:
            log.error(
                "batch.seal_failed", caused_by=f"{error.__class__.__name__}: {error}", files=len(plan.files)
            )
            return
        self.planner.forget(plan)
        if result.skipped:
            log.warning("intake.file_changed_during_seal", files=list(result.skipped))
        if result.batch_dir is None:
            return
        log.info(
            "batch.sealed",
            batch_id=result.batch_dir.name,
            files=list(result.moved),
            trigger=plan.trigger.name if plan.trigger else None,
            sealed_on=plan.reason,
        )
        if result.manifest is not None:
            self.monitor.batch_sealed(result.manifest)
        self.batch_sealed.set()

    def next_wait(self) -> float:
        until = self.planner.seconds_until_next_decision(self.clock.monotonic())
        wait = (
            self.config.intake.rescan_seconds
            if until is None
            else min(until, self.config.intake.rescan_seconds)
        )
        if self.problem is not None:
            wait = min(wait, max(self.next_watch_attempt - self.clock.monotonic(), FIRST_BACKOFF))
        return max(wait, MIN_SCAN_INTERVAL)

    def run(self) -> None:
        """
        Watch and seal until stopped.

        Scans when woken, when a readiness window closes, and every `rescan_seconds`; between
        scans it checks every `HEALTH_CHECK_SECONDS` that the observer still listens to the same
        folder (a deleted folder or a vanished mount silences inotify without an error).
        """
        woken = True
        next_scan = 0.0
        while not self.stopping.is_set():
            watching = self.ensure_watching()
            now = self.clock.monotonic()
            if woken or now >= next_scan or not watching:
                scanned = self.scan_and_seal()
                self.first_scan_done.set()
                next_scan = self.clock.monotonic() + self.next_wait()
                if watching and scanned:
                    self.report_recovered()
            timeout = min(max(next_scan - self.clock.monotonic(), MIN_SCAN_INTERVAL), HEALTH_CHECK_SECONDS)
            woken = self.wake.wait(timeout)
            self.wake.clear()
            if woken and self.stopping.wait(MIN_SCAN_INTERVAL):
                break
        self.watcher.stop()

    def run_once(self) -> None:
        """
        Seal what is in the drop folder now (files already complete need no settle wait).

        Files still being written are waited for until they settle, at most
        `intake.max_wait_seconds`; then the rest is left for the next run.
        """
        deadline: float | None = None
        while True:
            past_deadline = deadline is not None and self.clock.monotonic() >= deadline
            self.scan_and_seal(once=True)  # past the deadline, the planner's max-wait rule seals
            if deadline is None:  # counted from after the first scan, as the planner counts it
                deadline = self.clock.monotonic() + self.config.intake.max_wait_seconds
            self.first_scan_done.set()
            pending = bool(self.planner.tracked) and (
                self.config.intake.trigger_file is None or self.planner.trigger is not None
            )
            if not pending or past_deadline:
                if pending:
                    log.warning("intake.left_for_next_run", files=sorted(self.planner.tracked))
                return
            if self.stopping.wait(min(self.next_wait(), max(deadline - self.clock.monotonic(), 0.0))):
                raise Stopping("shutdown during once intake")
