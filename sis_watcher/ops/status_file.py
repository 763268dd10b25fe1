"""
`queue/.status.json`: what the running daemon is doing, for `sis-watcher status`.

Rewritten atomically when the activity changes, so `status` can read it from another process
at any time. Combined with the queue lock (is the daemon alive?), it answers "running, paused
or idle, and on what".

`held` lists the batches waiting for `approve` or `discard` (batch id, when, the hold reasons'
texts, the change summary), from the monitor's `batch_held` moment. A batch leaves the list when
it is filed, or when the worker is busy with it otherwise than waiting ("held: ..."): approved,
it is being uploaded.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from sis_watcher.batch.manifest import HoldRecord, Manifest
from sis_watcher.core.clock import Clock, isoformat
from sis_watcher.core.durable import atomic_write_json
from sis_watcher.core.logs import get_logger
from sis_watcher.ops.events import Listener

STATUS_NAME = ".status.json"
HELD_ACTIVITY = "held"  # the worker's activity while a held batch waits: "held: <id> waits for ..."
log = get_logger()


class StatusFile(Listener):
    """Keeps `queue/.status.json` current."""

    def __init__(self, queue: Path, *, clock: Clock) -> None:
        self.path = queue / STATUS_NAME
        self.clock = clock
        self.lock = threading.RLock()
        self.state: dict[str, Any] = {
            "pid": os.getpid(),
            "started_at": isoformat(clock.now()),
            "activity": "starting",
            "paused": None,
            "intake_problem": None,
            "batch_id": None,
            "import": None,
            "held": [],
        }

    def update(self, **changes: Any) -> None:
        with self.lock:
            if all(self.state.get(key) == value for key, value in changes.items()):
                return
            self.state.update(changes)
            self.state["updated_at"] = isoformat(self.clock.now())
            try:
                # No fsync: the stage that called must not wait on the disk for a snapshot
                # that the next moment rewrites (issue 14); the rename keeps it whole for readers.
                atomic_write_json(self.path, self.state, durable=False)
            except OSError as error:
                log.warning("status.write_failed", caused_by=str(error))

    def activity(self, text: str, *, queued: int | None = None, batch_id: str | None = None) -> None:
        with self.lock:
            if batch_id is not None and not text.startswith(HELD_ACTIVITY):
                self.release(batch_id)
            self.update(activity=text, batch_id=batch_id)

    def batch_held(self, manifest: Manifest) -> None:
        hold = manifest.hold or HoldRecord()
        entry = {
            "batch_id": manifest.batch_id,
            "held_at": hold.held_at,
            "reasons": [reason.text for reason in hold.reasons],
            "changes": (manifest.changes or {}).get("summary"),
        }
        with self.lock:
            others = [item for item in self.state["held"] if item["batch_id"] != manifest.batch_id]
            self.update(held=[*others, entry])

    def release(self, batch_id: str) -> None:
        """Take a batch off the held list (nothing is written if it was not on it)."""
        with self.lock:
            self.update(held=[item for item in self.state["held"] if item["batch_id"] != batch_id])

    def import_progress(self, manifest: Manifest) -> None:
        canvas = manifest.canvas
        self.release(manifest.batch_id)
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
        with self.lock:
            self.release(manifest.batch_id)
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
