"""
The daily digest (`alerts.digest_at`): one message a day about what happened since the last one.

`digest_due` says when: once per local date, at or after `digest_at` in the digest's time
zone (so a daemon that was down at that time sends it when it starts later that day; a date
recorded in the future, from a clock that ran ahead, is logged and does not block today's).
`digest_window` says what: from where the previous digest ended (`TimedState.digest_until`) to
now, so a DST change or a late digest leaves no batch out and reports none twice; at most
`MAX_WINDOW` (a daemon down for a week), 24 hours for the first digest.
`gather` reads the batch folders: the batches filed under done/ and failed/ in the window (with
their reasons, change summaries and Canvas's error and warning counts), and the queue (its
depth and the batches held for a person). `digest_alert` words it, "no exports in 24 h"
included: a quiet day is news too.

Reading stays cheap with thousands of batches: a folder is only opened when its id (ids sort
by seal time) or its manifest's modification time falls in the window, and the filing time in
the manifest's history decides. A manifest that cannot be read is counted, not fatal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Any

from sis_watcher.batch.ids import batch_folders
from sis_watcher.batch.manifest import MANIFEST_NAME, BatchState, Manifest, ManifestUnreadable, load_manifest
from sis_watcher.core.clock import isoformat, parse_time
from sis_watcher.core.logs import get_logger
from sis_watcher.ops.freshness import DueAlert, is_recent, local_text, silence_start
from sis_watcher.ops.prediction import change_summary
from sis_watcher.ops.timed_state import TimedState

log = get_logger()
WINDOW = timedelta(hours=24)  # the first digest's window, and what "no exports in 24 h" means
MAX_WINDOW = timedelta(hours=48)
MTIME_MARGIN_SECONDS = 3600.0  # the manifest's mtime only pre-selects; its history decides
MAX_LISTED = 20
FINAL = (BatchState.DONE.value, BatchState.FAILED.value)


def digest_due(state: TimedState, *, at: time, local_now: datetime) -> str | None:
    """
    Return the local date (`YYYY-MM-DD`) whose digest is due at `local_now`, or None.

    A recorded date later than today means the clock ran ahead and was set back: logged
    (`digest.clock_went_back`), and today's digest is due, so no day is skipped silently.
    """
    today = local_now.date().isoformat()
    if local_now.time() < at:
        return None
    if state.digest_date == today:
        return None
    if state.digest_date is not None and state.digest_date > today:
        log.warning("digest.clock_went_back", digest_date=state.digest_date, today=today)
    return today


def digest_window(state: TimedState, *, now: datetime) -> datetime:
    """Return where the digest sent `now` starts: the previous one's end, within `MAX_WINDOW`."""
    until = parse_time(state.digest_until) if state.digest_until is not None else None  # validated
    if until is None or until >= now:  # the first digest, or the clock went back
        return now - WINDOW
    return max(until, now - MAX_WINDOW)


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchLine:
    """One batch as the digest shows it."""

    batch_id: str
    reason: str | None = None
    changes: str | None = None
    errors: int = 0
    warnings: int = 0
    hold_reasons: tuple[str, ...] = ()

    @classmethod
    def of(cls, manifest: Manifest) -> BatchLine:
        hold = manifest.hold.reasons if manifest.hold is not None else []
        return cls(
            batch_id=manifest.batch_id,
            reason=manifest.outcome.reason,
            changes=change_summary(manifest),
            errors=manifest.canvas.error_count,
            warnings=manifest.canvas.warning_count,
            hold_reasons=tuple(reason.text for reason in hold),
        )

    def text(self) -> str:
        parts = [self.reason or "; ".join(self.hold_reasons) or "(no reason recorded)"]
        if self.errors or self.warnings:
            parts.append(f"Canvas {self.errors} error(s), {self.warnings} warning(s)")
        if self.changes:
            parts.append(f"changes: {self.changes}")
        return f"  {self.batch_id}: " + "; ".join(parts)

    def fields(self) -> dict[str, Any]:
        document: dict[str, Any] = {"batch_id": self.batch_id, "reason": self.reason, "changes": self.changes}
        if self.hold_reasons:
            document["hold_reasons"] = list(self.hold_reasons)
        else:
            document.update(canvas_errors=self.errors, canvas_warnings=self.warnings)
        return document


@dataclass(slots=True, kw_only=True)
class Report:
    """What the batch folders say about the window from `since` to `until`."""

    since: datetime
    until: datetime
    done: list[BatchLine] = field(default_factory=list)
    failed: list[BatchLine] = field(default_factory=list)
    held: list[BatchLine] = field(default_factory=list)
    queued: int = 0
    unreadable: int = 0


def filed_at(manifest: Manifest) -> datetime | None:
    """Return when the batch reached done or failed (its history's last such entry), or None."""
    for entry in reversed(manifest.history):
        if entry.state in FINAL:
            try:
                return parse_time(entry.at)
            except ValueError:
                return None
    return None


def filed_in_window(folder: Path, report: Report) -> list[BatchLine]:
    """Return the batches in `folder` filed in the report's window, oldest id first."""
    cutoff_id = report.since.strftime("%Y%m%dT%H%M%SZ")
    oldest_mtime = report.since.timestamp() - MTIME_MARGIN_SECONDS
    found = []
    try:
        paths = batch_folders(folder)
    except OSError:
        report.unreadable += 1
        return []
    for path in paths:
        if path.name < cutoff_id:
            try:
                if (path / MANIFEST_NAME).stat().st_mtime < oldest_mtime:
                    continue
            except OSError:
                continue
        try:
            manifest = load_manifest(path)
        except (ManifestUnreadable, OSError):
            report.unreadable += 1
            continue
        moment = filed_at(manifest)
        if moment is not None and report.since <= moment <= report.until:
            found.append(BatchLine.of(manifest))
    return found


def gather(*, queue: Path, done: Path, failed: Path, now: datetime, since: datetime | None = None) -> Report:
    """Return the digest's facts from `since` (default: 24 hours before) to `now`; never raises."""
    report = Report(since=now - WINDOW if since is None else since, until=now)
    report.done = filed_in_window(done, report)
    report.failed = filed_in_window(failed, report)
    try:
        waiting = batch_folders(queue)
    except OSError:
        waiting = []
        report.unreadable += 1
    report.queued = len(waiting)
    for path in waiting:
        try:
            manifest = load_manifest(path)
        except (ManifestUnreadable, OSError):
            report.unreadable += 1
            continue
        if manifest.state is BatchState.HELD:
            report.held.append(BatchLine.of(manifest))
    return report


def hours(length: timedelta) -> str:
    """Return a window's length for people: `24 h`, `23 h`, `16.5 h`."""
    return f"{round(length.total_seconds() / 3600, 1):g} h"


def listing(title: str, batches: list[BatchLine]) -> list[str]:
    """Return `title: N` and at most `MAX_LISTED` batch lines."""
    lines = [f"{title}: {len(batches)}"]
    lines.extend(batch.text() for batch in batches[:MAX_LISTED])
    if len(batches) > MAX_LISTED:
        lines.append(f"  ... and {len(batches) - MAX_LISTED} more")
    return lines


def last_export_line(state: TimedState, *, now: datetime, zone: tzinfo | None = None) -> str:
    """Return the digest's line about the newest export."""
    since = silence_start(state)
    if state.last_batch_id is None or since is None:
        return "Last export: none seen yet; no exports in 24 h"
    when = f"batch {state.last_batch_id}, sealed {local_text(since, zone)}"
    recent = is_recent(state, now=now, window=WINDOW)
    return f"Last export: {when}" if recent else f"No exports in 24 h (last: {when})"


def digest_alert(
    report: Report, *, date: str, state: TimedState, paused: str | None, zone: tzinfo | None = None
) -> DueAlert:
    """Return the digest for `date` as an alert (kind `digest`)."""
    errors = sum(batch.errors for batch in report.done + report.failed)
    warnings = sum(batch.warnings for batch in report.done + report.failed)
    recent = is_recent(state, now=report.until, window=WINDOW)
    title = (
        f"daily digest {date}: {len(report.done)} done, {len(report.failed)} failed, "
        f"{len(report.held)} held, {report.queued} queued"
    )
    if not recent:
        title += "; no exports in 24 h"
    lines = [
        f"Last {hours(report.until - report.since)}, since {local_text(report.since, zone)}:",
        *listing("Done", report.done),
        *listing("Failed", report.failed),
        *listing("Held for approve or discard", report.held),
        f"Canvas: {errors} error(s), {warnings} warning(s) in the batches filed",
        f"Queue: {report.queued} batch(es) waiting",
        f"Uploads: paused ({paused})" if paused else "Uploads: running",
        last_export_line(state, now=report.until, zone=zone),
    ]
    if report.unreadable:
        lines.append(f"Unreadable manifests or folders skipped: {report.unreadable}")
    since = silence_start(state)
    return DueAlert(
        key=("digest", date),
        title=title,
        lines=lines,
        facts={
            "date": date,
            "since": isoformat(report.since),
            "until": isoformat(report.until),
            "done": [batch.fields() for batch in report.done[:MAX_LISTED]],
            "failed": [batch.fields() for batch in report.failed[:MAX_LISTED]],
            "held": [batch.fields() for batch in report.held[:MAX_LISTED]],
            "done_count": len(report.done),
            "failed_count": len(report.failed),
            "held_count": len(report.held),
            "canvas_errors": errors,
            "canvas_warnings": warnings,
            "queue_depth": report.queued,
            "paused": paused,
            "last_batch_id": state.last_batch_id,
            "last_sealed_at": isoformat(since) if since is not None and state.last_batch_id else None,
            "exports_in_24h": recent,
            "unreadable": report.unreadable,
        },
    )
