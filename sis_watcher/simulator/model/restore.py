"""
`restore_states` and its Progress object (docs/canvas.md §A2): rolling an import back.

`PUT .../sis_imports/:id/restore_states` checks the request (two of the three flags that cannot
go together, roll-back data that expired after `restore_data_days` or never existed) and queues
a restore job with a Progress, `queued`. The job runs on its own thread, as Canvas runs it on
its own strand beside the import queue: after `restore_pickup_delay_seconds` the Progress is
`running` and the import `restoring`; after `restore_seconds` more the Progress is `completed`
(`completion` 100.0, a float), and `restore_save_delay_seconds` later the import is saved
`restored`, or `partially_restored` when a flag was given, with `data.statistics.<Model>.restored`
overwritten by the rows put back: MODEL2 completes the Progress before it saves the batch, so a
client that reads the import as soon as the Progress is final can still see `restoring`. A
restore armed to fail (the `restore_fails` fault) ends the Progress `failed` ("Unexpected error,
ID: N") and, as late, the import `restore_failed` with `data.error_message`.

Only the counts are rolled back: the SIS objects of the store keep their states (no test needs
a restored object; the statistics are what a client sees).
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sis_watcher.simulator.model.imports import ImportQueue, ImportRow
from sis_watcher.simulator.model.params import value_to_boolean

TAG = "sis_batch_state_restore"
UNAVAILABLE = {"message": "restore data unavailable"}
BOTH_FLAGS = {"message": "cannot set both undelete_only and unconclude_only"}
UNDELETED = ("deleted", "retired")
FINISHED = ("completed", "failed")


@dataclass(frozen=True, slots=True, kw_only=True)
class RestoreOptions:
    """The three filters of `restore_states_for_batch` (all of those given apply together)."""

    batch_mode: bool = False
    undelete_only: bool = False
    unconclude_only: bool = False

    @classmethod
    def from_params(cls, param: Any) -> RestoreOptions:
        """Read the flags as the controller does (`value_to_boolean`)."""
        return cls(
            batch_mode=value_to_boolean(param("batch_mode")),
            undelete_only=value_to_boolean(param("undelete_only")),
            unconclude_only=value_to_boolean(param("unconclude_only")),
        )

    @property
    def partial(self) -> bool:
        return self.batch_mode or self.undelete_only or self.unconclude_only

    def keeps(self, new_state: str, *, batch_mode: bool) -> bool:
        """Return True when a roll-back row (its new state, whether batch mode wrote it) is restored."""
        if self.batch_mode and not batch_mode:
            return False
        if self.undelete_only and new_state not in UNDELETED:
            return False
        return not (self.unconclude_only and new_state != "completed")


@dataclass(slots=True, kw_only=True)
class Progress:
    """One Progress row and the restore job it follows."""

    id: int
    import_id: int
    options: RestoreOptions
    created_at: datetime
    updated_at: datetime
    due_mono: float
    fail: bool = False
    workflow_state: str = "queued"
    completion: float = 0.0
    message: str | None = None
    unsaved: tuple[str, dict[str, Any]] | None = None  # the import's end (state, data) not yet saved

    def touch(self, state: str, completion: float) -> None:
        self.workflow_state, self.completion = state, completion
        self.updated_at = datetime.now(UTC)


def timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def progress_json(progress: Progress, *, api_url: str) -> dict[str, Any]:
    """A Progress as Canvas shapes it (PROGJSON): `user_id` null, `completion` a float, `url`."""
    return {
        "id": progress.id,
        "context_id": progress.import_id,
        "context_type": "SisBatch",
        "user_id": None,
        "tag": TAG,
        "completion": progress.completion,
        "workflow_state": progress.workflow_state,
        "created_at": timestamp(progress.created_at),
        "updated_at": timestamp(progress.updated_at),
        "message": progress.message,
        "url": f"{api_url}/api/v1/progress/{progress.id}",
    }


def restored_counts(row: ImportRow, options: RestoreOptions) -> Counter[str]:
    """Return, per model, the roll-back rows of `row` the options put back."""
    kept: Counter[str] = Counter()
    if row.roll_back is not None:
        for (model, new_state, batch_mode), number in row.roll_back.roll_back.items():
            if options.keeps(new_state, batch_mode=batch_mode):
                kept[model] += number
    return kept


@dataclass(slots=True)
class Restores:
    """The Progress rows of the account and the restore job; guarded by the import queue's `cond`."""

    queue: ImportQueue
    progresses: dict[int, Progress] = field(default_factory=dict)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    error_reports: itertools.count[int] = field(default_factory=lambda: itertools.count(5001))

    def request(
        self, import_id: int, options: RestoreOptions, *, fail: bool = False
    ) -> tuple[int, dict[str, Any] | None, Progress | None]:
        """
        Queue a restore of `import_id`: return (status, refusal body, Progress).

        404 for an unknown import; 400 for both `undelete_only` and `unconclude_only`, or when
        the import has no roll-back rows younger than `restore_data_days` (docs/canvas.md §A2).
        """
        queue = self.queue
        with queue.cond:
            row = queue.rows.get(import_id)
            if row is None:
                return 404, None, None
            if options.undelete_only and options.unconclude_only:
                return 400, BOTH_FLAGS, None
            age = datetime.now(UTC) - row.created_at
            expired = age > timedelta(days=queue.settings.restore_data_days)
            if row.roll_back is None or row.roll_back.rows == 0 or expired:
                return 400, UNAVAILABLE, None
            now = datetime.now(UTC)
            progress = Progress(
                id=next(self.ids),
                import_id=import_id,
                options=options,
                created_at=now,
                updated_at=now,
                due_mono=queue.monotonic() + queue.settings.restore_pickup_delay_seconds,
                fail=fail,
            )
            self.progresses[progress.id] = progress
            queue.cond.notify_all()
            return 200, None, progress

    def get(self, progress_id: int) -> Progress | None:
        with self.queue.cond:
            return self.progresses.get(progress_id)

    def run(self) -> None:
        """The restore job's thread: advance every due Progress until the queue stops."""
        queue = self.queue
        with queue.cond:
            while not queue.stopping:
                waits = [self.advance(progress) for progress in list(self.progresses.values())]
                pending = [seconds for seconds in waits if seconds is not None]
                queue.cond.wait(timeout=min([1.0, *pending]))

    def advance(self, progress: Progress) -> float | None:
        """Move one Progress on if it is due; return the seconds until it is due next (None: finished)."""
        queue = self.queue
        if progress.workflow_state in FINISHED and progress.unsaved is None:
            return None
        now = queue.monotonic()
        if now < progress.due_mono:
            return progress.due_mono - now
        row = queue.rows.get(progress.import_id)
        if progress.unsaved is not None:
            self.save(progress, row)
            return None
        settings = queue.settings
        if progress.workflow_state == "queued" and row is not None:
            progress.touch("running", 0.0)
            row.touch("restoring")
            progress.due_mono = now + settings.restore_seconds / 2
            return settings.restore_seconds / 2
        if progress.completion < 50.0 and row is not None:
            progress.touch("running", 50.0)
            progress.due_mono = now + settings.restore_seconds / 2
            return settings.restore_seconds / 2
        self.finish(progress, row)
        progress.due_mono = now + settings.restore_save_delay_seconds
        queue.cond.notify_all()
        return settings.restore_save_delay_seconds

    def finish(self, progress: Progress, row: ImportRow | None) -> None:
        """End the Progress `completed` or `failed` (MODEL2, PROGM); the import's end waits in `unsaved`."""
        if row is None or progress.fail:
            report = next(self.error_reports)
            progress.message = f"Unexpected error, ID: {report}"
            progress.touch("failed", progress.completion)
            failure = "simulated failure of the restore job"
            trace = f"{failure}\nrestore.py:finish"
            progress.unsaved = ("restore_failed", {"error_message": failure, "stack_trace": trace})
            return
        statistics = row.data.get("statistics")
        data: dict[str, Any] = {}
        if isinstance(statistics, dict):  # a new dict: a request may be rendering the old one
            updated = {
                key: dict(value) if isinstance(value, dict) else value for key, value in statistics.items()
            }
            for model, number in restored_counts(row, progress.options).items():
                if isinstance(updated.get(model), dict):
                    updated[model]["restored"] = number
            data["statistics"] = updated
        progress.touch("completed", 100.0)
        progress.unsaved = ("partially_restored" if progress.options.partial else "restored", data)

    def save(self, progress: Progress, row: ImportRow | None) -> None:
        """Save the import's end the job left in `unsaved` (MODEL2's `save!` after the Progress)."""
        assert progress.unsaved is not None  # noqa: S101 - only called with an end to save
        state, data = progress.unsaved
        progress.unsaved = None
        if row is not None:
            row.data.update(data)
            row.touch(state)
        self.queue.cond.notify_all()
