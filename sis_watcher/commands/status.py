"""
`sis-watcher status`: how things stand, read from the folders (works while the daemon runs).

The queue lock says whether a daemon is running; `queue/.status.json` what it is doing and
whether Canvas refused the token; the pause file and `schedule.blackout` whether uploads are
paused on purpose (`pause`, with its reason and since when; read even with no daemon running);
the queue's manifests the batches waiting, the ones held for a
person (with the hold reasons) and the one in flight with Canvas's progress; the newest batches
in done/ and failed/ their outcomes. Each batch shows its change summary when it was previewed,
and, once Canvas finished it, the prediction against Canvas's counts (`ops.prediction`).
"""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from sis_watcher.batch.ids import batch_folders, staged_folders
from sis_watcher.batch.lock import lock_owner
from sis_watcher.batch.manifest import Manifest, ManifestUnreadable, load_manifest
from sis_watcher.config.settings import Config
from sis_watcher.core.clock import isoformat
from sis_watcher.intake.readiness import scan
from sis_watcher.ops.prediction import change_summary, compare, line_of
from sis_watcher.ops.status_file import read_status
from sis_watcher.schedule.current import current_pause
from sis_watcher.schedule.windows import next_window

RECENT = 5
HOLD_FIELDS = {"reasons", "held_at", "decision", "decided_by", "decided_at"}
IN_FLIGHT_STATES = ("zipped", "uploading", "importing", "reporting", "done", "failed")


def summary(batch_dir: Path) -> dict[str, Any]:
    """Return the facts `status` shows for one batch folder."""
    try:
        manifest: Manifest | None = load_manifest(batch_dir)
    except (ManifestUnreadable, OSError):
        manifest = None
    if manifest is None:
        return {"batch_id": batch_dir.name, "state": "unknown (no readable manifest)"}
    last = manifest.history[-1].at if manifest.history else manifest.sealed_at
    comparisons = compare(manifest)
    hold = manifest.hold
    return {
        "batch_id": manifest.batch_id,
        "state": manifest.state.value,
        "files": [entry.name for entry in manifest.files],
        "import_id": manifest.canvas.import_id,
        "workflow_state": manifest.canvas.workflow_state,
        "progress": manifest.canvas.progress,
        "result": manifest.outcome.result,
        "reason": manifest.outcome.reason,
        "updated_at": last,
        "changes": change_summary(manifest),
        "prediction": line_of(comparisons),
        "prediction_details": [item.to_json() for item in comparisons],
        "hold": hold.model_dump(mode="json", include=HOLD_FIELDS) if hold is not None else None,
    }


def summaries(root: Path, *, newest: int | None = None) -> list[dict[str, Any]]:
    """Return the summaries of `root`'s batches (the `newest` last ones, newest first)."""
    try:
        folders = batch_folders(root)
    except OSError as error:
        return [{"batch_id": "?", "state": f"unreadable folder {root}: {error.strerror or error}"}]
    if newest is None:
        return [summary(path) for path in folders]
    return [summary(path) for path in reversed(folders[-newest:])]


def pause_facts(config: Config, now: datetime) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Return the deliberate pause in force (`pause`) and the next blackout window, JSON-ready."""
    notice = current_pause(config, now)
    window = next_window(config.schedule.blackout, now)
    coming = (
        {"from": isoformat(window.starts), "to": isoformat(window.ends), "reason": window.reason}
        if window is not None
        else None
    )
    return (notice.to_json() if notice is not None else None), coming


def collect(config: Config, *, now: datetime | None = None) -> dict[str, Any]:
    """Return the whole status as a JSON-ready dict (unreadable folders are said, not raised)."""
    folders = config.folders
    pause, next_blackout = pause_facts(config, now or datetime.now(UTC))
    try:
        owner = lock_owner(folders.queue)
    except OSError:
        owner = -1  # the lock cannot be read: a daemon may be running
    written = read_status(folders.queue) if owner is not None else None
    paused = written.get("paused") if written else None
    queued = summaries(folders.queue)
    with contextlib.suppress(OSError):
        queued += [
            {"batch_id": path.name.removeprefix(".sealing-"), "state": "sealing (not finished)"}
            for path in staged_folders(folders.queue)
        ]
    in_flight = next((item for item in queued if item["state"] in IN_FLIGHT_STATES), None)
    held = [item for item in queued if item["state"] == "held"]
    if owner is None:
        state = "stopped"
    elif paused or pause:
        state = "paused"
    elif held and in_flight is None:
        state = "held"
    elif in_flight is not None or queued:
        state = "working"
    else:
        state = "idle"
    try:
        waiting = sorted(scan(folders.drop, config.intake).files)
    except OSError:
        waiting = None
    return {
        "daemon": {
            "state": state,
            "pid": owner if owner and owner > 0 else None,
            "activity": written.get("activity") if written else None,
            "paused": paused,
            "intake_problem": written.get("intake_problem") if written else None,
        },
        "pause": pause,
        "next_blackout": next_blackout,
        "in_flight": in_flight,
        "held": held,
        "queue": queued,
        "drop": {"folder": str(folders.drop), "files": waiting},
        "done": summaries(folders.done, newest=RECENT),
        "failed": summaries(folders.failed, newest=RECENT),
    }


def daemon_lines(daemon: dict[str, Any]) -> list[str]:
    """Return the lines about the daemon itself: state, pid, activity, problems."""
    lines = [f"daemon:   {daemon['state']}" + (f" (pid {daemon['pid']})" if daemon["pid"] else "")]
    labels = (("activity", "activity:"), ("paused", "paused:  "), ("intake_problem", "intake:  "))
    lines += [f"{label} {daemon[key]}" for key, label in labels if daemon[key]]
    return lines


def pause_lines(pause: dict[str, Any] | None, coming: dict[str, Any] | None) -> list[str]:
    """Return the lines about a deliberate pause (and what ends it) and the next blackout window."""
    lines = []
    if pause is not None:
        source = "blackout" if pause["source"] == "blackout" else f"operator ({pause['by'] or '?'})"
        until = f" until {pause['until']}" if pause["until"] else ""
        lines.append(f"uploads:  paused by {source} since {pause['since']}{until}: {pause['reason']}")
    if pause is not None and pause["source"] == "operator":
        lines.append("    run:     sis-watcher resume -c CONFIG")
    if coming is not None:
        lines.append(f"blackout: next from {coming['from']} to {coming['to']}: {coming['reason']}")
    return lines


def flight_line(flight: dict[str, Any]) -> str:
    """Return the line about the batch in flight, with Canvas's progress once it has an import."""
    canvas = ""
    if flight.get("import_id"):
        progress = flight.get("progress") or 0
        canvas = f", Canvas import {flight['import_id']}: {flight.get('workflow_state')} {progress}%"
    changes = f"; changes: {flight['changes']}" if flight.get("changes") else ""
    return f"in flight: {flight['batch_id']} ({flight['state']}{canvas}){changes}"


def held_lines(held: list[dict[str, Any]]) -> list[str]:
    """Return the lines about the batches waiting for a person: reasons, changes, what to run."""
    if not held:
        return []
    lines = [f"held:     {len(held)} batch(es) waiting for approve or discard"]
    for item in held:
        hold = item.get("hold") or {}
        batch_id = item["batch_id"]
        lines.append(f"  {batch_id}  held at {hold.get('held_at') or '?'}")
        lines += [f"    reason:  {reason['text']}" for reason in hold.get("reasons", [])]
        lines += [f"    changes: {item['changes']}"] if item.get("changes") else []
        lines.append(f"    run:     sis-watcher approve -c CONFIG {batch_id}  (or discard)")
    return lines


def recent_lines(item: dict[str, Any]) -> list[str]:
    """Return the lines of one recent batch: id, time, reason, then its changes and prediction."""
    lines = [f"  {item['batch_id']}  {item.get('updated_at') or ''}  {item.get('reason') or ''}"]
    lines += [f"    changes:    {item['changes']}"] if item.get("changes") else []
    lines += [f"    prediction: {item['prediction']}"] if item.get("prediction") else []
    return lines


def render(status: dict[str, Any], out: TextIO) -> None:
    """Print the status for a person."""
    lines = daemon_lines(status["daemon"]) + pause_lines(status.get("pause"), status.get("next_blackout"))
    if status["in_flight"]:
        lines.append(flight_line(status["in_flight"]))
    lines += held_lines(status.get("held", []))
    lines.append(f"queue:    {len(status['queue'])} batch(es)")
    lines += [f"  {item['batch_id']}  {item['state']}" for item in status["queue"]]
    files = status["drop"]["files"]
    waiting = "unreadable" if files is None else f"{len(files)} file(s) waiting"
    lines.append(f"drop:     {waiting} in {status['drop']['folder']}")
    for title in ("done", "failed"):
        lines.append(f"recent {title}:")
        lines += [line for item in status[title] for line in recent_lines(item)] or ["  (none)"]
    print("\n".join(lines), file=out)


def run_status(config: Config, *, as_json: bool, out: TextIO) -> int:
    status = collect(config)
    if as_json:
        print(json.dumps(status, indent=2), file=out)
    else:
        render(status, out)
    return 0
