"""
While uploads are paused on purpose: validate the queued batches behind the waiting one, in order.

Validation needs only a batch's own files, so its verdict holds whatever is filed before it;
the change preview needs the ledger after every batch ahead, so it (with the hold rules and
the zip) waits until the batch is first in line. Under `validation.mode: strict`, a batch
refused here is failed with its reason (filed under failed/, `batch.filed`, alerted as usual)
during the pause rather than after it; one that passes is left as it is (nothing saved) and
checked again, in full, when its turn comes. In `warn` and `off` modes validation fails no
batch, so nothing is looked at ahead. One batch per wait (every few seconds), so a `resume`
is never kept waiting by a long queue; a batch that cannot be read now is left to its turn.
"""

from __future__ import annotations

from pathlib import Path

import structlog

from sis_watcher.batch.folder import Batch
from sis_watcher.batch.ids import batch_folders
from sis_watcher.batch.manifest import BatchState, ManifestUnreadable, load_manifest
from sis_watcher.core.logs import get_logger
from sis_watcher.pipeline.context import StageContext
from sis_watcher.pipeline.prepare import inspect, log_problems, record_reports, refusal

log = get_logger()


class CheckAhead:
    """Remembers which queued batches were validated ahead during this pause (those still queued)."""

    def __init__(self, context: StageContext) -> None:
        self.context = context
        self.checked: set[str] = set()

    def refused_next(self, head_id: str) -> Batch | None:
        """Validate the next unchecked queued batch behind `head_id`; return it if refused (now failed)."""
        context = self.context
        if context.config.validation.mode != "strict":
            return None
        behind = [path for path in batch_folders(context.config.folders.queue) if path.name > head_id]
        self.checked &= {path.name for path in behind}  # bounded by the queue
        batch_dir = next((path for path in behind if path.name not in self.checked), None)
        if batch_dir is None:
            return None
        self.checked.add(batch_dir.name)
        with structlog.contextvars.bound_contextvars(batch_id=batch_dir.name):
            return self.validated(batch_dir)

    def validated(self, batch_dir: Path) -> Batch | None:
        """Validate one queued batch; fail it (saved) and return it when strict validation refuses it."""
        context = self.context
        try:
            manifest = load_manifest(batch_dir)
            if manifest.state is not BatchState.QUEUED or not manifest.files:
                return None  # not new, or nothing to validate: its turn decides
            reports = inspect(batch_dir, manifest, checks=True)
        except (ManifestUnreadable, OSError):
            return None  # its turn reports it (quarantined, or retried as a local fault)
        record = record_reports(manifest, reports, mode="strict")
        reason = refusal(record, context)
        if reason is None:
            return None
        log.warning("validation.finished", errors=record.errors, warnings=record.warnings, mode="strict")
        log_problems(record)
        batch = Batch(batch_dir, manifest, clock=context.clock)
        batch.fail(reason)
        return batch
