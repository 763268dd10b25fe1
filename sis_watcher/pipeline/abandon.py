"""
Giving up on a `pre_attachment` import: abort it, count the fresh start, find the orphans.

`pre_attachment.py` calls these. An abandoned import's id is saved in `abandoned_import_ids`
before its abort goes out, so no recovery ever adopts it; MAX_START_OVERS abandoned attempts in
a row fail the batch (`UploadRejected`) rather than make import after import. Orphans are the
imports a lost or refused create may have left: created since the attempt began, still
`initializing`, made by our user and recorded by no batch.
"""

from __future__ import annotations

from sis_watcher.batch.folder import Batch
from sis_watcher.canvas.adoption import made_by
from sis_watcher.core.errors import CanvasUnavailable, UploadRejected
from sis_watcher.core.logs import get_logger
from sis_watcher.pipeline.attempts import looked_up
from sis_watcher.pipeline.context import StageContext

log = get_logger()

WAITING = "initializing"
# Fresh uploads abandoned in a row (expired, refused, unreachable storage) before the batch fails.
MAX_START_OVERS = 3


def abandon(batch: Batch, context: StageContext, import_id: int, *, reason: str) -> None:
    """Record `import_id` as never ours to run (saved first), then abort it in Canvas."""
    upload = batch.manifest.upload
    upload.abandoned_import_ids.append(import_id)
    if upload.pending_import_id == import_id:
        upload.pending_import_id = None
    batch.save()
    aborted = context.client.abort_import(import_id)
    log.warning("upload.orphan_aborted", import_id=import_id, reason=reason, already_final=aborted is None)


def counted_start_over(batch: Batch, context: StageContext, import_id: int, *, reason: str) -> None:
    """Abandon `import_id` as one more fresh start; raise `UploadRejected` once there were too many."""
    abandon(batch, context, import_id, reason=reason)
    upload = batch.manifest.upload
    upload.start_overs += 1
    batch.save()
    if upload.start_overs >= MAX_START_OVERS:
        raise UploadRejected(f"{reason} ({upload.start_overs} fresh pre_attachment uploads in a row)")


def abort_refused_orphans(batch: Batch, context: StageContext) -> None:
    """After a refused create, abort the `initializing` import Canvas's 400 early return may have left."""
    try:
        for orphan in orphans(batch, context):
            abandon(batch, context, orphan, reason="Canvas refused its create but kept the import")
    except CanvasUnavailable as error:
        log.warning("upload.orphan_lookup_failed", caused_by=str(error))


def orphans(batch: Batch, context: StageContext) -> list[int]:
    """Return the imports still `initializing` a lost create answer may have left: ours, unrecorded."""
    found = looked_up(batch, context)
    return sorted(
        item["id"]
        for item in found.imports
        if isinstance(item.get("id"), int)
        and item["id"] not in found.known
        and item.get("workflow_state") == WAITING
        and made_by(item, found.user_id)
    )
