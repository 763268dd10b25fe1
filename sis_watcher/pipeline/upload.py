"""
Stage: upload the zip (zipped -> uploading -> importing), never twice.

`upload.started_at` is written to the manifest *before* each POST. If the POST fails in a way
that proves Canvas never got it (no connection, throttled), the batch goes back to `zipped`.
If the outcome is unknown (the body went out and no answer came back, a gateway 5xx, or a crash
in between), the batch stays `uploading`, and the next attempt first asks Canvas which imports
were created since then (`canvas.adoption.decide`): ours is adopted instead of uploaded again.
Canvas has no idempotency key (docs/canvas.md §2.6), so this look-up is the
only guard against a second import of the same batch.
"""

from __future__ import annotations

from typing import Any

from sis_watcher.batch.filing import attempted_import_ids, known_import_ids
from sis_watcher.batch.folder import Batch
from sis_watcher.batch.manifest import BatchState
from sis_watcher.canvas.adoption import RECOVERY_MARGIN, Absent, Adopt, decide
from sis_watcher.canvas.retry import call_with_retries
from sis_watcher.core.clock import parse_time
from sis_watcher.core.errors import CanvasError, CanvasUnavailable
from sis_watcher.core.logs import get_logger
from sis_watcher.pipeline.context import StageContext

log = get_logger()


def record_import(batch: Batch, created: dict[str, Any], *, adopted: bool) -> None:
    """Store Canvas's import id and first state, and move to `importing` (saved)."""
    manifest = batch.manifest
    manifest.canvas.import_id = int(created["id"])
    manifest.canvas.workflow_state = str(created.get("workflow_state"))
    progress = created.get("progress")
    manifest.canvas.progress = progress if isinstance(progress, int) else None
    manifest.canvas.created_at = str(created.get("created_at") or batch.now_text())
    manifest.upload.finished_at = batch.now_text()
    manifest.upload.adopted = adopted
    batch.advance(BatchState.IMPORTING, note=f"Canvas import {manifest.canvas.import_id}")


def import_params(batch: Batch, context: StageContext) -> dict[str, str]:
    """Canvas import options for this batch: the config's, plus a remaster asked for by `retry --remaster`."""
    params = context.config.import_options.as_params()
    if batch.manifest.upload.remaster:
        params["diffing_remaster_data_set"] = "true"
    return params


def zip_members(batch: Batch) -> list[tuple[str, int]]:
    archive = batch.manifest.zip
    return [(member.name, member.bytes) for member in archive.members] if archive else []


def recover(batch: Batch, context: StageContext) -> bool:
    """
    Look for the import a previous POST may have created; adopt it and return True if found.

    Raise `CanvasUnavailable` (retried) while Canvas has not yet started imports that might be ours.
    """
    started_at = parse_time(batch.manifest.upload.started_at or batch.now_text())
    since = started_at - RECOVERY_MARGIN
    client = context.client
    imports = client.list_imports(created_since=since)
    user = client.whoami()
    known = known_import_ids(context.config.folders, since=since, excluding=batch.folder)
    known |= attempted_import_ids(batch.manifest)
    decision = decide(
        imports,
        members=zip_members(batch),
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
        record_import(batch, adopted, adopted=True)
        return True
    if isinstance(decision, Absent):
        log.info("upload.not_found_upload_again", looked_at=decision.looked_at)
        return False
    raise CanvasUnavailable(
        f"waiting for Canvas to start import(s) {list(decision.import_ids)} to tell whether one is ours",
        request_may_have_arrived=False,
    )


def attempt_upload(batch: Batch, context: StageContext) -> None:
    """One try: recover if the last outcome is unknown, else record the start and POST."""
    if batch.state is BatchState.UPLOADING and recover(batch, context):
        return
    manifest = batch.manifest
    zip_name = manifest.zip.name if manifest.zip else ""
    manifest.upload.started_at = batch.now_text()
    manifest.upload.attempts += 1
    batch.advance(BatchState.UPLOADING)
    log.info(
        "upload.started",
        attempt=manifest.upload.attempts,
        zip_bytes=manifest.zip.bytes if manifest.zip else None,
    )
    try:
        created = context.client.create_import(
            batch.path(zip_name), params=import_params(batch, context)
        )
    except CanvasUnavailable as error:
        if error.request_may_have_arrived:
            manifest.upload.unknown_outcomes += 1
            batch.save()
            log.warning("upload.outcome_unknown", caused_by=str(error))
        else:
            batch.advance(BatchState.ZIPPED, note="upload did not reach Canvas")
        raise
    except CanvasError:
        batch.advance(BatchState.ZIPPED, note="Canvas refused the upload")
        raise
    record_import(batch, created, adopted=False)
    log.info(
        "upload.succeeded", import_id=manifest.canvas.import_id, workflow_state=manifest.canvas.workflow_state
    )


def upload(batch: Batch, context: StageContext) -> None:
    """Take a zipped (or uploading) batch to `importing`, retrying transient failures."""
    context.monitor.activity(f"uploading {batch.batch_id}", batch_id=batch.batch_id)
    call_with_retries(
        lambda: attempt_upload(batch, context),
        policy=context.policy,
        stopping=context.stopping,
        step="upload",
        on_retry=lambda _attempt: context.monitor.retry_scheduled("upload"),
    )
