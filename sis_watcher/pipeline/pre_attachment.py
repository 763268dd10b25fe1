"""
The zip by Canvas's `pre_attachment` flow (docs/canvas.md §A1), never twice.

    create (initializing)  ->  POST the zip to storage  ->  [confirm at Canvas]  ->  importing

Each step is saved in the manifest before it starts (`upload.method`, then
`pending_import_id` and `expires_at` as soon as Canvas answers the create, then
`file_sending_at`, then `confirming_at` with `confirmation_url`), and `file_sent_at` once the
body's last byte went out, before storage's answer is awaited. The preflight itself (the upload
URL and its signed parameters, a short-lived upload credential) is kept in memory only, so
after a crash or an unknown outcome the upload is never resumed: `pre_attachment_recovery.py`
judges what the attempt left (`recover`).

Storage that cannot be reached is tried again with the same preflight until it expires; an
upload that expired before its POST and one storage refuses (4xx) are abandoned and the batch
goes back to `zipped`; after MAX_START_OVERS such fresh starts in a row the batch fails with
storage's words. A preflight that cannot be used fails the batch (plain http to a storage
host: the zip is not sent unencrypted) or, malformed or missing (an instance without the
flow), sends it directly: `upload.pre_attachment_unsupported`, logged once, and every later
zip of this daemon run goes direct. Storage's 3xx is confirmed with the token, retried on the
stage's policy; a repeated confirmation's empty 400 means the first one took effect. A stop
(SIGTERM) during the storage POST cuts the body short: `file_sent_at` stays unset.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from pathlib import Path

from sis_watcher.batch.folder import Batch
from sis_watcher.batch.manifest import BatchState
from sis_watcher.canvas.file_upload import (
    Confirm,
    Preflight,
    Refused,
    StorageAnswer,
    Unusable,
    confirm_upload,
    create_with_pre_attachment,
    send_to_storage,
)
from sis_watcher.canvas.retry import OutcomeUnknown, call_with_retries, until_it_may_have_arrived
from sis_watcher.core.clock import isoformat
from sis_watcher.core.errors import CanvasUnavailable, UploadRejected
from sis_watcher.core.logs import get_logger
from sis_watcher.pipeline.abandon import abandon, abort_refused_orphans, counted_start_over
from sis_watcher.pipeline.attempts import adopt, creating, import_params, start_attempt
from sis_watcher.pipeline.context import StageContext
from sis_watcher.pipeline.pre_attachment_recovery import SENT_GRACE, recover

__all__ = ["SENT_GRACE", "recover", "send"]

log = get_logger()


def send(batch: Batch, context: StageContext) -> bool:
    """
    Upload the zip by `pre_attachment` and move to `importing`; return False to send it directly.

    Raise `CanvasUnavailable` (the stage retries; the batch is `uploading` when the outcome is
    unknown, else `zipped`), `UploadRejected` when the batch cannot go this way (a refused
    create, plain http storage, too many fresh starts), `Stopping` on shutdown.
    """
    archive = batch.manifest.zip
    assert archive is not None  # noqa: S101 - a zipped batch has its zip
    zip_path = batch.path(archive.name)
    start_attempt(batch, context, method="pre_attachment")
    try:
        with creating(batch):
            created, preflight = create_with_pre_attachment(
                context.client,
                name=archive.name,
                size=zip_path.stat().st_size,
                params=import_params(batch, context),
                now=context.clock.now,
            )
    except UploadRejected:
        abort_refused_orphans(batch, context)
        raise
    if isinstance(preflight, Unusable):
        return unusable(batch, context, int(created["id"]), preflight)
    upload = batch.manifest.upload
    upload.pending_import_id = int(created["id"])
    upload.expires_at = isoformat(preflight.expires_at)
    upload.storage_tells_canvas = preflight.storage_tells_canvas
    batch.save()
    log.info(
        "upload.pre_attachment_created", import_id=upload.pending_import_id, expires_at=upload.expires_at
    )
    deliver(batch, context, preflight, zip_path)
    return True


def start_over(batch: Batch, context: StageContext, import_id: int, *, reason: str) -> CanvasUnavailable:
    """Abort an upload nothing of which was kept, put the batch back to `zipped`; return what to raise."""
    counted_start_over(batch, context, import_id, reason=reason)
    batch.advance(BatchState.ZIPPED, note=reason)
    return CanvasUnavailable(reason, request_may_have_arrived=False)


def body_sent(batch: Batch) -> None:
    """Record that the body's last byte went out (saved before storage's answer is awaited)."""
    batch.manifest.upload.file_sent_at = batch.now_text()
    batch.save()


def reach_storage(
    context: StageContext, preflight: Preflight, zip_path: Path, *, on_sent: Callable[[], None]
) -> StorageAnswer:
    """
    Send the zip, again with the same preflight while storage cannot be reached, until it expires.

    Raise `OutcomeUnknown` once the body may have arrived, the last `CanvasUnavailable` when the
    upload expires first. `on_sent` is called when a try's whole body went out.
    """

    def once() -> StorageAnswer:
        return send_to_storage(context.client, preflight, zip_path, on_sent=on_sent)

    left = (preflight.expires_at - context.clock.now()).total_seconds()
    policy = dataclasses.replace(
        context.policy, max_elapsed_seconds=max(0.0, min(left, context.policy.max_elapsed_seconds))
    )
    return call_with_retries(
        until_it_may_have_arrived(once), policy=policy, stopping=context.stopping, step="upload"
    )


def deliver(batch: Batch, context: StageContext, preflight: Preflight, zip_path: Path) -> None:
    """POST the zip to storage, confirm it if storage asks, and record the import (`importing`)."""
    upload = batch.manifest.upload
    import_id = upload.pending_import_id
    assert import_id is not None  # noqa: S101 - saved by `send` before this
    if context.clock.now() >= preflight.expires_at:
        raise start_over(
            batch, context, import_id, reason="the pre_attachment upload expired before it was sent"
        )
    upload.file_sending_at, upload.file_sent_at = batch.now_text(), None
    batch.save()
    log.info("upload.file_sending", import_id=import_id, zip_bytes=zip_path.stat().st_size)
    try:
        answer = reach_storage(context, preflight, zip_path, on_sent=lambda: body_sent(batch))
    except OutcomeUnknown as unknown:
        upload.unknown_outcomes += 1
        batch.save()
        log.warning("upload.outcome_unknown", caused_by=str(unknown), import_id=import_id)
        raise unknown.error from None
    except CanvasUnavailable as error:
        raise start_over(
            batch, context, import_id, reason=f"the zip did not reach file storage ({error})"
        ) from error
    if isinstance(answer, Refused):
        reason = f"file storage refused the upload ({answer.message})"
        if answer.permanent:
            abandon(batch, context, import_id, reason=reason)
            raise UploadRejected(reason)
        raise start_over(batch, context, import_id, reason=reason)
    if isinstance(answer, Confirm):
        confirm(batch, context, answer, import_id)
    adopt(batch, context, context.client.get_import(import_id), adopted=False)


def confirm(batch: Batch, context: StageContext, answer: Confirm, import_id: int) -> None:
    """Confirm a stored upload at Canvas, retried; a repeat's 400 means an earlier try took effect."""
    batch.manifest.upload.confirming_at = batch.now_text()
    batch.manifest.upload.confirmation_url = answer.url
    batch.save()
    log.info("upload.confirming", import_id=import_id)
    tries = itertools.count(1)
    client = context.client
    if not call_with_retries(
        lambda: confirm_upload(client, answer.url, repeat=next(tries) > 1),
        policy=context.policy,
        stopping=context.stopping,
        step="upload",
    ):
        raise start_over(batch, context, import_id, reason="Canvas had no pending upload to confirm")


def unusable(batch: Batch, context: StageContext, import_id: int, preflight: Unusable) -> bool:
    """
    Drop the import of a create whose preflight cannot be used; return False to send directly.

    Plain http storage fails the batch (`UploadRejected`). Otherwise this Canvas has no usable
    flow: remembered for this daemon run, logged once (`uses_pre_attachment` reads the flag).
    An import already final gets a 404 from the abort, which `abandon` logs as such.
    """
    if not preflight.go_direct:
        abandon(batch, context, import_id, reason=preflight.reason)
        raise UploadRejected(preflight.reason)
    context.pre_attachment.unsupported = True
    log.warning("upload.pre_attachment_unsupported", import_id=import_id, reason=preflight.reason)
    abandon(batch, context, import_id, reason=preflight.reason)
    return False
