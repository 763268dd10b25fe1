"""
The SisBatch rows of the simulated root account and their life cycle (docs/canvas.md §2.2, §3.1).

`ImportQueue` holds every import; its worker thread (`worker.run_worker`) moves them
`created` -> `importing` -> a final state, one at a time and oldest first, with the delays of
`SimulatorSettings`. Everything here is guarded by `queue.cond`.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sis_watcher.simulator.model.outcome import ProcessingOutcome, SisMessage
from sis_watcher.simulator.model.params import CreateOptions
from sis_watcher.simulator.model.settings import SimulatorSettings
from sis_watcher.simulator.model.statistics import StateChanges

NOT_COMPLETED = ("initializing", "created", "importing", "cleanup_batch")
RUNNING = ("importing", "cleanup_batch")
ALL_STATES = (
    "initializing",
    "created",
    "importing",
    "cleanup_batch",
    "imported",
    "imported_with_messages",
    "aborted",
    "failed",
    "failed_with_messages",
    "restoring",
    "partially_restored",
    "restored",
)


@dataclass(slots=True, kw_only=True)
class ImportRow:
    """One SisBatch. Times are wall-clock for the JSON and monotonic (`*_mono`) for scheduling."""

    id: int
    created_at: datetime
    created_mono: float
    updated_at: datetime
    workflow_state: str
    options: CreateOptions
    body: Path
    file_name: str
    stuck: str | None = None
    started_at: datetime | None = None
    started_mono: float | None = None
    finish_mono: float | None = None
    ended_at: datetime | None = None
    progress: int = 0
    outcome: ProcessingOutcome | None = None
    messages: list[SisMessage] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    attachment_ids: list[int] = field(default_factory=list)
    errors_file: Path | None = None
    errors_attachment_id: int = 0
    errors_ready_mono: float | None = None
    diffed_against_import_id: int | None = None
    diffing_threshold_exceeded: bool = False
    roll_back: StateChanges | None = None  # its roll-back rows, once finished (`model.restore`)

    def touch(self, state: str | None = None) -> None:
        """Set a new state (if given) and `updated_at`."""
        if state is not None:
            self.workflow_state = state
        self.updated_at = datetime.now(UTC)

    def live_progress(self, now: float) -> int:
        """Return `progress`, interpolated by time while importing (an integer, docs/canvas.md §2.1)."""
        if self.workflow_state != "importing" or self.started_mono is None or self.finish_mono is None:
            return self.progress
        span = self.finish_mono - self.started_mono
        fraction = (now - self.started_mono) / span if span > 0 else 1.0
        return max(self.progress, min(99, int(fraction * 100)))


@dataclass(slots=True)
class ImportQueue:
    """All imports of the account, the id counters, and the condition the worker waits on."""

    settings: SimulatorSettings
    monotonic: Callable[[], float] = time.monotonic
    cond: threading.Condition = field(default_factory=threading.Condition)
    rows: dict[int, ImportRow] = field(default_factory=dict)
    import_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    attachment_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1001))
    resume_mono: float = 0.0
    stopping: bool = False

    def create(
        self,
        *,
        options: CreateOptions,
        body: Path,
        file_name: str,
        state: str = "created",
        stuck: str | None = None,
    ) -> ImportRow:
        """Add an import (docs/canvas.md §1.1: saved `created`, or left `initializing`); wake the job."""
        now = datetime.now(UTC)
        with self.cond:
            row = ImportRow(
                id=next(self.import_ids),
                created_at=now,
                created_mono=self.monotonic(),
                updated_at=now,
                workflow_state=state,
                options=options,
                body=body,
                file_name=file_name,
                stuck=stuck,
                data={"import_type": "instructure_csv"},
            )
            self.rows[row.id] = row
            self.cond.notify_all()
            return row

    def get(self, import_id: int) -> ImportRow | None:
        with self.cond:
            return self.rows.get(import_id)

    def all(self) -> list[ImportRow]:
        """Return every import, newest first (created_at DESC, docs/canvas.md §1.3)."""
        with self.cond:
            return sorted(self.rows.values(), key=lambda row: (row.created_at, row.id), reverse=True)

    def next_due(self) -> ImportRow | None:
        """Return the oldest `created` import, or None; None too while one is running (§3.1)."""
        if any(row.workflow_state in RUNNING for row in self.rows.values()):
            return None
        waiting = [row for row in self.rows.values() if row.workflow_state == "created"]
        return min(waiting, key=lambda row: (row.created_at, row.id), default=None)

    def abort(self, import_id: int) -> ImportRow | None:
        """Abort a not-completed import (docs/canvas.md §1.5); None if missing or already final."""
        with self.cond:
            row = self.rows.get(import_id)
            if row is None or row.workflow_state not in NOT_COMPLETED:
                return None
            row.touch("aborted")
            self.delay_after_abort()
            self.cond.notify_all()
            return row

    def abort_all_pending(self) -> None:
        """Abort every `initializing` and `created` import with progress 100 (docs/canvas.md §1.6)."""
        with self.cond:
            for row in self.rows.values():
                if row.workflow_state in ("initializing", "created"):
                    row.progress = 100
                    row.touch("aborted")
            self.cond.notify_all()

    def delay_after_abort(self) -> None:
        """Hold the queue after an abort (docs/canvas.md §1.5: about 10 minutes on Canvas)."""
        self.resume_mono = self.monotonic() + self.settings.after_abort_delay_seconds

    def clear(self) -> None:
        with self.cond:
            self.rows.clear()
            self.resume_mono = 0.0
            self.cond.notify_all()

    def stop(self) -> None:
        with self.cond:
            self.stopping = True
            self.cond.notify_all()
