"""
What the pipeline tells the outside world, in one place: a fan-out of notable moments.

Stages call `Monitor` methods; listeners (the status file, sd_notify's STATUS= line, alerts,
Prometheus metrics) subclass `Listener` and override what they care about. A listener that
raises is logged and ignored: telling the world about a problem must never become one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sis_watcher.batch.manifest import Manifest
from sis_watcher.core.logs import get_logger

log = get_logger()


@dataclass(frozen=True, slots=True, kw_only=True)
class PauseNotice:
    """
    Uploads stopped on purpose: by a person (`sis-watcher pause`) or a `schedule.blackout` window.

    Not Canvas refusing the token (`uploads_paused`). `since` and `until` (a blackout's end) are
    ISO 8601 UTC; `problem` says why the pause file could not be read (a pause is then assumed).
    """

    source: Literal["operator", "blackout"]
    reason: str
    since: str
    until: str | None = None
    by: str | None = None
    problem: str | None = None

    def text(self) -> str:
        """Return the pause for people: `paused by operator since <time>: <reason>`."""
        if self.source == "blackout":
            return f"paused by blackout since {self.since} until {self.until}: {self.reason}"
        by = f" ({self.by})" if self.by else ""
        return f"paused by operator{by} since {self.since}: {self.reason}"

    def to_json(self) -> dict[str, str | None]:
        return {
            "source": self.source,
            "reason": self.reason,
            "since": self.since,
            "until": self.until,
            "by": self.by,
            "problem": self.problem,
        }


class Listener:
    """Override the moments you care about; each default does nothing."""

    def activity(self, text: str, *, queued: int | None = None, batch_id: str | None = None) -> None:
        """The daemon's current activity changed ("idle, 0 queued", "uploading <id>")."""

    def batch_sealed(self, manifest: Manifest) -> None:
        """A batch left the drop folder for the queue."""

    def batch_filed(self, manifest: Manifest, path: Path) -> None:
        """A batch ended in done/ or failed/ (`manifest.outcome` says which and why)."""

    def import_progress(self, manifest: Manifest) -> None:
        """Canvas reported a new state or progress for the in-flight import."""

    def import_stuck(self, manifest: Manifest, seconds: float) -> None:
        """The import has not finished after `poll.warn_after_seconds`."""

    def uploads_paused(self, reason: str) -> None:
        """Canvas refused the token or permissions: uploads wait for a fix."""

    def uploads_resumed(self) -> None:
        """Canvas accepted the token again after a pause."""

    def retries_stuck(self, manifest: Manifest, seconds: float, reason: str) -> None:
        """A batch has been failing transiently (Canvas unreachable, disk full) for long."""

    def retries_recovered(self, manifest: Manifest) -> None:
        """A batch that was stuck in retries moved on."""

    def retry_scheduled(self, step: str) -> None:
        """A request is being retried after a transient failure."""

    def canvas_response(self, status: str) -> None:
        """Canvas answered a request with this status code (or `error` for no answer)."""

    def intake_problem(self, reason: str) -> None:
        """The drop folder or its observer is unusable; intake keeps retrying."""

    def intake_recovered(self) -> None:
        """Intake works again after a problem."""

    def stage_died(self, stage: str) -> None:
        """A stage thread ended unexpectedly; the daemon is about to exit."""

    def batch_held(self, manifest: Manifest) -> None:
        """A batch would change too much and waits for `approve` or `discard` (`manifest.hold`)."""

    def pause_began(self, pause: PauseNotice) -> None:
        """Uploads stopped on purpose (`pause`, a blackout), at start too, or the pause in force changed."""

    def pause_ended(self, pause: PauseNotice) -> None:
        """The deliberate pause `pause` is over (`resume`, or the blackout window ended)."""

    def pause_too_long(self, pause: PauseNotice, hours: float) -> None:
        """An operator's pause has lasted longer than `alerts.paused_too_long_hours` (once per pause)."""


class Monitor(Listener):
    """A listener that calls every registered listener in turn, isolating their failures."""

    def __init__(self, listeners: Sequence[Listener] = ()) -> None:
        self.listeners = list(listeners)

    def add(self, listener: Listener) -> None:
        self.listeners.append(listener)

    def fan_out(self, moment: str, *args: Any, **kwargs: Any) -> None:
        for listener in self.listeners:
            try:
                getattr(listener, moment)(*args, **kwargs)
            except Exception:
                log.exception("monitor.listener_failed", listener=type(listener).__name__, moment=moment)

    def activity(self, text: str, *, queued: int | None = None, batch_id: str | None = None) -> None:
        self.fan_out("activity", text, queued=queued, batch_id=batch_id)

    def batch_sealed(self, manifest: Manifest) -> None:
        self.fan_out("batch_sealed", manifest)

    def batch_filed(self, manifest: Manifest, path: Path) -> None:
        self.fan_out("batch_filed", manifest, path)

    def import_progress(self, manifest: Manifest) -> None:
        self.fan_out("import_progress", manifest)

    def import_stuck(self, manifest: Manifest, seconds: float) -> None:
        self.fan_out("import_stuck", manifest, seconds)

    def uploads_paused(self, reason: str) -> None:
        self.fan_out("uploads_paused", reason)

    def uploads_resumed(self) -> None:
        self.fan_out("uploads_resumed")

    def retries_stuck(self, manifest: Manifest, seconds: float, reason: str) -> None:
        self.fan_out("retries_stuck", manifest, seconds, reason)

    def retries_recovered(self, manifest: Manifest) -> None:
        self.fan_out("retries_recovered", manifest)

    def retry_scheduled(self, step: str) -> None:
        self.fan_out("retry_scheduled", step)

    def canvas_response(self, status: str) -> None:
        self.fan_out("canvas_response", status)

    def intake_problem(self, reason: str) -> None:
        self.fan_out("intake_problem", reason)

    def intake_recovered(self) -> None:
        self.fan_out("intake_recovered")

    def stage_died(self, stage: str) -> None:
        self.fan_out("stage_died", stage)

    def batch_held(self, manifest: Manifest) -> None:
        self.fan_out("batch_held", manifest)

    def pause_began(self, pause: PauseNotice) -> None:
        self.fan_out("pause_began", pause)

    def pause_ended(self, pause: PauseNotice) -> None:
        self.fan_out("pause_ended", pause)

    def pause_too_long(self, pause: PauseNotice, hours: float) -> None:
        self.fan_out("pause_too_long", pause, hours)
