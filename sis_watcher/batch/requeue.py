"""
`sis-watcher retry BATCH_ID`: put a failed batch back in the queue.

The batch keeps its id (and so its place: older batches go first). What the last attempt
learned is kept in the manifest's `previous_attempts`, and Canvas's last errors file is renamed
`errors.attempt-N.csv`, so nothing is lost. The originals are checked and zipped again, so a
file corrected by hand inside `failed/<batch-id>/` is what gets sent. `--force` skips the shrink
guard for this batch. `--remaster` sends this one attempt with
`diffing_remaster_data_set=true` (`upload.remaster`; docs/canvas.md §A4), the remedy Canvas's
"A remaster is required" failure names. A rollback record (`sis-watcher rollback` of the failed
attempt) goes with the attempt into `previous_attempts`: the new attempt is not rolled back.
A stale request left beside the filed batch (an abort, a decision) does not go back with it.
Safe while the daemon runs: the worker picks the batch up on its own.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sis_watcher.batch.filing import NOT_FILED
from sis_watcher.batch.ids import names_a_folder
from sis_watcher.batch.manifest import (
    BatchState,
    CanvasRecord,
    Manifest,
    ManifestUnreadable,
    Outcome,
    UploadRecord,
    load_manifest,
)
from sis_watcher.config.settings import FolderSettings
from sis_watcher.core.clock import isoformat
from sis_watcher.core.durable import move_dir
from sis_watcher.core.errors import RetryRefused


def archive_attempt(batch_dir: Path, manifest: Manifest, *, now: datetime) -> None:
    """Keep the last attempt's facts and files aside, and reset the batch to `queued`."""
    number = len(manifest.previous_attempts) + 1
    report = manifest.canvas.errors_report
    if report and (batch_dir / report).exists():
        kept = f"errors.attempt-{number}.csv"
        (batch_dir / report).replace(batch_dir / kept)
        report = kept
    manifest.previous_attempts.append(
        {
            "outcome": manifest.outcome.model_dump(mode="json"),
            "canvas": {**manifest.canvas.model_dump(mode="json"), "errors_report": report},
            "upload": manifest.upload.model_dump(mode="json"),
            "validation": manifest.validation.model_dump(mode="json") if manifest.validation else None,
            **({"rollback": manifest.rollback.model_dump(mode="json")} if manifest.rollback else {}),
            "retried_at": isoformat(now),
        }
    )
    manifest.outcome = Outcome()
    manifest.canvas = CanvasRecord()
    manifest.upload = UploadRecord()
    manifest.validation = None
    manifest.rollback = None
    if manifest.zip is not None and not manifest.zip.dropped_as_is:
        (batch_dir / manifest.zip.name).unlink(missing_ok=True)
    manifest.zip = None


def retry_batch(
    folders: FolderSettings, batch_id: str, *, force: bool, now: datetime, remaster: bool = False
) -> Path:
    """Move `failed/<batch_id>` back to the queue (`remaster`: sent as a remaster); return its new folder."""
    if not names_a_folder(batch_id):
        raise RetryRefused(f"{batch_id!r} is not a batch id")
    source = folders.failed / batch_id
    if not source.is_dir():
        where = "done/" if (folders.done / batch_id).is_dir() else None
        detail = (
            f"it is in {where}, and only failed batches can be retried"
            if where
            else "no such batch in failed/"
        )
        raise RetryRefused(f"cannot retry {batch_id}: {detail}")
    target = folders.queue / batch_id
    if target.exists():
        raise RetryRefused(f"cannot retry {batch_id}: {target} already exists")
    try:
        manifest = load_manifest(source)
    except ManifestUnreadable as error:
        raise RetryRefused(f"cannot retry {batch_id}: {error}") from None
    if manifest.state is not BatchState.QUEUED:
        archive_attempt(source, manifest, now=now)
        manifest.force = force
        manifest.upload.remaster = remaster
        notes = ["retried"]
        notes += ["with --force (shrink guard skipped)"] if force else []
        notes += ["with --remaster (diffing_remaster_data_set=true)"] if remaster else []
        note = " ".join(notes)
        manifest.move_to(BatchState.QUEUED, at=isoformat(now), note=note)
        manifest.save(source)
    for name in NOT_FILED:  # one a race or an older version left: it belongs to the attempt filed
        (source / name).unlink(missing_ok=True)
    move_dir(source, target)
    return target
