"""
One upload attempt's bookkeeping, shared by the direct POST and the `pre_attachment` flow.

`upload.py` and `pre_attachment.py` both use it. Each attempt is recorded
(`upload.started_at`, `attempts`, `method`) and saved *before* its create goes out; what a
failed create means for the batch is decided in `creating`; Canvas's import id, once known,
is saved with `record_import` (`adopt` for a `pre_attachment` one); `looked_up` lists what a
recovery looks among.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sis_watcher.batch.filing import attempted_import_ids, known_import_ids
from sis_watcher.batch.folder import Batch
from sis_watcher.batch.manifest import BatchState
from sis_watcher.canvas.adoption import RECOVERY_MARGIN
from sis_watcher.core.clock import parse_time
from sis_watcher.core.errors import CanvasError, CanvasUnavailable
from sis_watcher.core.logs import get_logger
from sis_watcher.pipeline.context import StageContext

log = get_logger()

Method = Literal["direct", "pre_attachment"]
RUNNING = frozenset({"created", "importing", "cleanup_batch"})


@dataclass(frozen=True, slots=True)
class LookedUp:
    """The imports created since an attempt began (less the margin), our user's id, ids already ours."""

    since: datetime
    imports: list[dict[str, Any]]
    user_id: int | None
    known: set[int]


def looked_up(batch: Batch, context: StageContext) -> LookedUp:
    """List Canvas's imports since this attempt began, and the ids another record already accounts for."""
    since = parse_time(batch.manifest.upload.started_at or batch.now_text()) - RECOVERY_MARGIN
    client = context.client
    imports = client.list_imports(created_since=since)
    user = client.whoami()
    known = known_import_ids(context.config.folders, since=since, excluding=batch.folder)
    known |= attempted_import_ids(batch.manifest) | set(batch.manifest.upload.abandoned_import_ids)
    user_id = user.get("id") if isinstance(user.get("id"), int) else None
    return LookedUp(since=since, imports=list(imports), user_id=user_id, known=known)


def abandoned_revived(batch: Batch, context: StageContext) -> list[int]:
    """
    Re-read every import this batch abandoned; log those no longer `aborted` (Canvas revived them).

    A file that reached storage for an import we aborted revives it in Canvas (docs/canvas.md
    §A1), which would run this batch twice. Logged as `upload.duplicate_detected` (an error);
    nothing can undo it. A revived import is running or has the zip's files; one still
    `initializing` (its abort failed; a later recovery repeats it) or one that ended without
    files (an instance without the flow imported the empty create) is not. Raises like
    `CanvasClient.get_import`.
    """
    revived = []
    for import_id in batch.manifest.upload.abandoned_import_ids:
        found = context.client.get_import(import_id)
        if found.get("workflow_state") in RUNNING or found.get("csv_attachments"):
            revived.append(import_id)
    if revived:
        log.error(
            "upload.duplicate_detected",
            import_id=batch.manifest.canvas.import_id or batch.manifest.upload.pending_import_id,
            duplicates=revived,
            reason="an abandoned pre_attachment import got its file after all",
        )
    return revived


def record_import(batch: Batch, context: StageContext, created: dict[str, Any], *, adopted: bool) -> None:
    """Check no abandoned import was revived, then store Canvas's import id and first state (`importing`)."""
    abandoned_revived(batch, context)
    manifest = batch.manifest
    manifest.canvas.import_id = int(created["id"])
    manifest.canvas.workflow_state = str(created.get("workflow_state"))
    progress = created.get("progress")
    manifest.canvas.progress = progress if isinstance(progress, int) else None
    manifest.canvas.created_at = str(created.get("created_at") or batch.now_text())
    manifest.upload.finished_at = batch.now_text()
    manifest.upload.adopted = adopted
    manifest.upload.pending_import_id = None
    manifest.upload.start_overs = 0
    batch.advance(BatchState.IMPORTING, note=f"Canvas import {manifest.canvas.import_id}")


def adopt(batch: Batch, context: StageContext, found: dict[str, Any], *, adopted: bool) -> None:
    """
    Record a `pre_attachment` import as ours (`importing`) after checking no abandoned one was revived.

    An import still `initializing` (storage's answer came before its capture) is recorded too:
    polling treats it as not finished, and `poll.give_up_after_seconds` counts from here.
    """
    record_import(batch, context, found, adopted=adopted)
    event = "upload.adopted" if adopted else "upload.succeeded"
    (log.warning if adopted else log.info)(
        event, import_id=found["id"], workflow_state=found.get("workflow_state"), method="pre_attachment"
    )


def import_params(batch: Batch, context: StageContext) -> dict[str, str]:
    """Canvas import options for this batch: the config's, plus a remaster asked for by `retry --remaster`."""
    params = context.config.import_options.as_params()
    if batch.manifest.upload.remaster:
        params["diffing_remaster_data_set"] = "true"
    return params


class UploadsPaused(Exception):
    """Uploads are paused on purpose (`context.may_send`): no new create was sent; the batch is `zipped`."""


def start_attempt(batch: Batch, context: StageContext, *, method: Method) -> None:
    """
    Record a new attempt by `method` and move to `uploading`, saved before anything is sent.

    Raise `UploadsPaused` instead when uploads may not be sent now (`sis-watcher pause`, a
    blackout), asked before every create, also one retried or following a recovery that
    found nothing in Canvas; the batch is put back to `zipped` (nothing of it is in Canvas).
    """
    if not context.may_send():
        if batch.state is BatchState.UPLOADING:
            batch.advance(BatchState.ZIPPED, note="uploads paused before a new attempt")
        raise UploadsPaused(batch.batch_id)
    upload = batch.manifest.upload
    upload.started_at = batch.now_text()
    upload.attempts += 1
    upload.method = method
    upload.pending_import_id = None
    upload.expires_at = upload.file_sending_at = upload.file_sent_at = None
    upload.confirming_at = upload.confirmation_url = None
    upload.storage_tells_canvas = None
    batch.advance(BatchState.UPLOADING)
    archive = batch.manifest.zip
    log.info(
        "upload.started",
        attempt=upload.attempts,
        zip_bytes=archive.bytes if archive else None,
        method=method,
    )


@contextmanager
def creating(batch: Batch) -> Iterator[None]:
    """
    Around a create: decide what its failure means, then re-raise it.

    Outcome unknown (Canvas may have made the import): the batch stays `uploading`, and the next
    attempt looks first. It never reached Canvas, or Canvas refused it: back to `zipped`.
    """
    manifest = batch.manifest
    try:
        yield
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
