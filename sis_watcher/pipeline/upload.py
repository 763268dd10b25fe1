"""
Stage: upload the zip (zipped -> uploading -> importing), never twice.

Two ways to send it (README "Large uploads"): a direct POST of the zip to `sis_imports`, or,
for zips above `upload.direct_max_bytes` (or always, by `upload.method`), Canvas's
`pre_attachment` file-upload flow (`pre_attachment.py`), which need not finish within Canvas's
one-minute request timeout. An instance without that flow gets direct POSTs.

Direct: `upload.started_at` is written to the manifest *before* each POST. If the POST fails in
a way that proves Canvas never got it (no connection, throttled), the batch goes back to
`zipped`. If the outcome is unknown (the body went out and no answer came back, a gateway 5xx,
or a crash in between), the batch stays `uploading`, and the next attempt first asks Canvas
which imports were created since then (`canvas.adoption.decide`): ours is adopted instead of
uploaded again. Canvas has no idempotency key (docs/canvas.md §2.6), so this look-up is the
only guard against a second import of the same batch. The attempt's method is in the manifest,
so a restart recovers the way the interrupted attempt went, whatever the config says now.
Before an import is recorded, any an earlier `pre_attachment` attempt abandoned is read again
(`attempts.abandoned_revived`: one Canvas revived is a duplicate, logged).
"""

from __future__ import annotations

from sis_watcher.batch.folder import Batch
from sis_watcher.batch.manifest import BatchState
from sis_watcher.canvas.adoption import Absent, Adopt, decide
from sis_watcher.canvas.retry import call_with_retries
from sis_watcher.core.errors import CanvasUnavailable
from sis_watcher.core.logs import get_logger
from sis_watcher.pipeline import pre_attachment
from sis_watcher.pipeline.attempts import (
    creating,
    import_params,
    looked_up,
    record_import,
    start_attempt,
)
from sis_watcher.pipeline.context import StageContext

__all__ = ["attempt_upload", "import_params", "record_import", "recover", "upload", "uses_pre_attachment"]

log = get_logger()


def zip_members(batch: Batch) -> list[tuple[str, int]]:
    archive = batch.manifest.zip
    return [(member.name, member.bytes) for member in archive.members] if archive else []


def uses_pre_attachment(batch: Batch, context: StageContext) -> bool:
    """Return True when this batch goes by `pre_attachment` (the config's method and the zip's size)."""
    settings = context.config.upload
    if context.pre_attachment.unsupported or settings.method == "direct":
        return False
    archive = batch.manifest.zip
    return settings.method == "pre_attachment" or (
        archive is not None and archive.bytes > settings.direct_max_bytes
    )


def recover(batch: Batch, context: StageContext) -> bool:
    """
    Look for the import a previous direct POST may have created; adopt it and return True if found.

    Raise `CanvasUnavailable` (retried) while Canvas has not yet started imports that might be ours.
    """
    found = looked_up(batch, context)
    decision = decide(
        found.imports,
        members=zip_members(batch),
        user_id=found.user_id,
        known_import_ids=found.known,
        now=context.clock.now(),
    )
    if isinstance(decision, Adopt):
        adopted = next(item for item in found.imports if item.get("id") == decision.import_id)
        log.warning(
            "upload.adopted", import_id=decision.import_id, duplicates=list(decision.duplicates) or None
        )
        if decision.duplicates:
            log.error(
                "upload.duplicate_detected",
                import_id=decision.import_id,
                duplicates=list(decision.duplicates),
            )
        record_import(batch, context, adopted, adopted=True)
        return True
    if isinstance(decision, Absent):
        log.info("upload.not_found_upload_again", looked_at=decision.looked_at)
        return False
    raise CanvasUnavailable(
        f"waiting for Canvas to start import(s) {list(decision.import_ids)} to tell whether one is ours",
        request_may_have_arrived=False,
    )


def post_directly(batch: Batch, context: StageContext) -> None:
    """Record the start, then POST the zip as the create's body."""
    manifest = batch.manifest
    zip_name = manifest.zip.name if manifest.zip else ""
    start_attempt(batch, context, method="direct")
    with creating(batch):
        created = context.client.create_import(batch.path(zip_name), params=import_params(batch, context))
    record_import(batch, context, created, adopted=False)
    log.info(
        "upload.succeeded", import_id=manifest.canvas.import_id, workflow_state=manifest.canvas.workflow_state
    )


def attempt_upload(batch: Batch, context: StageContext) -> None:
    """One try: recover the way the last attempt went if its outcome is unknown, else send."""
    if batch.state is BatchState.UPLOADING:
        if batch.manifest.upload.method == "pre_attachment":
            if pre_attachment.recover(batch, context):
                return
        elif recover(batch, context):
            return
    if uses_pre_attachment(batch, context) and pre_attachment.send(batch, context):
        return
    post_directly(batch, context)


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
