"""
Batch folders: ids, sealing files out of the drop folder, repair after a crash, and filing.

A batch is born in `queue/<batch-id>/` by `seal`: the folder is created, a manifest in state
`sealing` lists the planned files, and only then are the files moved in. A crash at any point
leaves a folder `repair` can finish: files already moved stay, files still in the drop folder
(unchanged since planning) are moved, files that vanished are noted, and an empty folder is
removed. Finishing a batch is one rename of its folder into `done/` or `failed/`.
"""

from __future__ import annotations

import re
import secrets
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sis_watcher.clock import isoformat
from sis_watcher.config import FolderSettings
from sis_watcher.durable import fsync_dir, move_dir, move_file, remove_dir, remove_temp_files
from sis_watcher.intake import FileStat, SealPlan
from sis_watcher.manifest import (
    MANIFEST_NAME,
    BatchState,
    FileEntry,
    Manifest,
    ManifestUnreadable,
    PlannedFile,
    load_manifest,
)


def new_batch_id(moment: datetime) -> str:
    """
    Return an id that sorts by time, e.g. `20261127T020000Z-3f9a1c`.

    The suffix is the microsecond in five hex digits plus one random one, so ids made in the
    same second still sort in the order they were made.
    """
    moment = moment.astimezone(UTC)
    return f"{moment.strftime('%Y%m%dT%H%M%SZ')}-{moment.microsecond:05x}{secrets.token_hex(1)[0]}"


def planned(seen: FileStat) -> PlannedFile:
    return PlannedFile(name=seen.name, bytes=seen.size, mtime_ns=seen.mtime_ns, inode=seen.inode)


@dataclass(frozen=True, slots=True, kw_only=True)
class SealResult:
    batch_dir: Path | None
    moved: tuple[str, ...]
    skipped: tuple[str, ...]
    manifest: Manifest | None = None


# A batch folder's name: its id, with `.N` when filing had to avoid a name already taken.
BATCH_FOLDER = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{6}(?:\.\d+)?")


def batch_folders(root: Path) -> list[Path]:
    """
    Return the batch folders directly in `root`, sorted by id (oldest first).

    Only folders named like a batch id count: `lost+found` or an admin's notes folder is not a
    batch. Raise OSError (other than a missing `root`) so a caller can tell "empty" from "unreadable".
    """
    try:
        entries = list(root.iterdir())
    except FileNotFoundError:
        return []
    return sorted(
        (
            path
            for path in entries
            if BATCH_FOLDER.fullmatch(path.name) and path.is_dir() and not path.is_symlink()
        ),
        key=lambda path: path.name,
    )


SEALING_PREFIX = ".sealing-"


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


def file_away(batch_dir: Path, manifest: Manifest, *, folders: FolderSettings) -> Path:
    """
    Move a finished batch folder into done/ or failed/ (by its state); return the new path.

    If a previous attempt already copied it there (across filesystems), the queue copy goes.
    If another folder of that name is there, this one is filed as `<id>.2` (then `.3`, ...):
    nothing is overwritten and the queue is not blocked.
    """
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


def staged_folders(queue: Path) -> list[Path]:
    """Return the `.sealing-<id>` folders of seals not finished yet (a crash or a failed seal)."""
    try:
        return sorted(path for path in queue.iterdir() if path.name.startswith(SEALING_PREFIX))
    except FileNotFoundError:
        return []


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
