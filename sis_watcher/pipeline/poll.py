"""
Stage: follow the import until Canvas finishes it (importing -> reporting, or -> failed).

Polls `GET .../sis_imports/:id` with a growing interval (`poll.interval_seconds` times 1.5 each
time, up to `poll.max_interval_seconds`), one request at a time, deciding from
`workflow_state` only. Every change of state or progress is written to the manifest. After
`poll.warn_after_seconds` the import is reported stuck (once); after
`poll.give_up_after_seconds` (counted from the upload, across restarts) the batch is failed
with the import id and its last state. By default the import is not aborted: it may be
legitimately slow, and aborting makes Canvas pause its queue for 10 minutes; the alert tells an
admin to look. With `poll.abort_on_give_up` it is aborted in Canvas too (`pipeline.abort`), so
one stuck import stops blocking the account's queue, and the reason says so; if Canvas answers
that it has finished in the meantime, its verdict is taken instead.
"""

from __future__ import annotations

from typing import Any

from sis_watcher.batch.folder import Batch
from sis_watcher.batch.manifest import BatchState
from sis_watcher.canvas.retry import call_with_retries
from sis_watcher.canvas.verdict import ImportAnswer, is_terminal
from sis_watcher.core.clock import parse_time
from sis_watcher.core.errors import Stopping
from sis_watcher.core.logs import get_logger
from sis_watcher.pipeline.abort import abort_in_canvas
from sis_watcher.pipeline.context import StageContext

log = get_logger()
GROWTH = 1.5


def absorb(batch: Batch, sis_import: dict[str, Any]) -> bool:
    """
    Copy Canvas's view of the import into the manifest; return True if anything changed.

    At a terminal state everything the verdict reads is recorded here, once: the messages, the
    counts and `data.error_message` (Canvas's only words when it failed a batch outright,
    docs/canvas.md §A6); and, for comparing with the preview, `data.statistics` (the state
    changes per model, §A3) and `diffing_threshold_exceeded` (§A4), None when Canvas sent none.
    """
    canvas = batch.manifest.canvas
    state = str(sis_import.get("workflow_state"))
    progress = sis_import.get("progress")
    progress = progress if isinstance(progress, int) else canvas.progress
    changed = (state, progress) != (canvas.workflow_state, canvas.progress)
    if state != canvas.workflow_state:
        log.info(
            "import.state_changed",
            import_id=canvas.import_id,
            workflow_state=state,
            previous=canvas.workflow_state,
        )
    canvas.workflow_state = state
    canvas.progress = progress
    canvas.last_polled_at = batch.now_text()
    if is_terminal(state):
        answer = ImportAnswer.from_json(sis_import)
        canvas.ended_at = answer.ended_at
        canvas.processing_errors = [list(pair) for pair in answer.processing_errors]
        canvas.processing_warnings = [list(pair) for pair in answer.processing_warnings]
        canvas.counts = answer.counts or canvas.counts
        canvas.error_count = answer.error_count
        canvas.warning_count = answer.warning_count
        canvas.error_message = answer.error_message
        canvas.statistics = statistics_of(sis_import)
        exceeded = sis_import.get("diffing_threshold_exceeded")
        canvas.diffing_threshold_exceeded = exceeded if isinstance(exceeded, bool) else None
    return changed


def statistics_of(sis_import: dict[str, Any]) -> dict[str, Any] | None:
    """Return `data.statistics` (never top level, docs/canvas.md §2.1), or None when absent or odd."""
    data = sis_import.get("data")
    statistics = data.get("statistics") if isinstance(data, dict) else None
    return statistics if isinstance(statistics, dict) else None


def elapsed_since_upload(batch: Batch) -> float:
    manifest = batch.manifest
    start = manifest.upload.finished_at or manifest.canvas.created_at or batch.now_text()
    return (batch.clock.now() - parse_time(start)).total_seconds()


def wait(context: StageContext, seconds: float) -> None:
    if context.stopping.wait(seconds):
        raise Stopping("shutdown while waiting to poll")


def give_up(batch: Batch, context: StageContext, elapsed: float) -> None:
    """Fail the batch whose import is past `give_up_after_seconds` (aborting it first if configured)."""
    canvas = batch.manifest.canvas
    state, progress = canvas.workflow_state, canvas.progress or 0
    log.error("import.gave_up", import_id=canvas.import_id, workflow_state=state)
    aborted = ""
    if context.config.poll.abort_on_give_up:
        answer = abort_in_canvas(batch, context)
        if answer is None:  # finished meanwhile: one more look takes Canvas's verdict
            absorb(batch, context.client.get_import(canvas.import_id or 0))
            if is_terminal(canvas.workflow_state):
                batch.advance(BatchState.REPORTING)
                return
        else:
            absorb(batch, answer)
            aborted = " and was aborted in Canvas (poll.abort_on_give_up)"
    reason = (
        f"Canvas import {canvas.import_id} was still {state} ({progress}%) after {elapsed / 3600:.1f} h "
        f"(poll.give_up_after_seconds){aborted}; check it in Canvas before retrying"
    )
    batch.fail(reason)


def poll(batch: Batch, context: StageContext) -> None:
    """
    Poll until the import is terminal (state `reporting`, Canvas's answer in the manifest).

    The batch is failed instead when it takes longer than `give_up_after_seconds`.
    """
    manifest = batch.manifest
    settings = context.config.poll
    import_id = manifest.canvas.import_id
    assert import_id is not None  # noqa: S101 - the state machine guarantees it
    interval = settings.interval_seconds
    while True:
        sis_import = call_with_retries(
            lambda: context.client.get_import(import_id),
            policy=context.policy,
            stopping=context.stopping,
            step="poll",
            on_retry=lambda _attempt: context.monitor.retry_scheduled("poll"),
        )
        if absorb(batch, sis_import):
            batch.save()
            context.monitor.import_progress(manifest)
            context.monitor.activity(
                f"importing {manifest.batch_id} (Canvas import {import_id}: "
                f"{manifest.canvas.workflow_state} {manifest.canvas.progress or 0}%)",
                batch_id=manifest.batch_id,
            )
        if is_terminal(manifest.canvas.workflow_state):
            log.info("import.finished", import_id=import_id, workflow_state=manifest.canvas.workflow_state)
            batch.advance(BatchState.REPORTING)
            return
        elapsed = elapsed_since_upload(batch)
        if elapsed >= settings.give_up_after_seconds:
            give_up(batch, context, elapsed)
            return
        if elapsed >= settings.warn_after_seconds and not manifest.canvas.stuck_alerted:
            log.warning(
                "import.stuck",
                import_id=import_id,
                workflow_state=manifest.canvas.workflow_state,
                seconds=elapsed,
            )
            context.monitor.import_stuck(manifest, elapsed)
            manifest.canvas.stuck_alerted = True
            batch.save()
        wait(context, interval)
        interval = min(interval * GROWTH, settings.max_interval_seconds)
