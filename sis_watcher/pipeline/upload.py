"""
Stage: upload the zip (zipped -> uploading -> importing), never twice.

`upload.started_at` is written to the manifest *before* each POST. If the POST fails in a way
that proves Canvas never got it (no connection, throttled), the batch goes back to `zipped`.
If the outcome is unknown (the body went out and no answer came back, a gateway 5xx, or a crash
in between), the batch stays `uploading`, and the next attempt first asks Canvas which imports
were created since then (`recovery.decide`): ours is adopted instead of uploaded again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sis_watcher.batch.folders import attempted_import_ids, known_import_ids
from sis_watcher.batch.manifest import BatchState, Manifest
from sis_watcher.canvas.adoption import RECOVERY_MARGIN, Absent, Adopt, decide
from sis_watcher.canvas.retry import call_with_retries, refusal_is_transient
from sis_watcher.core.clock import parse_time
from sis_watcher.core.errors import CanvasError, CanvasUnavailable
from sis_watcher.core.logs import get_logger
from sis_watcher.pipeline.context import Pipeline

log = get_logger()


def record_import(manifest: Manifest, created: dict[str, Any], pipeline: Pipeline, *, adopted: bool) -> None:
    """Store Canvas's import id and first state, and move to `importing`."""
    manifest.canvas.import_id = int(created["id"])
    manifest.canvas.workflow_state = str(created.get("workflow_state"))
    progress = created.get("progress")
    manifest.canvas.progress = progress if isinstance(progress, int) else None
    manifest.canvas.created_at = str(created.get("created_at") or pipeline.now_text())
    manifest.upload.finished_at = pipeline.now_text()
    manifest.upload.adopted = adopted
    pipeline.advance(manifest, BatchState.IMPORTING, note=f"Canvas import {manifest.canvas.import_id}")


def zip_members(manifest: Manifest) -> list[tuple[str, int]]:
    return [(member.name, member.bytes) for member in manifest.zip.members] if manifest.zip else []


def recover(batch_dir: Path, manifest: Manifest, pipeline: Pipeline) -> bool:
    """
    Look for the import a previous POST may have created; adopt it and return True if found.

    Raise `CanvasUnavailable` (retried) while Canvas has not yet started imports that might be ours.
    """
    started_at = parse_time(manifest.upload.started_at or pipeline.now_text())
    since = started_at - RECOVERY_MARGIN
    client = pipeline.client
    imports = refusal_is_transient(lambda: client.list_imports(created_since=since))()
    user = refusal_is_transient(client.whoami)()
    known = known_import_ids(pipeline.config.folders, since=since, excluding=batch_dir)
    known |= attempted_import_ids(manifest)
    decision = decide(
        imports,
        members=zip_members(manifest),
        user_id=user.get("id") if isinstance(user.get("id"), int) else None,
        known_import_ids=known,
    )
    if isinstance(decision, Adopt):
        adopted = next(item for item in imports if item.get("id") == decision.import_id)
        log.warning(
            "upload.adopted", import_id=decision.import_id, duplicates=list(decision.duplicates) or None
        )
        if decision.duplicates:
            log.error(
                "upload.duplicate_detected",
                import_id=decision.import_id,
                duplicates=list(decision.duplicates),
            )
        record_import(manifest, adopted, pipeline, adopted=True)
        manifest.save(batch_dir)
        return True
    if isinstance(decision, Absent):
        log.info("upload.not_found_upload_again", looked_at=decision.looked_at)
        return False
    raise CanvasUnavailable(
        f"waiting for Canvas to start import(s) {list(decision.import_ids)} to tell whether one is ours",
        request_may_have_arrived=False,
    )


def attempt_upload(batch_dir: Path, manifest: Manifest, pipeline: Pipeline) -> None:
    """One try: recover if the last outcome is unknown, else record the start and POST."""
    if manifest.state is BatchState.UPLOADING and recover(batch_dir, manifest, pipeline):
        return
    zip_name = manifest.zip.name if manifest.zip else ""
    manifest.upload.started_at = pipeline.now_text()
    manifest.upload.attempts += 1
    pipeline.advance(manifest, BatchState.UPLOADING)
    manifest.save(batch_dir)
    log.info(
        "upload.started",
        attempt=manifest.upload.attempts,
        zip_bytes=manifest.zip.bytes if manifest.zip else None,
    )
    try:
        created = pipeline.client.create_import(
            batch_dir / zip_name, params=pipeline.config.import_options.as_params()
        )
    except CanvasUnavailable as error:
        if error.request_may_have_arrived:
            manifest.upload.unknown_outcomes += 1
            log.warning("upload.outcome_unknown", caused_by=str(error))
        else:
            pipeline.advance(manifest, BatchState.ZIPPED, note="upload did not reach Canvas")
        manifest.save(batch_dir)
        raise
    except CanvasError:
        pipeline.advance(manifest, BatchState.ZIPPED, note="Canvas refused the upload")
        manifest.save(batch_dir)
        raise
    record_import(manifest, created, pipeline, adopted=False)
    manifest.save(batch_dir)
    log.info(
        "upload.succeeded", import_id=manifest.canvas.import_id, workflow_state=manifest.canvas.workflow_state
    )


def upload(batch_dir: Path, manifest: Manifest, pipeline: Pipeline) -> None:
    """Take a zipped (or uploading) batch to `importing`, retrying transient failures."""
    pipeline.monitor.activity(f"uploading {manifest.batch_id}", batch_id=manifest.batch_id)
    call_with_retries(
        lambda: attempt_upload(batch_dir, manifest, pipeline),
        policy=pipeline.policy,
        stopping=pipeline.stopping,
        step="upload",
        on_retry=lambda _attempt: pipeline.monitor.retry_scheduled("upload"),
    )
