"""
Alerts: tell a person when the pipeline needs one, by webhook and/or email, never in its way.

`Alerter` is a `Listener`. Its methods only build an `Alert` (plain strings: a snapshot of the
manifest) and offer it to each channel's `Courier` (`alerts_delivery`), a bounded queue with its
own sender thread, so they return at once, never raise, and a hanging webhook never delays the
email. Each alert is tried a few times with backoff; see `alerts_delivery` for the events.

At most one alert per event, by dedupe key (remembered while the process runs):

    event                        key                          alert
    failed batch                 batch id, attempt number     batch_failed
    done with warnings (opt-in)  batch id, attempt number     batch_warnings
    batch held for a person      batch id, attempt number     batch_held
    uploads paused / resumed     pause number                 uploads_paused / uploads_resumed
    import stuck                 batch id, import id          import_stuck
    retries stuck / recovered    batch id, episode number     retries_stuck / retries_recovered
    intake problem / recovered   episode number, reason       intake_problem / intake_recovered
    stage died                   stage                        stage_died
    diffed file applied whole    batch id, attempt number     diffing_whole_file
    operator's pause too long    the pause's start            paused_too_long (once across
                                                              restarts: `schedule.watch`)
    no export for a while        the last batch id            no_export / exports_resumed (once
                                                              across restarts: `ops.timed_alerts`)
    daily digest                 local date                   digest (the same)

A recovery alert goes out only for a problem that was reported in this process. Every batch
alert carries the change preview's summary (`Changes:`, field `changes`) when the batch has one,
and, once Canvas finished it, the prediction against Canvas's own counts (`Prediction:`, fields
`prediction` and `prediction_details`, `ops.prediction`).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sis_watcher.batch.manifest import BatchState, HoldRecord, Manifest
from sis_watcher.config.alerting import AlertSettings
from sis_watcher.core.logs import get_logger
from sis_watcher.ops.alerts.courier import Alert, Channel, Courier, OnceOnly, clip, delivery_policy
from sis_watcher.ops.alerts.details import canvas_details, duration, validation_details
from sis_watcher.ops.alerts.email import EmailChannel
from sis_watcher.ops.alerts.webhook import WebhookChannel
from sis_watcher.ops.events import Listener, PauseNotice
from sis_watcher.ops.prediction import change_summary, preview_details

log = get_logger()
TITLE_CHARS = 120
REASON_FIELDS = {"csv_type", "rule", "value", "limit", "text"}
SEVERITY = {
    "batch_failed": "error",
    "batch_warnings": "warning",
    "batch_held": "warning",
    "uploads_paused": "error",
    "import_stuck": "warning",
    "retries_stuck": "warning",
    "intake_problem": "error",
    "stage_died": "critical",
    "diffing_whole_file": "warning",
    "paused_too_long": "warning",
    "no_export": "warning",
}


class Alerter(Listener):
    """
    Sends alerts for the moments a person must act on; `start()` once, `stop(timeout)` at the end.

    Channels come from `settings` (webhook and/or email; with neither, every method does
    nothing). `environ` is where `CREDENTIALS_DIRECTORY` is looked up (default `os.environ`);
    `host` (default: this machine's name) and `canvas_url` name this daemon in every alert.
    Each channel tries an alert `attempts` times, waiting `backoff_seconds` doubled per retry,
    and holds at most `queue_size` waiting alerts. Listener methods never block and never raise.
    """

    def __init__(
        self,
        settings: AlertSettings,
        *,
        environ: Mapping[str, str] | None = None,
        host: str | None = None,
        canvas_url: str | None = None,
        attempts: int = 3,
        backoff_seconds: float = 2.0,
        queue_size: int = 100,
    ) -> None:
        channels: list[Channel] = []
        if settings.webhook is not None:
            channels.append(WebhookChannel(settings.webhook))
        if settings.email is not None:
            channels.append(EmailChannel(settings.email, environ=os.environ if environ is None else environ))
        self.couriers = [
            Courier(
                channel,
                policy=delivery_policy(attempts=attempts, backoff_seconds=backoff_seconds),
                queue_size=queue_size,
            )
            for channel in channels
        ]
        self.on_warnings = settings.on_warnings
        self.host = host or socket.gethostname()
        self.canvas_url = canvas_url
        self.once = OnceOnly()

    def start(self) -> None:
        """Start one sender thread per channel (call once); log `alert.misconfigured` if one cannot work."""
        for courier in self.couriers:
            problem = courier.channel.preflight()
            if problem is not None:
                log.error("alert.misconfigured", channel=courier.channel.name, problem=problem)
            courier.start()
        log.info("alert.channels_started", channels=[courier.channel.name for courier in self.couriers])

    def stop(self, timeout: float = 5.0) -> bool:
        """Send what is queued within `timeout` seconds, then drop the rest; True if all went out."""
        deadline = time.monotonic() + timeout
        for courier in self.couriers:
            courier.close()
        drained = [courier.join(deadline - time.monotonic()) for courier in self.couriers]
        return all(drained)

    def raise_alert(
        self, key: tuple[str, ...], *, title: str, lines: Sequence[str] = (), **facts: Any
    ) -> None:
        """Build the alert `key[0]` and queue it on every channel, unless `key` was seen."""
        if not self.couriers or not self.once.claim(key):
            return
        kind = key[0]
        body = [f"sis-watcher on {self.host}: {title}", *(clip(line) for line in lines)]
        if self.canvas_url:
            body.append(f"Canvas: {self.canvas_url}")
        fields = {
            "event": kind,
            "severity": SEVERITY.get(kind, "info"),
            "host": self.host,
            "canvas_url": self.canvas_url,
            "summary": title,
            **facts,
        }
        alert = Alert(
            kind=kind,
            subject=clip(f"[sis-watcher {self.host}] {title}", limit=200),
            text="\n".join(body),
            fields=fields,
        )
        for courier in self.couriers:
            courier.offer(alert)

    def batch_filed(self, manifest: Manifest, path: Path) -> None:
        if manifest.state is BatchState.FAILED:
            self.batch_alert(manifest, path, kind="batch_failed", title=f"batch {manifest.batch_id} failed")
        elif self.on_warnings and manifest.canvas.workflow_state == "imported_with_messages":
            title = f"batch {manifest.batch_id} imported with warnings"
            self.batch_alert(manifest, path, kind="batch_warnings", title=title)
        if manifest.canvas.diffing_threshold_exceeded is True:
            self.whole_file_applied(manifest, path)

    def whole_file_applied(self, manifest: Manifest, path: Path) -> None:
        """Canvas skipped diffing (a threshold was exceeded) and applied the whole file (§A4)."""
        batch_id, import_id = manifest.batch_id, manifest.canvas.import_id
        lines = [
            f"Canvas import {import_id} exceeded the diffing threshold: Canvas applied the whole file.",
            "Nothing left out of the file was dropped. After too many such imports in a row Canvas fails",
            "every import of the data set until a remaster (`sis-watcher retry --remaster` of that batch).",
            f"Files: {path}",
        ]
        self.raise_alert(
            ("diffing_whole_file", batch_id, str(len(manifest.previous_attempts) + 1)),
            title=f"batch {batch_id}: Canvas applied the whole file (diffing threshold exceeded)",
            lines=lines,
            batch_id=batch_id,
            import_id=import_id,
            workflow_state=manifest.canvas.workflow_state,
            folder=str(path),
        )

    def batch_alert(self, manifest: Manifest, path: Path, *, kind: str, title: str) -> None:
        canvas_lines, messages = canvas_details(manifest)
        problem_lines, problems = validation_details(manifest)
        preview_lines, preview = preview_details(manifest)
        reason = manifest.outcome.reason or "(no reason recorded)"
        lines = [f"Reason: {reason}", *canvas_lines, *preview_lines, *problem_lines, f"Files: {path}"]
        if kind == "batch_failed":
            lines.append(f"To send it again after a fix: sis-watcher retry -c CONFIG {manifest.batch_id}")
        self.raise_alert(
            (kind, manifest.batch_id, str(len(manifest.previous_attempts) + 1)),
            title=title,
            lines=lines,
            batch_id=manifest.batch_id,
            reason=clip(reason),
            import_id=manifest.canvas.import_id,
            workflow_state=manifest.canvas.workflow_state,
            folder=str(path),
            canvas_messages=messages,
            validation_problems=problems,
            **preview,
        )

    def batch_held(self, manifest: Manifest) -> None:
        hold, batch_id, summary = manifest.hold or HoldRecord(), manifest.batch_id, change_summary(manifest)
        if hold.alerted:  # alerted before a restart (the manifest remembers; the dedupe keys do not)
            return
        lines = [
            "Nothing was sent to Canvas; later batches wait behind it.",
            "Hold reasons:",
            *(f"  {reason.text}" for reason in hold.reasons),
            *([f"Changes: {summary}"] if summary else []),
            f"To send it as it is: sis-watcher approve -c CONFIG {batch_id}",
            f"To drop it (filed in failed/): sis-watcher discard -c CONFIG {batch_id}",
        ]
        self.raise_alert(
            ("batch_held", batch_id, str(len(manifest.previous_attempts) + 1)),
            title=f"batch {batch_id} held: it would change too much",
            lines=lines,
            batch_id=batch_id,
            reasons=[reason.model_dump(include=REASON_FIELDS) for reason in hold.reasons],
            changes=summary,
            held_at=hold.held_at,
        )

    def uploads_paused(self, reason: str) -> None:
        number = self.once.episode("uploads_paused", begin=True)
        lines = [f"Reason: {reason}", "No batch fails for this; the token is re-read and tried every minute."]
        title = f"uploads paused: {clip(reason, limit=TITLE_CHARS)}"
        self.raise_alert(("uploads_paused", str(number)), title=title, lines=lines, reason=clip(reason))

    def uploads_resumed(self) -> None:
        number = self.once.episode("uploads_paused", begin=False)
        if number is not None:
            title = "uploads resumed: Canvas accepts the token again"
            self.raise_alert(("uploads_resumed", str(number)), title=title)

    def import_stuck(self, manifest: Manifest, seconds: float) -> None:
        canvas = manifest.canvas
        title = (
            f"import {canvas.import_id} of batch {manifest.batch_id} not finished after {duration(seconds)}"
        )
        lines = [
            f"Canvas state: {canvas.workflow_state}, {canvas.progress or 0}%",
            "Polling goes on until poll.give_up_after_seconds, then the batch fails.",
        ]
        self.raise_alert(
            ("import_stuck", manifest.batch_id, str(canvas.import_id)),
            title=title,
            lines=lines,
            batch_id=manifest.batch_id,
            import_id=canvas.import_id,
            workflow_state=canvas.workflow_state,
            progress=canvas.progress,
            seconds=round(seconds),
        )

    def retries_stuck(self, manifest: Manifest, seconds: float, reason: str) -> None:
        number = self.once.episode("retries_stuck", begin=True)
        title = f"batch {manifest.batch_id} stuck in retries for {duration(seconds)}"
        lines = [f"Reason: {reason}", "The batch stays queued and is tried again; it is not failed for this."]
        self.raise_alert(
            ("retries_stuck", manifest.batch_id, str(number)),
            title=title,
            lines=lines,
            batch_id=manifest.batch_id,
            reason=clip(reason),
            seconds=round(seconds),
        )

    def retries_recovered(self, manifest: Manifest) -> None:
        number = self.once.episode("retries_stuck", begin=False)
        if number is not None:
            title = f"batch {manifest.batch_id} moved on after retries"
            self.raise_alert(("retries_recovered", str(number)), title=title, batch_id=manifest.batch_id)

    def intake_problem(self, reason: str) -> None:
        number = self.once.episode("intake_problem", begin=True)
        lines = [
            f"Reason: {reason}",
            "New files in the drop folder wait until this is fixed; intake keeps retrying.",
        ]
        title = f"intake problem: {clip(reason, limit=TITLE_CHARS)}"
        key = ("intake_problem", str(number), reason)
        self.raise_alert(key, title=title, lines=lines, reason=clip(reason))

    def intake_recovered(self) -> None:
        number = self.once.episode("intake_problem", begin=False)
        if number is not None:
            self.raise_alert(("intake_recovered", str(number)), title="intake works again")

    def pause_too_long(self, pause: PauseNotice, hours: float) -> None:
        lasted = duration(hours * 3600)
        lines = [
            f"Paused by {pause.by or 'unknown'} since {pause.since}: {pause.reason}",
            "Batches are checked and queued in order, but nothing goes to Canvas.",
            "To start uploads again: sis-watcher resume -c CONFIG",
        ]
        self.raise_alert(
            ("paused_too_long", pause.since),
            title=f"uploads paused by an operator for {lasted}: {clip(pause.reason, limit=TITLE_CHARS)}",
            lines=lines,
            reason=clip(pause.reason),
            since=pause.since,
            by=pause.by,
            hours=round(hours, 3),
        )

    def stage_died(self, stage: str) -> None:
        title = f"stage {stage} died; the daemon exits and systemd restarts it"
        lines = ["See the daemon.stage_crashed event in the journal for the traceback."]
        self.raise_alert(("stage_died", stage), title=title, lines=lines, stage=stage)
