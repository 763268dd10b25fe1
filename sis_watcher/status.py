"""
`sis-watcher status`: how things stand, read from the folders (works while the daemon runs).

The queue lock says whether a daemon is running; `queue/.status.json` what it is doing and
whether uploads are paused; the queue's manifests the batches waiting and the one in flight
with Canvas's progress; the newest batches in done/ and failed/ their outcomes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TextIO

from sis_watcher.batches import batch_folders
from sis_watcher.config import Config
from sis_watcher.intake import scan
from sis_watcher.lock import lock_owner
from sis_watcher.manifest import Manifest, ManifestUnreadable, load_manifest
from sis_watcher.status_file import read_status

RECENT = 5


def summary(batch_dir: Path) -> dict[str, Any]:
    """Return the facts `status` shows for one batch folder."""
    try:
        manifest: Manifest | None = load_manifest(batch_dir)
    except (ManifestUnreadable, OSError):
        manifest = None
    if manifest is None:
        return {"batch_id": batch_dir.name, "state": "unknown (no readable manifest)"}
    last = manifest.history[-1].at if manifest.history else manifest.sealed_at
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
    }


def collect(config: Config) -> dict[str, Any]:
    """Return the whole status as a JSON-ready dict."""
    folders = config.folders
    owner = lock_owner(folders.queue)
    written = read_status(folders.queue) if owner is not None else None
    paused = written.get("paused") if written else None
    queued = [summary(path) for path in batch_folders(folders.queue)]
    in_flight = next((item for item in queued if item["state"] not in ("sealing", "queued")), None)
    if owner is None:
        state = "stopped"
    elif paused:
        state = "paused"
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
        "in_flight": in_flight,
        "queue": queued,
        "drop": {"folder": str(folders.drop), "files": waiting},
        "done": [summary(path) for path in reversed(batch_folders(folders.done)[-RECENT:])],
        "failed": [summary(path) for path in reversed(batch_folders(folders.failed)[-RECENT:])],
    }


def render(status: dict[str, Any], out: TextIO) -> None:
    """Print the status for a person."""
    daemon = status["daemon"]
    line = f"daemon:   {daemon['state']}"
    if daemon["pid"]:
        line += f" (pid {daemon['pid']})"
    print(line, file=out)
    if daemon["activity"]:
        print(f"activity: {daemon['activity']}", file=out)
    if daemon["paused"]:
        print(f"paused:   {daemon['paused']}", file=out)
    if daemon["intake_problem"]:
        print(f"intake:   {daemon['intake_problem']}", file=out)
    flight = status["in_flight"]
    if flight:
        canvas = (
            f", Canvas import {flight['import_id']}: {flight['workflow_state']} {flight['progress'] or 0}%"
        )
        print(
            f"in flight: {flight['batch_id']} ({flight['state']}{canvas if flight['import_id'] else ''})",
            file=out,
        )
    print(f"queue:    {len(status['queue'])} batch(es)", file=out)
    for item in status["queue"]:
        print(f"  {item['batch_id']}  {item['state']}", file=out)
    drop = status["drop"]
    files = drop["files"]
    print(
        f"drop:     {'unreadable' if files is None else f'{len(files)} file(s) waiting'} in {drop['folder']}",
        file=out,
    )
    for title in ("done", "failed"):
        print(f"recent {title}:", file=out)
        if not status[title]:
            print("  (none)", file=out)
        for item in status[title]:
            print(
                f"  {item['batch_id']}  {item.get('updated_at') or ''}  {item.get('reason') or ''}", file=out
            )


def run_status(config: Config, *, as_json: bool, out: TextIO) -> int:
    status = collect(config)
    if as_json:
        print(json.dumps(status, indent=2), file=out)
    else:
        render(status, out)
    return 0
