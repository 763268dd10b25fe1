"""
The account's import job (docs/canvas.md §2.2, §2.4, §3.1).

It takes `created` imports one at a time, oldest first, processes each in this background
thread (never in a request handler) and finishes it like Canvas.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sis_watcher.simulator.model.imports import ImportQueue, ImportRow
from sis_watcher.simulator.model.outcome import ProcessingOutcome, SisMessage
from sis_watcher.simulator.model.processing import Cancelled, process_upload
from sis_watcher.simulator.model.records import MemberRecord, Recorder
from sis_watcher.simulator.model.statistics import StateChanges
from sis_watcher.simulator.model.store import BATCH_MODE_KINDS, SisStore

IMPORTED_STATES = ("imported", "imported_with_messages")
REMASTER_REQUIRED = "Too many consecutive batches exceeded the change threshold. A remaster is required."
# `batch_mode_enrollment_drop_status` -> the state a dropped enrollment takes (the last-completed
# rule of `deleted_last_completed` is not simulated: such enrollments are deleted)
DROP_STATES = {"deleted": "deleted", "inactive": "inactive", "completed": "completed"}


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportProcessor:
    """The collaborators of the worker thread."""

    queue: ImportQueue
    store: SisStore
    recorder: Recorder
    storage_dir: Path

    def run(self) -> None:
        """Process imports until the queue is stopped."""
        while True:
            row = self.wait_for_next()
            if row is None:
                return
            self.process(row)

    def wait_for_next(self) -> ImportRow | None:
        """Block until an import is due, start it (`importing`) and return it; None on stop."""
        queue = self.queue
        settings = queue.settings
        with queue.cond:
            while not queue.stopping:
                row = queue.next_due()
                now = queue.monotonic()
                if row is None:
                    queue.cond.wait(timeout=1.0)
                    continue
                due = max(row.created_mono + settings.pickup_delay_seconds, queue.resume_mono)
                if now < due:
                    queue.cond.wait(timeout=due - now)
                    continue
                row.started_at = datetime.now(UTC)
                row.started_mono = now
                row.touch("importing")
                return row
        return None

    def process(self, row: ImportRow) -> None:
        """Read the upload, let the simulated time pass, then finish the import."""
        queue = self.queue
        settings = queue.settings
        if self.remaster_required(row):
            with queue.cond:
                self.fail_for_remaster(row)
                queue.cond.notify_all()
            return
        try:
            outcome = process_upload(
                row.body,
                file_name=row.file_name,
                import_id=row.id,
                settings=settings,
                store=self.store,
                skip_deletes=row.options.skip_deletes,
                cancelled=lambda: queue.stopping,
            )
        except Cancelled:
            return
        except Exception as error:  # an unexpected exception fails the batch, like the job's rescue
            outcome = ProcessingOutcome(error_message=f"{type(error).__name__}: {error}")
        members = tuple(
            MemberRecord(
                name=file.path, bytes=file.size, sha256=file.sha256, rows=file.rows, csv_type=file.csv_type
            )
            for file in outcome.files
        )
        self.recorder.set_members(row.id, members)
        with queue.cond:
            row.outcome = outcome
            row.attachment_ids = [
                next(queue.attachment_ids) for file in outcome.files if file.attachment_name
            ]
            if outcome.files:
                row.data["supplied_batches"] = list(outcome.supplied)
            duration = max(settings.min_import_seconds, outcome.rows / settings.rows_per_second)
            assert row.started_mono is not None  # noqa: S101 - set by wait_for_next
            row.finish_mono = math.inf if row.stuck == "importing" else row.started_mono + duration
            while not queue.stopping and row.workflow_state == "importing":
                remaining = row.finish_mono - queue.monotonic()
                if remaining <= 0:
                    break
                queue.cond.wait(timeout=min(remaining, 1.0))
            if queue.stopping:
                return
            self.finish(row, outcome)
            queue.cond.notify_all()

    def finish(self, row: ImportRow, outcome: ProcessingOutcome) -> None:
        """Decide the final state, counts and messages (docs/canvas.md §2.2 to §2.4)."""
        now = self.queue.monotonic()
        row.messages = list(outcome.messages)
        counts: dict[str, int] = dict(outcome.counts)
        row.data.update(
            {
                "downloadable_attachment_ids": list(row.attachment_ids),
                "completed_importers": list(outcome.supplied),
                "running_immediately": outcome.rows <= 50,
            }
        )
        warnings, errors = outcome.warning_count, outcome.error_count
        state = row.workflow_state
        counted = state == "importing" and outcome.error_message is None  # docs/canvas.md §A3
        if state == "importing" and outcome.error_message is not None:
            row.data["error_message"] = outcome.error_message
            state = "failed"
        elif state == "importing":
            batch_message, state = self.batch_mode(row, outcome, counts, failed=errors > 0)
            diff_message = self.diffing(row, outcome)
            for message in (batch_message, diff_message):
                if message is not None:
                    row.messages.append(SisMessage(file=None, message=message))
                    warnings += 1
            if state == "importing":
                state = (
                    "failed_with_messages" if errors else "imported_with_messages" if warnings else "imported"
                )
                row.progress = 100
        counts["error_count"], counts["warning_count"] = errors, warnings
        row.data["counts"] = counts
        if counted:
            changes = self.store.take_changes(row.id)
            row.data["statistics"] = changes.statistics()
            row.roll_back = changes
        else:
            self.store.forget(row.id)
        row.ended_at = datetime.now(UTC)
        row.touch(state)
        if row.messages:
            self.write_errors_file(row)
            row.errors_attachment_id = next(self.queue.attachment_ids)
            row.errors_ready_mono = now + self.queue.settings.errors_attachment_delay_seconds
        if state == "aborted":
            self.queue.delay_after_abort()

    def batch_mode(
        self, row: ImportRow, outcome: ProcessingOutcome, counts: dict[str, int], *, failed: bool
    ) -> tuple[str | None, str]:
        """
        Run batch-mode cleanup or abort on a `change_threshold` breach (docs/canvas.md §2.4, §A5).

        Only the supplied types among courses, sections and enrollments are removed, and only
        they get a `batch_<plural>_deleted` count.
        """
        options = row.options
        if not options.batch_mode or failed or self.store.overflowed:
            return None, "importing"
        if options.multi_term_batch_mode is not None:
            terms = self.store.batch_terms(row.id)
            if not terms:
                return "Terms not found. Terms must be included with multi_term_batch_mode", "aborted"
        else:
            term_id = options.batch_mode_term_id or 0
            terms = {self.store.term_sis_id(term_id)}
        kinds = [kind for kind in BATCH_MODE_KINDS if kind in outcome.supplied]
        drop_state = DROP_STATES.get(options.batch_mode_enrollment_drop_status or "deleted", "deleted")
        stale = self.store.stale(terms=terms, batch_id=row.id, kinds=kinds, drop_state=drop_state)
        threshold = options.change_threshold
        for name, (deleted, total) in stale.items():
            if threshold is not None and total and deleted / total * 100 > threshold:
                return (
                    f"{deleted} {name} would be deleted and exceeds the set threshold of {threshold}%",
                    "aborted",
                )
        self.store.delete_stale(terms=terms, batch_id=row.id, kinds=kinds, drop_state=drop_state)
        for name, (deleted, _total) in stale.items():
            counts[f"batch_{name}_deleted"] = deleted
        return None, "importing"

    def diffing(self, row: ImportRow, outcome: ProcessingOutcome) -> str | None:
        """Pick the import diffed against and apply the diffing thresholds (docs/canvas.md §2.4)."""
        identifier = row.options.diffing_data_set_identifier
        if identifier is None:
            return None
        previous = next(
            (
                other
                for other in self.queue.all()
                if other.id != row.id
                and other.options.diffing_data_set_identifier == identifier
                and other.workflow_state in IMPORTED_STATES
                and not other.diffing_threshold_exceeded
            ),
            None,
        )
        if previous is None or previous.outcome is None or row.options.diffing_remaster:
            return None
        before, threshold = previous.outcome, row.options.change_threshold
        if threshold is not None and before.uncompressed_size:
            percent = abs(1 - outcome.uncompressed_size / before.uncompressed_size) * 100
            if percent > threshold:
                row.diffing_threshold_exceeded = True
                return "Diffing not performed because file size difference exceeded threshold"
        row_threshold = row.options.diff_row_count_threshold
        if row_threshold is not None and abs(outcome.rows - before.rows) > row_threshold:
            row.diffing_threshold_exceeded = True
            return "Diffing not performed because difference row count exceeded threshold"
        row.diffed_against_import_id = previous.id
        return None

    def remaster_required(self, row: ImportRow) -> bool:
        """
        Canvas's rule against skipping diffing for ever (docs/canvas.md §A4, `generate_diff`).

        The base is the latest succeeded import of the data set that was a remaster or made a
        diff, else the earliest succeeded one; more than `sis_diffing_max_skip` succeeded
        imports over the threshold since the base fail this one. A remaster never fails here.
        """
        identifier = row.options.diffing_data_set_identifier
        if identifier is None or row.options.diffing_remaster:
            return False
        succeeded = sorted(
            (
                other
                for other in self.queue.all()
                if other.id < row.id
                and other.options.diffing_data_set_identifier == identifier
                and other.workflow_state in IMPORTED_STATES
            ),
            key=lambda other: other.id,
        )
        if not succeeded:
            return False
        bases = [
            other for other in succeeded if other.options.diffing_remaster or other.diffed_against_import_id
        ]
        base = bases[-1] if bases else succeeded[0]
        skipped = sum(1 for other in succeeded if other.id > base.id and other.diffing_threshold_exceeded)
        return skipped > self.queue.settings.sis_diffing_max_skip

    def fail_for_remaster(self, row: ImportRow) -> None:
        """End the import as Canvas does when a remaster is required (docs/canvas.md §A4); under `cond`."""
        row.messages = [SisMessage(file=None, message=REMASTER_REQUIRED, failure=True)]
        row.data["counts"] = {"error_count": 1, "warning_count": 0}
        row.data["statistics"] = StateChanges().statistics()
        row.ended_at = datetime.now(UTC)
        row.touch("failed_with_messages")
        self.write_errors_file(row)
        row.errors_attachment_id = next(self.queue.attachment_ids)
        row.errors_ready_mono = self.queue.monotonic() + self.queue.settings.errors_attachment_delay_seconds

    def write_errors_file(self, row: ImportRow) -> None:
        """Write `sis_errors_attachment_<id>.csv` (header `sis_import_id,file,message,row`, §2.5)."""
        path = self.storage_dir / f"sis_errors_attachment_{row.id}.csv"
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["sis_import_id", "file", "message", "row"])
            for message in row.messages:
                writer.writerow([row.id, message.file or "", message.message, message.row or ""])
        row.errors_file = path
