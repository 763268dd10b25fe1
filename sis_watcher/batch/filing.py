"""
Filing a finished batch: one rename of its folder into done/ or failed/, never overwriting.

Also what filed batches tell later ones: the Canvas import ids they recorded, so that adopting
an import of unknown outcome never adopts another batch's import.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sis_watcher.batch.decisions import DECISION_NAME
from sis_watcher.batch.ids import batch_folders
from sis_watcher.batch.manifest import (
    BatchState,
    Manifest,
    ManifestUnreadable,
    load_manifest,
)
from sis_watcher.config.settings import FolderSettings
from sis_watcher.core.durable import move_dir, remove_dir, remove_temp_files

ABORT_NAME = ".abort.json"  # `sis-watcher abort`'s request beside a batch in flight (pipeline.abort)
NOT_FILED = (DECISION_NAME, ABORT_NAME)  # requests to the daemon: carried out by the time a batch is final


def file_away(batch_dir: Path, manifest: Manifest, *, folders: FolderSettings) -> Path:
    """
    Move a finished batch folder into done/ or failed/ (by its state); return the new path.

    If a previous attempt already copied it there (across filesystems), the queue copy goes.
    If another folder of that name is there, this one is filed as `<id>.2` (then `.3`, ...):
    nothing is overwritten and the queue is not blocked. A request left beside the batch
    (`NOT_FILED`) is removed first: the manifest already records what it did, and a crash after
    that only files the batch again.
    """
    for name in NOT_FILED:
        (batch_dir / name).unlink(missing_ok=True)
    root = folders.done if manifest.state is BatchState.DONE else folders.failed
    target = root / batch_dir.name
    suffix = 1
    while target.exists():
        try:
            existing = load_manifest(target)
        except ManifestUnreadable:
            existing = None
        if existing is not None and existing.history == manifest.history:
            remove_dir(batch_dir)
            return target
        suffix += 1
        target = root / f"{batch_dir.name}.{suffix}"
    remove_temp_files(batch_dir)
    root.mkdir(parents=True, exist_ok=True)  # a done/ or failed/ removed by hand comes back
    move_dir(batch_dir, target)
    return target


def known_import_ids(folders: FolderSettings, *, since: datetime, excluding: Path | None = None) -> set[int]:
    """
    Return the Canvas import ids our batches recorded, among batches touched since `since`.

    Any batch that recorded an import created after `since` wrote its manifest after that, so
    only folders modified since then are read.
    """
    threshold = since.timestamp() - 1
    found: set[int] = set()
    for root in (folders.queue, folders.done, folders.failed):
        for batch_dir in batch_folders(root):
            if batch_dir == excluding:
                continue
            try:
                if batch_dir.stat().st_mtime < threshold:
                    continue
                manifest = load_manifest(batch_dir)
            except (OSError, ManifestUnreadable):
                continue
            found |= attempted_import_ids(manifest)
    return found


def attempted_import_ids(manifest: Manifest) -> set[int]:
    """Return the import ids a batch has recorded: the current one and those of earlier attempts."""
    ids = {manifest.canvas.import_id} if manifest.canvas.import_id is not None else set()
    for attempt in manifest.previous_attempts:
        canvas = attempt.get("canvas")
        if isinstance(canvas, dict) and isinstance(canvas.get("import_id"), int):
            ids.add(canvas["import_id"])
    return ids
