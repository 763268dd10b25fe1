"""
The alerts that come from time passing: export freshness and the daily digest, on one thread.

`TimedAlerts` is a `Listener` (it hears each `batch_sealed`, and the pause moments for the
digest: `uploads_paused` for the token, `pause_began`/`pause_ended` for `sis-watcher pause` and
blackouts) with its own thread (`start`, `stop(timeout)`), which wakes every `TICK_SECONDS` and
asks the injected `Clock` whether the "no export" alert (`ops.freshness`) or today's digest
(`ops.digest`) is due. `open()` (called by `start`) reads `queue/.alerts-state.json`
(`ops.timed_state`), brings it up to date with the newest batch on disk, and sets the metric
`sis_watcher_last_sealed_timestamp_seconds`.

Nothing is sent twice, across restarts too: each alert's fact (the silence alerted, the date
of the digest) is written durably *before* the alert is queued on the channels. So this is
at-most-once: a kill -9 between the write and the delivery, or a delivery that fails all its
attempts (`alert.failed`), loses that one alert, and a restart never repeats it. A second
digest or a repeated "no export" alert would teach people to ignore both; a missing digest is
itself visible. Every decision is also logged (`export.overdue`, `export.resumed`,
`digest.sent`), with or without alert channels.

Listener methods only touch memory, under a lock held briefly: a seal marks the state to be
written, and the next tick (within `TICK_SECONDS`) writes it and only then queues the
`exports_resumed` alert it called for. A kill -9 in that second loses only memory, which `open`
rebuilds from the batch folders at the next start (the batch is on disk before it is heard).
The digest reads the batch folders on this thread, outside the lock, so intake never waits.
"""

from __future__ import annotations

import threading
from datetime import datetime, time, tzinfo
from zoneinfo import ZoneInfo

from sis_watcher.batch.manifest import Manifest
from sis_watcher.config.settings import Config
from sis_watcher.core.clock import Clock, isoformat, parse_time
from sis_watcher.core.logs import get_logger
from sis_watcher.ops.alerts.dispatch import Alerter
from sis_watcher.ops.digest import digest_alert, digest_due, digest_window, gather
from sis_watcher.ops.events import Listener, PauseNotice
from sis_watcher.ops.freshness import (
    DueAlert,
    batch_time,
    newest_batch_id,
    overdue_alert,
    reconcile,
    record_seal,
    silence_start,
)
from sis_watcher.ops.metrics import Metrics
from sis_watcher.ops.timed_state import STATE_NAME, TimedState, load_state, real_time, save_state

log = get_logger()
TICK_SECONDS = 1.0


class TimedAlerts(Listener):
    """
    Raises `no_export`, `exports_resumed` and `digest` alerts through `alerter` at the right time.

    `config` gives the folders and `alerts.expect_export_every_hours` / `alerts.digest_at`;
    `metrics` (optional) gets the last sealed time; `zone` is the zone of the times in the
    alerts' text (default: the machine's local zone). The digest's zone is
    `alerts.digest_zone` if set, else the offset in `digest_at`, else `zone`. Listener methods
    never raise into the pipeline.
    """

    def __init__(
        self,
        config: Config,
        *,
        alerter: Alerter,
        clock: Clock,
        metrics: Metrics | None = None,
        zone: tzinfo | None = None,
        tick_seconds: float = TICK_SECONDS,
    ) -> None:
        self.folders = config.folders
        self.path = config.folders.queue / STATE_NAME
        self.hours = config.alerts.expect_export_every_hours
        self.digest_at = config.alerts.digest_at
        self.digest_zone = ZoneInfo(config.alerts.digest_zone) if config.alerts.digest_zone else None
        self.alerter = alerter
        self.clock = clock
        self.metrics = metrics
        self.zone = zone
        self.tick_seconds = tick_seconds
        self.lock = threading.Lock()
        self.state = TimedState()
        self.dirty = False  # `state` has changes the file does not have yet (written by `flush`)
        self.resumed: list[DueAlert] = []  # sent by `flush` once the seal that ended the silence is written
        self.opened = False  # a seal heard before `open` is seen by `open` on disk instead
        self.auth_problem: str | None = None  # Canvas refuses the token (`uploads_paused`)
        self.pause: PauseNotice | None = None  # `sis-watcher pause` or a blackout (`pause_began`)
        self.finish = threading.Event()
        self.thread = threading.Thread(target=self.run, name="timed-alerts", daemon=True)

    @property
    def enabled(self) -> bool:
        return self.hours is not None or self.digest_at is not None

    def open(self) -> None:
        """Load the state file, reconcile it with the batch folders, and set the metric."""
        folders = (self.folders.queue, self.folders.done, self.folders.failed)
        with self.lock:
            self.state = load_state(self.path)
            self.opened = True
            changed, alert = reconcile(
                self.state, newest_on_disk=newest_batch_id(folders), now=self.clock.now(), zone=self.zone
            )
            if changed and self.enabled:
                save_state(self.path, self.state)
            self.show_last_sealed()
        if alert is not None and self.hours is not None:
            log.info("export.resumed", summary=alert.title, **alert.facts)
            self.send(alert)

    def start(self) -> None:
        """`open()` (unless done), then start the thread if freshness or the digest is configured."""
        if not self.opened:
            self.open()
        if self.enabled:
            self.thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread (a digest being gathered finishes first, within `timeout`)."""
        self.finish.set()
        if self.thread.ident is not None:
            self.thread.join(timeout)

    def run(self) -> None:
        """The thread: `tick` until stopped (then write what is left); a failing tick is logged."""
        while True:
            try:
                self.tick()
            except Exception:
                log.exception("timed_alerts.tick_failed")
            if self.finish.wait(self.tick_seconds):
                self.flush()
                return

    def flush(self) -> None:
        """Write the seals heard since the last tick, then queue the `exports_resumed` alert they call for."""
        with self.lock:
            if self.dirty:
                save_state(self.path, self.state)
                self.dirty = False
            resumed, self.resumed = self.resumed, []
        for alert in resumed:
            log.info("export.resumed", summary=alert.title, **alert.facts)
            self.send(alert)

    def tick(self) -> None:
        """Write what seals changed; send whatever is due now: "resumed", "no export", the digest."""
        self.flush()
        now = self.clock.now()
        if self.hours is not None:
            with self.lock:
                alert = overdue_alert(self.state, hours=self.hours, now=now, zone=self.zone)
                if alert is not None:
                    self.state.overdue_alerted = alert.key[1]
                    save_state(self.path, self.state)
            if alert is not None:
                log.warning("export.overdue", summary=alert.title, **alert.facts)
                self.send(alert)
        if self.digest_at is not None:
            self.digest(now, at=self.digest_at)

    def digest(self, now: datetime, *, at: time) -> None:
        """Send today's digest if `at` has passed (the date is recorded first: at most once a day)."""
        zone = self.digest_zone or at.tzinfo or self.zone  # "07:00+01:00" names an offset; "07:00" is local
        with self.lock:
            date = digest_due(self.state, at=at.replace(tzinfo=None), local_now=now.astimezone(zone))
            if date is None:
                return
            since = digest_window(self.state, now=now)
            self.state.digest_date, self.state.digest_until = date, isoformat(now)
            save_state(self.path, self.state)
            self.dirty = False
            state, paused = self.state.model_copy(), self.paused()
        folders = self.folders
        report = gather(queue=folders.queue, done=folders.done, failed=folders.failed, now=now, since=since)
        alert = digest_alert(report, date=date, state=state, paused=paused, zone=zone)
        log.info("digest.sent", summary=alert.title, date=date, queue_depth=report.queued)
        self.send(alert)

    def send(self, alert: DueAlert) -> None:
        """Raise `alert` on the alert channels (queued: this returns at once)."""
        self.alerter.raise_alert(alert.key, title=alert.title, lines=alert.lines, **alert.facts)

    def show_last_sealed(self) -> None:
        since = silence_start(self.state) if self.state.last_batch_id is not None else None
        if self.metrics is not None and since is not None:
            self.metrics.last_sealed_at(since)

    def batch_sealed(self, manifest: Manifest) -> None:
        try:
            sealed = parse_time(real_time(manifest.sealed_at))
        except ValueError:
            sealed = batch_time(manifest.batch_id) or self.clock.now()
        with self.lock:
            if not self.opened:
                return
            alert = record_seal(self.state, batch_id=manifest.batch_id, sealed=sealed, zone=self.zone)
            self.dirty = self.enabled  # with neither feature on, a seal costs no write
            if alert is not None and self.hours is not None:
                self.resumed.append(alert)

    def paused(self) -> str | None:
        """Return why uploads wait now, for the digest (a deliberate pause first), or None."""
        if self.pause is not None:
            return self.pause.text()
        return f"Canvas refuses the token: {self.auth_problem}" if self.auth_problem else None

    def uploads_paused(self, reason: str) -> None:
        with self.lock:
            self.auth_problem = reason

    def uploads_resumed(self) -> None:
        with self.lock:
            self.auth_problem = None

    def pause_began(self, pause: PauseNotice) -> None:
        with self.lock:
            self.pause = pause

    def pause_ended(self, pause: PauseNotice) -> None:
        with self.lock:
            self.pause = None
