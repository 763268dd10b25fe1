"""A batch folder whose manifest cannot be read goes to failed/, where a person decides."""

from __future__ import annotations

from pathlib import Path

from sis_watcher.batch.folder import Batch
from sis_watcher.batch.manifest import MANIFEST_NAME, BatchState, FileEntry, Manifest
from sis_watcher.core.clock import Clock, isoformat
from sis_watcher.core.logs import get_logger

log = get_logger()
UNREADABLE_NAME = "manifest.unreadable.json"


def quarantine(batch_dir: Path, *, reason: str, clock: Clock) -> Batch:
    """
    Keep the unreadable manifest aside and fail the batch with a fresh one.

    Nobody can tell whether it reached Canvas, so the reason tells the admin to look there
    before `sis-watcher retry`.
    """
    if (batch_dir / MANIFEST_NAME).exists():
        (batch_dir / MANIFEST_NAME).replace(batch_dir / UNREADABLE_NAME)
        kept = f"; it was kept as {UNREADABLE_NAME}"
    else:
        kept = ""
    now = clock.now()
    files = sorted(
        path
        for path in batch_dir.iterdir()
        if path.is_file() and not path.name.startswith(".") and path.name != UNREADABLE_NAME
    )
    zip_only = len(files) == 1 and files[0].name.lower().endswith(".zip")
    manifest = Manifest(
        batch_id=batch_dir.name,
        state=BatchState.QUEUED,
        sealed_at=isoformat(now),
        source="zip" if zip_only else "csv",
        files=[FileEntry(name=path.name, bytes=path.stat().st_size) for path in files],
    )
    batch = Batch(batch_dir, manifest, clock=clock)
    batch.fail(
        f"{reason}{kept}. Check in Canvas whether this batch was imported before running `sis-watcher retry`"
    )
    log.error("batch.manifest_unreadable", reason=reason)
    return batch
