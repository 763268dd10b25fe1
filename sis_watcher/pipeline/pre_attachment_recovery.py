"""
Recovering an interrupted `pre_attachment` attempt (docs/canvas.md §A1): adopt, confirm, wait or abort.

After a crash or an unknown outcome, `pre_attachment.py`'s manifest marks tell what the attempt
left, judged with the recorded pending import's state:

- an import that **left `initializing`** got the file: it is ours, adopted and polled;
- one **still `initializing` whose body never went out whole** (`file_sent_at` unset: never
  sent, or cut short by a crash or a stop with only `file_sending_at`) is aborted at once
  (`upload.orphan_aborted`) and its id goes to `abandoned_import_ids`, which no recovery ever
  adopts: a storage host never keeps a multipart body cut short;
- one waiting for an S3-style confirmation whose URL was recorded (`confirmation_url`, on
  canvas.base_url's origin, checked again before the token goes with it) is confirmed again:
  Canvas's empty 400 means the first one took effect; then it is adopted and polled. S3 kept
  it but no confirmation began: no one else can attach it, aborted at once;
- one **still `initializing` after the whole body was sent** otherwise is waited for
  (`upload.waiting_for_file`) until SENT_GRACE after the upload's expiry, then aborted. Canvas's
  `file_upload_success_callback` does not look at the import's state: storage that got the
  whole body and tells Canvas late (inst-fs's capture after our timeout or crash) revives an
  aborted import, which would then run beside the next attempt's;
- a create whose answer was lost left an import we know no id of: the imports created since
  the attempt began that are still `initializing`, made by our user and recorded by no batch,
  are those orphans, and are aborted (as is the one Canvas's 400 early-return trap leaves
  behind a refused create). Another client of the same user starting a pre_attachment upload
  in that window would have its import aborted too.

Before an import is recorded as ours, every abandoned one is read again: one Canvas revived
after all is logged `upload.duplicate_detected`.
"""

from __future__ import annotations

from datetime import timedelta

from sis_watcher.batch.folder import Batch
from sis_watcher.canvas.file_upload import DEFAULT_UPLOAD_LIFETIME, confirm_upload, on_canvas
from sis_watcher.canvas.retry import call_with_retries
from sis_watcher.core.clock import isoformat, parse_time
from sis_watcher.core.errors import CanvasUnavailable, LookupRefused
from sis_watcher.core.logs import get_logger
from sis_watcher.pipeline.abandon import WAITING, abandon, orphans
from sis_watcher.pipeline.attempts import adopt
from sis_watcher.pipeline.context import StageContext

log = get_logger()

# How long after the upload's expiry a file sent to storage may still reach its import: an
# upload begun before the expiry, its body streamed, stored, then told to Canvas.
SENT_GRACE = timedelta(minutes=15)


def recover(batch: Batch, context: StageContext) -> bool:
    """
    Adopt the import an interrupted pre_attachment attempt left (True), or abort it (False).

    After a crash or an unknown outcome: an import that got the file is adopted; one whose file
    may still reach it is waited for; otherwise what the attempt left is aborted and the caller
    starts over. Raise `CanvasUnavailable` while waiting or when Canvas cannot be asked (the
    stage retries), `UploadRejected` after too many fresh starts.
    """
    upload = batch.manifest.upload
    client = context.client
    if upload.pending_import_id is not None:
        import_id = upload.pending_import_id
        found = client.get_import(import_id)
        if found.get("workflow_state") != WAITING:
            adopt(batch, context, found, adopted=True)
            return True
        if upload.file_sent_at is None:  # never sent whole (a crash or a stop): not counted
            reason = "its file was cut short" if upload.file_sending_at else "its file was never sent"
            abandon(batch, context, import_id, reason=reason)
            return False
        url = upload.confirmation_url if upload.storage_tells_canvas is False else None
        if url and on_canvas(client, url) and reconfirmed(batch, context, import_id):
            return True
        if upload.storage_tells_canvas is not False or upload.confirming_at:
            wait_for_file(batch, context, import_id)
        # Not counted toward MAX_START_OVERS: the outcome was unknown (a lost answer, a crash),
        # which is retried like any outage; the cap is for storage that says no.
        abandon(batch, context, import_id, reason="it never got its file")
        return False
    for import_id in upload.abandoned_import_ids:  # an abort a crash may have cut short
        client.abort_import(import_id)
    for orphan in orphans(batch, context):
        abandon(batch, context, orphan, reason="a create whose answer was lost")
    return False


def reconfirmed(batch: Batch, context: StageContext, import_id: int) -> bool:
    """
    Send the recorded S3-style confirmation again and adopt the import (True).

    A crash or an unknown outcome during the confirmation left it undecided; Canvas's empty 400
    to this repeat means the first one took effect. False when Canvas refuses it otherwise (the
    upload is gone): the caller waits as for any sent file.
    """
    url = batch.manifest.upload.confirmation_url
    assert url is not None  # noqa: S101 - checked by `recover`
    log.info("upload.confirming", import_id=import_id, again=True)
    client = context.client
    try:
        call_with_retries(
            lambda: confirm_upload(client, url, repeat=True),
            policy=context.policy,
            stopping=context.stopping,
            step="upload",
        )
    except LookupRefused:
        return False
    adopt(batch, context, client.get_import(import_id), adopted=True)
    return True


def wait_for_file(batch: Batch, context: StageContext, import_id: int) -> None:
    """Raise `CanvasUnavailable` (wait) until SENT_GRACE after the upload's expiry; then return."""
    upload = batch.manifest.upload
    sent_at = parse_time(upload.file_sent_at or batch.now_text())
    expires_at = parse_time(upload.expires_at) if upload.expires_at else sent_at + DEFAULT_UPLOAD_LIFETIME
    deadline = expires_at + SENT_GRACE
    if context.clock.now() < deadline:
        log.info("upload.waiting_for_file", import_id=import_id, until=isoformat(deadline))
        raise CanvasUnavailable(
            f"import {import_id} may still get the zip sent to file storage; "
            f"waiting until {isoformat(deadline)}",
            request_may_have_arrived=False,
        )
