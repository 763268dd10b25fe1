"""Helpers for the batch tests: files dropped for real, seal plans, half-done seals."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sis_watcher.batch.manifest import (
    BatchState,
    FileEntry,
    Manifest,
)
from sis_watcher.batch.sealing import FileStat, SealPlan, planned
from sis_watcher.config.settings import FolderSettings
from sis_watcher.core.clock import isoformat

NOW = datetime(2026, 11, 27, 2, 0, 0, 123456, tzinfo=UTC)
ID_PATTERN = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{6}$")


def drop(folders: FolderSettings, name: str, data: bytes) -> FileStat:
    """Put a file in the drop folder and return what a scan would see of it."""
    path = folders.drop / name
    path.write_bytes(data)
    info = path.stat()
    return FileStat(name=name, size=info.st_size, mtime_ns=info.st_mtime_ns, inode=info.st_ino)


def plan_of(*files: FileStat, trigger: FileStat | None = None, kind: str = "csv") -> SealPlan:
    return SealPlan(kind=kind, files=files, trigger=trigger, reason="quiet")  # type: ignore[arg-type]


def names(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def half_sealed(
    folders: FolderSettings, batch_id: str, *files: FileStat, trigger: FileStat | None = None
) -> Path:
    """Write what `seal` leaves after its first manifest write: a folder and a `sealing` manifest."""
    batch_dir = folders.queue / batch_id
    batch_dir.mkdir()
    manifest = Manifest(
        batch_id=batch_id,
        state=BatchState.SEALING,
        sealed_at=isoformat(NOW),
        trigger_file=trigger.name if trigger else None,
        files=[FileEntry(name=seen.name, bytes=seen.size) for seen in files],
        seal_plan=[planned(seen) for seen in files],
        seal_trigger=planned(trigger) if trigger else None,
    )
    manifest.move_to(BatchState.SEALING, at=isoformat(NOW), note="sealed on quiet")
    manifest.save(batch_dir)
    return batch_dir


def finished(
    folders: FolderSettings, batch_id: str, state: BatchState, *, import_id: int | None = None
) -> Path:
    """Write a batch folder in queue/ whose manifest is in `state`."""
    batch_dir = folders.queue / batch_id
    batch_dir.mkdir()
    (batch_dir / "users.csv").write_bytes(b"user_id\n1\n")
    manifest = Manifest(batch_id=batch_id, state=BatchState.QUEUED, sealed_at=isoformat(NOW))
    manifest.move_to(BatchState.QUEUED, at=isoformat(NOW))
    manifest.move_to(state, at=isoformat(NOW + timedelta(minutes=5)))
    manifest.canvas.import_id = import_id
    manifest.save(batch_dir)
    return batch_dir
