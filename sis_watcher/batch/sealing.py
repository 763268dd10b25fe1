"""
Sealing: moving one export's files out of the drop folder into a new batch folder.

A batch is born in `queue/.sealing-<batch-id>/`: the folder is created, a manifest in state
`sealing` lists the planned files, and only then are the files moved in; the folder is renamed to
`queue/<batch-id>/` once complete. A crash at any point leaves a folder `repair` can finish.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from sis_watcher.batch.ids import SEALING_PREFIX, new_batch_id
from sis_watcher.batch.manifest import (
    BatchState,
    FileEntry,
    Manifest,
    PlannedFile,
)
from sis_watcher.config.settings import FolderSettings
from sis_watcher.core.clock import isoformat
from sis_watcher.core.durable import fsync_dir, move_file


@dataclass(frozen=True, slots=True, kw_only=True)
class FileStat:
    """What a scan saw of one file."""

    name: str
    size: int
    mtime_ns: int
    inode: int

    @property
    def is_zip(self) -> bool:
        return self.name.lower().endswith(".zip")


@dataclass(frozen=True, slots=True, kw_only=True)
class SealPlan:
    """Files to seal into one batch, and why now."""

    kind: Literal["csv", "zip"]
    files: tuple[FileStat, ...]
    trigger: FileStat | None
    reason: Literal["quiet", "trigger", "max_wait", "ready", "once"]


def planned(seen: FileStat) -> PlannedFile:
    return PlannedFile(name=seen.name, bytes=seen.size, mtime_ns=seen.mtime_ns, inode=seen.inode)


@dataclass(frozen=True, slots=True, kw_only=True)
class SealResult:
    batch_dir: Path | None
    moved: tuple[str, ...]
    skipped: tuple[str, ...]
    manifest: Manifest | None = None


def seal(plan: SealPlan, *, folders: FolderSettings, now: datetime) -> SealResult:
    """
    Move the files of `plan` from the drop folder into a new `queue/<batch-id>/`.

    The batch is put together in the hidden `queue/.sealing-<batch-id>/` and renamed into
    place once complete, so the worker (and `status`) never see a batch half sealed.
    Returns the batch folder (None if nothing could be moved) and which files were moved or
    skipped (changed or gone since they were seen ready; they stay for a later batch).
    Raise OSError if the queue folder cannot be written; `repair_queue` finishes the job later.
    """
    batch_id = new_batch_id(now)
    while (folders.queue / batch_id).exists():  # pragma: no cover - two seals in one microsecond
        batch_id = new_batch_id(now)
    batch_dir = folders.queue / f"{SEALING_PREFIX}{batch_id}"
    folders.queue.mkdir(parents=True, exist_ok=True)
    batch_dir.mkdir()
    fsync_dir(folders.queue)
    manifest = Manifest(
        batch_id=batch_id,
        state=BatchState.SEALING,
        sealed_at=isoformat(now),
        source=plan.kind,
        trigger_file=plan.trigger.name if plan.trigger else None,
        files=[FileEntry(name=seen.name, bytes=seen.size) for seen in plan.files],
        seal_plan=[planned(seen) for seen in plan.files],
        seal_trigger=planned(plan.trigger) if plan.trigger else None,
    )
    manifest.move_to(BatchState.SEALING, at=isoformat(now), note=f"sealed on {plan.reason}")
    manifest.save(batch_dir)
    return finish_sealing(batch_dir, manifest, drop=folders.drop, now=now)


def move_planned(item: PlannedFile, *, drop: Path, batch_dir: Path) -> bool:
    """Move one planned file in; return False if it changed or vanished (it is left alone)."""
    source = drop / item.name
    target = batch_dir / item.name
    if target.exists():
        try:
            info = source.lstat()
        except FileNotFoundError:
            return True
        if (info.st_size, info.st_mtime_ns) == (
            item.bytes,
            item.mtime_ns,
        ) and target.stat().st_size == item.bytes:
            source.unlink()  # a cross-filesystem move that stopped after the copy
        return True
    try:
        info = source.lstat()
    except FileNotFoundError:
        return False
    if (info.st_size, info.st_mtime_ns, info.st_ino) != (item.bytes, item.mtime_ns, item.inode):
        return False
    move_file(source, target)
    return True


def finish_sealing(batch_dir: Path, manifest: Manifest, *, drop: Path, now: datetime) -> SealResult:
    """
    Move what is still to move, record what was skipped, and mark the batch queued.

    A batch being put together under `.sealing-<id>` is then renamed to `<id>`.
    """
    moved: list[str] = []
    skipped: list[str] = []
    for item in manifest.seal_plan or []:
        (moved if move_planned(item, drop=drop, batch_dir=batch_dir) else skipped).append(item.name)
    trigger = manifest.seal_trigger
    if trigger is not None and not move_planned(trigger, drop=drop, batch_dir=batch_dir):
        manifest.trigger_file = None
    if not moved and manifest.trigger_file is None:
        shutil.rmtree(batch_dir)
        fsync_dir(batch_dir.parent)
        return SealResult(batch_dir=None, moved=(), skipped=tuple(skipped))
    manifest.files = [entry for entry in manifest.files if entry.name in moved]
    manifest.seal_plan = None
    manifest.seal_trigger = None
    note = f"left in the drop folder (changed or gone): {', '.join(skipped)}" if skipped else None
    manifest.move_to(BatchState.QUEUED, at=isoformat(now), note=note)
    manifest.save(batch_dir)
    return SealResult(
        batch_dir=publish(batch_dir), moved=tuple(moved), skipped=tuple(skipped), manifest=manifest
    )


def publish(batch_dir: Path) -> Path:
    """Rename a staged `.sealing-<id>` folder to `<id>` (already published folders stay)."""
    if not batch_dir.name.startswith(SEALING_PREFIX):
        return batch_dir
    target = batch_dir.with_name(batch_dir.name.removeprefix(SEALING_PREFIX))
    batch_dir.rename(target)
    fsync_dir(target.parent)
    return target
