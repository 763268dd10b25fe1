"""
Export freshness: a silent SIS job is an alert (`alerts.expect_export_every_hours`).

The silence is counted from the last sealed batch, or, when there never was one, from the first
time the daemon watched (`TimedState.watching_since`, kept across restarts so a crash loop
cannot postpone the alert forever). Once it lasts `hours`, one `no_export` alert names the last
batch and when it came; the next sealed batch sends one `exports_resumed`. Which silence was
alerted is remembered in the state file, so a restart neither repeats the alert nor forgets
the "resumed" one. The newest batch on disk (queue/, done/, failed/: ids sort by time) wins
over the state file, so exports sealed by `once` while the daemon was down count too.

A live seal is always the newest export, whatever its id's order: after the clock ran ahead
and was set back, the seals that follow have smaller ids but are the real exports. Only
`reconcile` (at start) compares ids, to find the newest batch on disk.

These functions only decide and word the alerts (`DueAlert`); `ops.timed_alerts` sends them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from sis_watcher.batch.ids import BATCH_FOLDER
from sis_watcher.core.clock import isoformat, parse_time
from sis_watcher.ops.alerts.details import duration
from sis_watcher.ops.timed_state import MAX_TIME, MIN_TIME, TimedState

BATCH_ID = re.compile(r"(\d{8}T\d{6}Z)-([0-9a-f]{5})[0-9a-f]")


@dataclass(frozen=True, slots=True, kw_only=True)
class DueAlert:
    """One alert to raise: the dedupe key (its first part is the kind), title, lines and fields."""

    key: tuple[str, ...]
    title: str
    lines: Sequence[str] = ()
    facts: dict[str, Any] = field(default_factory=dict)


def batch_time(batch_id: str) -> datetime | None:
    """Return when the batch `batch_id` was sealed, by its id (None if not one, or not a usable time)."""
    match = BATCH_ID.match(batch_id)
    if match is None:
        return None
    try:
        moment = datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:  # 20261399T...: not a date
        return None
    if not MIN_TIME <= moment <= MAX_TIME:  # a folder named 99991231T235959Z-...
        return None
    return moment.replace(microsecond=min(int(match.group(2), 16), 999_999))


def newest_batch_id(folders: Iterable[Path]) -> str | None:
    """
    Return the newest batch id named in `folders` (queue/, done/, failed/), or None.

    Only names are read (ids sort by time), so thousands of batches cost one listing each.
    A folder that is missing or unreadable counts as empty.
    """
    newest: str | None = None
    for folder in folders:
        try:
            names = [entry.name for entry in folder.iterdir()]
        except OSError:
            continue
        for name in names:
            if BATCH_FOLDER.fullmatch(name):
                batch_id = name.split(".", 1)[0]
                newest = batch_id if newest is None or batch_id > newest else newest
    return newest


def local_text(moment: datetime, zone: tzinfo | None = None) -> str:
    """Return `moment` in `zone` (default: the machine's) for people: `2026-11-27 02:00 -0500`."""
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %z")


def span(seconds: float) -> str:
    """Return a duration for people: `40 min`, `5.5 h`, `3.0 days`."""
    return f"{seconds / 86400:.1f} days" if seconds >= 2 * 86400 else duration(seconds)


def reconcile(
    state: TimedState, *, newest_on_disk: str | None, now: datetime, zone: tzinfo | None = None
) -> tuple[bool, DueAlert | None]:
    """
    Bring `state` up to date with the batch folders at start; return (changed, resumed alert).

    A newer batch on disk than the state remembers becomes the last export; if the silence
    before it was alerted, its `exports_resumed` alert is returned. Without any batch, the
    silence starts now, unless an earlier start already began it.
    """
    changed, alert = False, None
    sealed = batch_time(newest_on_disk) if newest_on_disk is not None else None
    if newest_on_disk is not None and sealed is not None and newest_on_disk > (state.last_batch_id or ""):
        alert = record_seal(state, batch_id=newest_on_disk, sealed=sealed, zone=zone)
        changed = True
    if state.last_batch_id is None and state.watching_since is None:
        state.watching_since = isoformat(now)
        changed = True
    return changed, alert


def silence_start(state: TimedState) -> datetime | None:
    """Return when the current silence began (the last seal, or the first watch), or None."""
    text = state.last_sealed_at if state.last_batch_id is not None else state.watching_since
    try:
        return parse_time(text) if text is not None else None
    except (ValueError, OverflowError):  # OverflowError: `9999-12-31T23:59:59-05:00` has no UTC time
        return None


def overdue_alert(
    state: TimedState, *, hours: float, now: datetime, zone: tzinfo | None = None
) -> DueAlert | None:
    """
    Return the `no_export` alert if the silence has lasted `hours` and was not alerted yet.

    The caller records `state.overdue_alerted = key[1]` (this function does not change `state`).
    """
    key, since = state.silence_key(), silence_start(state)
    if key is None or since is None or state.overdue_alerted == key:
        return None
    silent = (now - since).total_seconds()
    if silent < hours * 3600:
        return None
    if state.last_batch_id is not None:
        title = f"no export for {span(silent)}: the last batch was sealed {local_text(since, zone)}"
        last = f"Last batch: {state.last_batch_id}, sealed {local_text(since, zone)}"
    else:
        title = (
            f"no export for {span(silent)}: no batch sealed since watching began {local_text(since, zone)}"
        )
        last = f"No batch was ever sealed; watching since {local_text(since, zone)}"
    lines = [
        last,
        f"Expected at least one every {hours:g} h (alerts.expect_export_every_hours).",
        "Check the SIS export job and that it writes into the drop folder.",
    ]
    return DueAlert(
        key=("no_export", key),
        title=title,
        lines=lines,
        facts={
            "last_batch_id": state.last_batch_id,
            "last_sealed_at": isoformat(since) if state.last_batch_id is not None else None,
            "watching_since": state.watching_since if state.last_batch_id is None else None,
            "silent_seconds": round(silent),
            "expected_every_hours": hours,
        },
    )


def resumed_alert(
    previous: TimedState, *, batch_id: str, sealed: datetime, zone: tzinfo | None = None
) -> DueAlert | None:
    """Return the `exports_resumed` alert if `previous` (the state before this seal) was alerted."""
    key, since = previous.silence_key(), silence_start(previous)
    if key is None or previous.overdue_alerted != key:
        return None
    silent = (sealed - since).total_seconds() if since is not None else None
    gap = f" after {span(silent)}" if silent is not None and silent >= 0 else ""
    return DueAlert(
        key=("exports_resumed", key),
        title=f"exports arrive again{gap}: batch {batch_id} sealed {local_text(sealed, zone)}",
        lines=[f"Previous batch: {previous.last_batch_id or '(none)'}"],
        facts={
            "batch_id": batch_id,
            "sealed_at": isoformat(sealed),
            "previous_batch_id": previous.last_batch_id,
            "silent_seconds": round(silent) if silent is not None else None,
        },
    )


def record_seal(
    state: TimedState, *, batch_id: str, sealed: datetime, zone: tzinfo | None = None
) -> DueAlert | None:
    """
    Record the batch just sealed in `state`; return the resumed alert it calls for, if any.

    Any id other than the last one counts (a smaller id is a seal after the clock went back);
    `reconcile` only calls this for a newer id on disk.
    """
    if batch_id == state.last_batch_id:
        return None
    alert = resumed_alert(state, batch_id=batch_id, sealed=sealed, zone=zone)
    state.last_batch_id, state.last_sealed_at = batch_id, isoformat(sealed)
    state.overdue_alerted = None
    return alert


def is_recent(state: TimedState, *, now: datetime, window: timedelta) -> bool:
    """Return True if the last batch was sealed within `window` before `now`."""
    since = silence_start(state) if state.last_batch_id is not None else None
    return since is not None and now - since <= window
