"""
The daemon: wires the stages, runs them as threads, and stops them in order.

    watchdog observer --wake--> intake loop --seals--> queue/ --> worker --> done/ | failed/

The main thread only supervises: it answers signals (the first SIGTERM/SIGINT sets `stopping`,
a second exits at once with EXIT_KILLED), tells systemd READY=1 after the start-up scan and
WATCHDOG=1 while every stage thread is alive, sweeps retention, and exits non-zero if a stage
thread dies (systemd restarts it). On stop it waits for the current step up to
`STOP_GRACE_SECONDS`; whatever was in flight is on disk and resumes on the next start.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
from collections.abc import Callable, Mapping
from types import FrameType

import httpx

from sis_watcher.batch.lock import FolderLock
from sis_watcher.batch.repair import repair_queue
from sis_watcher.batch.retention import sweep
from sis_watcher.canvas.client import CanvasClient
from sis_watcher.canvas.credentials import TokenSource
from sis_watcher.config.settings import Config
from sis_watcher.core.clock import Clock, SystemClock, isoformat
from sis_watcher.core.exit_codes import EXIT_FAILURE, EXIT_KILLED, EXIT_OK
from sis_watcher.core.logs import get_logger
from sis_watcher.daemon.stages import StageThread
from sis_watcher.intake.loop import IntakeLoop
from sis_watcher.ledger.apply import settle
from sis_watcher.ledger.store import LedgerKeeper, LedgerUnusable
from sis_watcher.ops.alerts.dispatch import Alerter
from sis_watcher.ops.events import Listener, Monitor, PauseNotice
from sis_watcher.ops.metrics import Metrics
from sis_watcher.ops.metrics_server import MetricsServer
from sis_watcher.ops.status_file import StatusFile
from sis_watcher.ops.systemd import Notifier
from sis_watcher.ops.timed_alerts import TimedAlerts
from sis_watcher.pipeline.context import StageContext
from sis_watcher.pipeline.worker import Worker
from sis_watcher.schedule.watch import PAUSE_RECHECK_SECONDS

log = get_logger()
STOP_GRACE_SECONDS = 7.0  # for the stage threads; queued alerts get what is left of 9 s
ALERT_FLUSH_SECONDS = 2.0
TIMED_ALERTS_STOP_SECONDS = 2.0  # a digest being gathered when the daemon stops
SUPERVISE_SECONDS = 0.5
RETENTION_EVERY_SECONDS = 3600.0


class NotifyStatus(Listener):
    """Mirrors the current activity as systemd's STATUS= line."""

    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier

    def activity(self, text: str, *, queued: int | None = None, batch_id: str | None = None) -> None:
        self.notifier.status(text)

    def uploads_paused(self, reason: str) -> None:
        self.notifier.status(f"paused: {reason}")

    def pause_began(self, pause: PauseNotice) -> None:
        self.notifier.status(pause.text())


def ensure_state_folders(config: Config) -> None:
    """Create queue/, done/ and failed/ if missing (the drop folder is waited for, not made)."""
    for folder in (config.folders.queue, config.folders.done, config.folders.failed):
        folder.mkdir(parents=True, exist_ok=True)


class Daemon:
    """`run` is the whole `run` command (or, with `once=True`, the `once` command)."""

    def __init__(
        self,
        config: Config,
        *,
        once: bool = False,
        environ: Mapping[str, str] | None = None,
        clock: Clock | None = None,
        transport: httpx.BaseTransport | None = None,
        listeners: tuple[Listener, ...] = (),
    ) -> None:
        self.config = config
        self.once = once
        self.clock = clock or SystemClock()
        self.stopping = threading.Event()
        self.environ = os.environ if environ is None else environ
        self.notifier = Notifier(environ=self.environ)
        self.status_file = StatusFile(config.folders.queue, clock=self.clock)
        self.alerter = Alerter(config.alerts, environ=self.environ, canvas_url=config.canvas.base_url)
        self.metrics = Metrics(clock=self.clock)
        self.metrics_server = (
            MetricsServer(self.metrics, host=config.metrics.host, port=config.metrics.port)
            if config.metrics.enabled
            else None
        )
        # export freshness and the digest only in `run`; `once` leaves its batches for the next start to see
        self.timed_alerts = (
            None
            if once
            else TimedAlerts(config, alerter=self.alerter, clock=self.clock, metrics=self.metrics)
        )
        timed = [self.timed_alerts] if self.timed_alerts is not None else []
        self.monitor = Monitor(
            [self.status_file, NotifyStatus(self.notifier), self.alerter, self.metrics, *timed, *listeners]
        )
        self.client = CanvasClient(
            base_url=config.canvas.base_url,
            account_id=config.canvas.account_id,
            token_source=TokenSource(token_file=config.canvas.token_file, environ=self.environ),
            timeout_seconds=config.canvas.timeout_seconds,
            proxy=config.canvas.proxy,
            transport=transport,
            stopping=self.stopping,
            on_response=self.monitor.canvas_response,
        )
        self.batch_sealed = threading.Event()
        self.ledger = LedgerKeeper(config.ledger_path) if config.ledger.enabled else None
        context = StageContext(
            config=config,
            client=self.client,
            clock=self.clock,
            stopping=self.stopping,
            policy=config.retry.policy(),
            monitor=self.monitor,
            ledger=self.ledger,
        )
        self.worker = Worker(context=context, wake=self.batch_sealed, once=once)
        self.intake = IntakeLoop(
            config=config,
            clock=self.clock,
            stopping=self.stopping,
            batch_sealed=self.batch_sealed,
            monitor=self.monitor,
        )
        self.crashed: str | None = None
        self.abandoned = False  # a stage thread still ran when the grace period ended
        self.signals = 0
        self.stop_deadline = 0.0

    def on_signal(self, signum: int, _frame: FrameType | None) -> None:
        """First signal: stop gracefully. Second: exit now (state on disk stays consistent)."""
        self.signals += 1
        name = signal.Signals(signum).name
        if self.signals > 1:
            log.warning("shutdown.forced", signal=name)
            os._exit(EXIT_KILLED)
        log.info("shutdown.requested", signal=name)
        self.notifier.stopping()
        self.request_stop()

    def request_stop(self) -> None:
        """Ask every stage to stop: set `stopping` and wake whatever waits for intake or the queue."""
        self.stopping.set()
        self.intake.wake.set()
        self.batch_sealed.set()

    def install_signal_handlers(self) -> None:
        """Route SIGTERM and SIGINT to `on_signal` (only possible from the main thread)."""
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self.on_signal)
            signal.signal(signal.SIGINT, self.on_signal)

    def stage(self, name: str, body: Callable[[], None]) -> StageThread:
        """Return a stage thread running `body`; if it raises, the daemon stops with EXIT_FAILURE."""
        return StageThread(name, body, stopping=self.stopping, on_crash=self.stage_crashed)

    def stage_crashed(self, name: str) -> None:
        self.crashed = name
        self.monitor.stage_died(name)
        self.request_stop()

    def intake_body(self) -> None:
        if self.once:
            try:
                self.intake.run_once()
            finally:
                self.worker.intake_finished.set()
                self.batch_sealed.set()  # wake the worker: it may now end
        else:
            self.intake.run()

    def run(self) -> int:
        """Run until stopped (or, once, until the queue is empty); return the exit code."""
        self.install_signal_handlers()
        ensure_state_folders(self.config)
        lock = FolderLock(self.config.folders.queue)
        lock.acquire()
        try:
            self.client.token()
            self.start_side_services()
            resumed = repair_queue(self.config.folders, now=self.clock.now())
            if resumed:
                log.info("daemon.resuming", batches=resumed)
            self.settle_ledger()
            if self.timed_alerts is not None:
                try:
                    self.timed_alerts.start()  # after repair: seals it finished count as exports
                except Exception:  # pragma: no cover - no known input raises; never stop the pipeline
                    log.exception("timed_alerts.start_failed", path=str(self.timed_alerts.path))
            return self.supervise()
        finally:
            self.client.close()
            if self.ledger is not None and not self.abandoned:  # never close it under the worker's feet
                self.ledger.close()
            if self.metrics_server is not None:
                self.metrics_server.stop()
            if self.timed_alerts is not None:
                self.timed_alerts.stop(timeout=TIMED_ALERTS_STOP_SECONDS)
            self.alerter.stop(
                timeout=max(self.stop_deadline + ALERT_FLUSH_SECONDS - self.clock.monotonic(), 0.5)
            )
            self.status_file.stopped()
            lock.release()

    def settle_ledger(self) -> None:
        """Apply what a crash left between filing and the ledger; an unusable ledger waits for the worker."""
        if self.ledger is None:
            return
        try:
            applied = settle(self.ledger.open(), self.config.folders, applied_at=isoformat(self.clock.now()))
        except (LedgerUnusable, sqlite3.Error, OSError) as error:
            self.ledger.failed()
            log.error("ledger.unusable", path=str(self.config.ledger_path), caused_by=str(error))
            return
        if applied:
            log.info("ledger.settled", batches=applied)

    def start_side_services(self) -> None:
        """Start the alert senders and, if enabled, the metrics endpoint (its failure is not fatal)."""
        self.alerter.start()
        if self.metrics_server is None:
            return
        try:
            self.metrics_server.start()
        except OSError as error:
            log.error("metrics.unavailable", caused_by=str(error), port=self.config.metrics.port)

    def supervise(self) -> int:
        """Start the stage threads and watch them until the end; return the exit code."""
        log.info("daemon.started", mode="once" if self.once else "run", drop=str(self.config.folders.drop))
        intake = self.stage("intake", self.intake_body)
        worker = self.stage("worker", self.worker.run)
        intake.start()
        worker.start()
        ready_sent = False
        watchdog_every = self.notifier.watchdog_interval_seconds()
        next_watchdog = 0.0
        next_retention = 0.0
        next_pause_check = 0.0
        while not self.stopping.is_set():
            now = self.clock.monotonic()
            if not ready_sent and self.intake.first_scan_done.is_set():
                # a full notify socket drops READY=1 (never waits): try again at the next round
                ready_sent = self.notifier.ready() or not self.notifier.enabled
            if (
                watchdog_every is not None
                and now >= next_watchdog
                and intake.is_alive()
                and worker.is_alive()
            ):
                self.notifier.watchdog()
                next_watchdog = now + watchdog_every
            if now >= next_pause_check:  # status and metrics learn of a pause even with nothing queued
                self.worker.pauses.refresh()
                next_pause_check = now + PAUSE_RECHECK_SECONDS
            if now >= next_retention and self.config.retention.done_days is not None:
                sweep(self.config.folders.done, days=self.config.retention.done_days, now=self.clock.now())
                next_retention = now + RETENTION_EVERY_SECONDS
            if self.once and not worker.is_alive():
                break
            self.stopping.wait(SUPERVISE_SECONDS)
        return self.shut_down(intake, worker)

    def shut_down(self, intake: StageThread, worker: StageThread) -> int:
        """Stop in pipeline order: intake first, then the worker, all within one grace period."""
        self.notifier.stopping()
        self.request_stop()
        self.stop_deadline = self.clock.monotonic() + STOP_GRACE_SECONDS
        intake.join(timeout=max(self.stop_deadline - self.clock.monotonic(), 0.1))
        worker.join(timeout=max(self.stop_deadline - self.clock.monotonic(), 0.1))
        if worker.is_alive():
            self.abandoned = True
            log.warning(
                "shutdown.step_abandoned", note="the step in flight resumes from its manifest at next start"
            )
        interrupted = self.signals > 0  # `once` stopped by a signal has not done everything
        unfinished = self.once and bool(self.worker.failed_count or self.worker.incomplete or interrupted)
        code = EXIT_FAILURE if self.crashed is not None or unfinished else EXIT_OK
        log.info(
            "shutdown.completed",
            exit_code=code,
            batches_done=self.worker.done_count,
            batches_failed=self.worker.failed_count,
            incomplete=self.worker.incomplete,
        )
        return code
