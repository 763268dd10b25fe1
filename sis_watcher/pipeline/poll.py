"""
Stage: follow the import until Canvas finishes it (importing -> reporting, or -> failed).

Polls `GET .../sis_imports/:id` with a growing interval (`poll.interval_seconds` times 1.5 each
time, up to `poll.max_interval_seconds`), one request at a time, deciding from
`workflow_state` only. Every change of state or progress is written to the manifest. After
`poll.warn_after_seconds` the import is reported stuck (once); after
`poll.give_up_after_seconds` (counted from the upload, across restarts) the batch is failed
with the import id and its last state. The import is not aborted: it may be legitimately slow,
and aborting makes Canvas pause its queue for 10 minutes; the alert tells an admin to look.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sis_watcher.batch.manifest import BatchState, Manifest
from sis_watcher.canvas.retry import call_with_retries, refusal_is_transient
from sis_watcher.canvas.verdict import is_terminal, pairs
from sis_watcher.core.clock import parse_time
from sis_watcher.core.errors import Stopping
from sis_watcher.core.logs import get_logger
from sis_watcher.pipeline.context import Pipeline

log = get_logger()
GROWTH = 1.5


def absorb(manifest: Manifest, sis_import: dict[str, Any], pipeline: Pipeline) -> bool:
    """Copy Canvas's view of the import into the manifest; return True if anything changed."""
    canvas = manifest.canvas
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
    canvas.last_polled_at = pipeline.now_text()
    if is_terminal(state):
        canvas.ended_at = sis_import.get("ended_at")
        canvas.processing_errors = [list(pair) for pair in pairs(sis_import.get("processing_errors"))]
        canvas.processing_warnings = [list(pair) for pair in pairs(sis_import.get("processing_warnings"))]
        data = sis_import.get("data") if isinstance(sis_import.get("data"), dict) else {}
        counts = data.get("counts") if isinstance(data, dict) else None
        if isinstance(counts, dict):
            canvas.counts = {key: value for key, value in counts.items() if isinstance(value, int)}
        canvas.error_count = canvas.counts.get("error_count", len(canvas.processing_errors))
        canvas.warning_count = canvas.counts.get("warning_count", len(canvas.processing_warnings))
    return changed


def elapsed_since_upload(manifest: Manifest, pipeline: Pipeline) -> float:
    start = manifest.upload.finished_at or manifest.canvas.created_at or pipeline.now_text()
    return (pipeline.clock.now() - parse_time(start)).total_seconds()


def wait(pipeline: Pipeline, seconds: float) -> None:
    if pipeline.stopping.wait(seconds):
        raise Stopping("shutdown while waiting to poll")


def poll(batch_dir: Path, manifest: Manifest, pipeline: Pipeline) -> dict[str, Any] | None:
    """
    Poll until the import is terminal; return its last SisImport (state `reporting`).

    Return None when the batch was failed for taking longer than `give_up_after_seconds`.
    """
    settings = pipeline.config.poll
    import_id = manifest.canvas.import_id
    assert import_id is not None  # noqa: S101 - the state machine guarantees it
    interval = settings.interval_seconds
    while True:
        sis_import = call_with_retries(
            refusal_is_transient(lambda: pipeline.client.get_import(import_id)),
            policy=pipeline.policy,
            stopping=pipeline.stopping,
            step="poll",
            on_retry=lambda _attempt: pipeline.monitor.retry_scheduled("poll"),
        )
        if absorb(manifest, sis_import, pipeline):
            manifest.save(batch_dir)
            pipeline.monitor.import_progress(manifest)
            pipeline.monitor.activity(
                f"importing {manifest.batch_id} (Canvas import {import_id}: "
                f"{manifest.canvas.workflow_state} {manifest.canvas.progress or 0}%)",
                batch_id=manifest.batch_id,
            )
        if is_terminal(manifest.canvas.workflow_state):
            log.info("import.finished", import_id=import_id, workflow_state=manifest.canvas.workflow_state)
            pipeline.advance(manifest, BatchState.REPORTING)
            manifest.save(batch_dir)
            return sis_import
        elapsed = elapsed_since_upload(manifest, pipeline)
        if elapsed >= settings.give_up_after_seconds:
            reason = (
                f"Canvas import {import_id} was still {manifest.canvas.workflow_state} "
                f"({manifest.canvas.progress or 0}%) after {elapsed / 3600:.1f} h "
                "(poll.give_up_after_seconds); check it in Canvas before retrying"
            )
            log.error("import.gave_up", import_id=import_id, workflow_state=manifest.canvas.workflow_state)
            pipeline.fail(manifest, reason)
            manifest.save(batch_dir)
            return None
        if elapsed >= settings.warn_after_seconds and not manifest.canvas.stuck_alerted:
            log.warning(
                "import.stuck",
                import_id=import_id,
                workflow_state=manifest.canvas.workflow_state,
                seconds=elapsed,
            )
            pipeline.monitor.import_stuck(manifest, elapsed)
            manifest.canvas.stuck_alerted = True
            manifest.save(batch_dir)
        wait(pipeline, interval)
        interval = min(interval * GROWTH, settings.max_interval_seconds)
