"""
Repair after a crash: finish what a crash left in queue/ before intake or the worker go on.

Files already moved into a batch stay, files still in the drop folder (unchanged since planning)
are moved, files that vanished are noted, an empty folder is removed, and a folder with files but
no manifest gets one made from its files.
"""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

from sis_watcher.batch.ids import SEALING_PREFIX, batch_folders, staged_folders
from sis_watcher.batch.manifest import (
    MANIFEST_NAME,
    BatchState,
    FileEntry,
    Manifest,
    ManifestUnreadable,
    load_manifest,
)
from sis_watcher.batch.sealing import finish_sealing, publish
from sis_watcher.config.settings import FolderSettings
from sis_watcher.core.clock import isoformat
from sis_watcher.core.durable import fsync_dir, remove_temp_files


def rebuild_manifest(batch_dir: Path, *, now: datetime) -> Manifest | None:
    """
    Make a manifest for a batch folder that has none (a crash before its first write).

    Files found are kept as a queued batch; an empty folder is removed (returns None).
    """
    remove_temp_files(batch_dir)
    files = sorted(path for path in batch_dir.iterdir() if path.is_file() and not path.name.startswith("."))
    if not files:
        shutil.rmtree(batch_dir)
        return None
    zips = [path for path in files if path.name.lower().endswith(".zip")]
    manifest = Manifest(
        batch_id=batch_dir.name,
        state=BatchState.QUEUED,
        sealed_at=isoformat(now),
        source="zip" if len(files) == 1 and zips else "csv",
        files=[FileEntry(name=path.name, bytes=path.stat().st_size) for path in files],
    )
    manifest.move_to(BatchState.QUEUED, at=isoformat(now), note="manifest rebuilt from the folder's files")
    manifest.save(batch_dir)
    return manifest


def open_batch(batch_dir: Path, *, drop: Path, now: datetime) -> Manifest | None:
    """
    Return the manifest of a queued batch, repairing what a crash left behind.

    Removes stray temp files and finishes a half-done seal. Returns None when the folder turned
    out empty and was removed. Raise `ManifestUnreadable` for a folder with files but no readable
    manifest: nobody can tell whether it reached Canvas, so it is not uploaded blindly.
    """
    remove_temp_files(batch_dir)
    try:
        manifest = load_manifest(batch_dir)
    except ManifestUnreadable:
        if not (batch_dir / MANIFEST_NAME).exists() and not any(batch_dir.iterdir()):
            batch_dir.rmdir()
            fsync_dir(batch_dir.parent)
            return None
        raise
    if manifest.state is BatchState.SEALING:
        result = finish_sealing(batch_dir, manifest, drop=drop, now=now)
        if result.batch_dir is None:
            return None
    return manifest


def finish_staged(staged: Path, *, drop: Path, now: datetime) -> Path | None:
    """
    Finish a seal interrupted in `.sealing-<id>`; return the published batch folder, if any.

    An empty staging folder is removed; one with files but no manifest (a crash right after the
    first move) gets a manifest made from its files. Raise OSError if it still cannot be done.
    """
    remove_temp_files(staged)
    try:
        manifest = load_manifest(staged)
    except ManifestUnreadable:
        if (staged / MANIFEST_NAME).exists():
            raise
        if not any(staged.iterdir()):
            staged.rmdir()
            return None
        rebuilt = rebuild_manifest(staged, now=now)
        if rebuilt is None:
            return None
        rebuilt.batch_id = staged.name.removeprefix(SEALING_PREFIX)
        rebuilt.save(staged)
        return publish(staged)
    if manifest.state is BatchState.SEALING:
        return finish_sealing(staged, manifest, drop=drop, now=now).batch_dir
    return publish(staged)


def repair_queue(folders: FolderSettings, *, now: datetime) -> list[str]:
    """
    Finish what a crash left in queue/ before intake looks at the drop folder again.

    A half-done seal still owns files in the drop folder: they must go into their batch, not a
    new one. Returns the ids of batches repaired; unreadable manifests are left for the worker.
    """
    repaired = []
    for root in (folders.queue, folders.done, folders.failed):
        remove_temp_files(root)  # half-copied trees a crash left while filing across filesystems
    for staged in staged_folders(folders.queue):
        try:
            finish_staged(staged, drop=folders.drop, now=now)
        except (ManifestUnreadable, OSError):
            continue
    for batch_dir in batch_folders(folders.queue):
        try:
            if open_batch(batch_dir, drop=folders.drop, now=now) is not None:
                repaired.append(batch_dir.name)
        except (ManifestUnreadable, OSError):
            continue
    return repaired
