"""
`queue/.status.json`: what the running daemon is doing, for `sis-watcher status`.

Rewritten atomically when the activity changes, so `status` can read it from another process
at any time. Combined with the queue lock (is the daemon alive?), it answers "running, paused
or idle, and on what".
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from sis_watcher.batch.manifest import Manifest
from sis_watcher.core.clock import Clock, isoformat
from sis_watcher.core.durable import atomic_write_json
from sis_watcher.core.logs import get_logger
from sis_watcher.ops.events import Listener

STATUS_NAME = ".status.json"
log = get_logger()


class StatusFile(Listener):
    """Keeps `queue/.status.json` current."""

    def __init__(self, queue: Path, *, clock: Clock) -> None:
        self.path = queue / STATUS_NAME
        self.clock = clock
        self.lock = threading.Lock()
        self.state: dict[str, Any] = {
            "pid": os.getpid(),
            "started_at": isoformat(clock.now()),
            "activity": "starting",
            "paused": None,
            "intake_problem": None,
            "batch_id": None,
            "import": None,
        }

    def update(self, **changes: Any) -> None:
        with self.lock:
            if all(self.state.get(key) == value for key, value in changes.items()):
                return
            self.state.update(changes)
            self.state["updated_at"] = isoformat(self.clock.now())
            try:
                atomic_write_json(self.path, self.state)
            except OSError as error:
                log.warning("status.write_failed", caused_by=str(error))

    def activity(self, text: str, *, queued: int | None = None, batch_id: str | None = None) -> None:
        self.update(activity=text, batch_id=batch_id)

    def import_progress(self, manifest: Manifest) -> None:
        canvas = manifest.canvas
        self.update(
            batch_id=manifest.batch_id,
            **{
                "import": {
                    "import_id": canvas.import_id,
                    "workflow_state": canvas.workflow_state,
                    "progress": canvas.progress,
                }
            },
        )

    def batch_filed(self, manifest: Manifest, path: Path) -> None:
        self.update(batch_id=None, **{"import": None})

    def uploads_paused(self, reason: str) -> None:
        self.update(paused=reason)

    def uploads_resumed(self) -> None:
        self.update(paused=None)

    def intake_problem(self, reason: str) -> None:
        self.update(intake_problem=reason)

    def intake_recovered(self) -> None:
        self.update(intake_problem=None)

    def stopped(self) -> None:
        self.update(activity="stopped", batch_id=None, **{"import": None})


def read_status(queue: Path) -> dict[str, Any] | None:
    """Return the last status the daemon wrote, or None."""
    try:
        document = json.loads((queue / STATUS_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None
