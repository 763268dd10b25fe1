"""
Making the ledger again from done/, in batch order: `ledger rebuild`, and forgetting a rollback.

The new ledger is written beside the old one and moved into place when complete, so a failure
half-way leaves the old file as it was. Each done batch is previewed against the ledger built so
far, with the import options its manifest recorded (else the config's), and applied with the
rows Canvas reported in its errors file left out: what the daemon would have recorded. A batch
rolled back in Canvas is left out (a partial rollback leaves out what it restored,
`apply.restored_changes`). Only what retention has kept in done/ can be replayed; a done batch
whose files cannot be read stops the rebuild (`ReplayFailed`) with the old ledger untouched.

The pending rows of batches still in the queue (previewed, not yet filed) are carried over from
the old file, so a batch in flight is applied when it lands in done/. Once the new ledger is in
place, every rolled-back batch whose manifest says `rollback.ledger_forgotten: false` is marked
true: a crash before that leaves it false, and the rebuild, done again, gives the same ledger.
Who may rebuild: the holder of the queue's lock (the daemon, or a command while none runs).
"""

from __future__ import annotations

import csv
import sqlite3
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from sis_watcher.batch.ids import batch_folders
from sis_watcher.batch.manifest import Manifest, ManifestUnreadable, load_manifest
from sis_watcher.config.settings import Config
from sis_watcher.core.clock import SystemClock, isoformat
from sis_watcher.core.durable import fsync_dir
from sis_watcher.ledger.apply import WHOLE, apply_filed, restored_changes
from sis_watcher.ledger.preview import preview
from sis_watcher.ledger.reading import batch_sources
from sis_watcher.ledger.scope import recorded_scope, scope_of
from sis_watcher.ledger.store import Ledger, LedgerUnusable

REBUILD_SUFFIX = ".rebuild"
CARRY = "INSERT INTO main.pending SELECT * FROM old.pending WHERE batch_id = ?"


class ReplayFailed(Exception):
    """A batch in done/ could not be replayed; the old ledger is left as it was."""


@dataclass(slots=True)
class Rebuilt:
    """What a rebuild did: batches applied, rollbacks now forgotten, queued batches carried over."""

    applied: int = 0
    forgotten: list[str] = field(default_factory=list)
    carried: list[str] = field(default_factory=list)
    to_mark: list[tuple[Path, Manifest]] = field(default_factory=list)


def remove_database(path: Path, *, suffixes: tuple[str, ...] = ("", "-wal", "-shm")) -> None:
    """Remove an SQLite file and its WAL and shared-memory files."""
    for suffix in suffixes:
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def awaits_forgetting(manifest: Manifest) -> bool:
    """True for a rolled-back batch the ledger has not yet been rebuilt without."""
    return manifest.rollback is not None and manifest.rollback.ledger_forgotten is False


def replay(ledger: Ledger, config: Config, *, out: TextIO, result: Rebuilt | None = None) -> int:
    """Preview and apply every batch in done/, in batch order; return how many were applied."""
    result = result if result is not None else Rebuilt()
    for batch_dir in batch_folders(config.folders.done):
        try:
            manifest = load_manifest(batch_dir)
        except ManifestUnreadable as error:
            print(f"skipped {batch_dir.name}: {error}", file=out)
            continue
        taken = restored_changes(manifest)
        if awaits_forgetting(manifest) and taken:
            result.to_mark.append((batch_dir, manifest))
        if taken == WHOLE:
            print(f"skipped {batch_dir.name}: rolled back in Canvas", file=out)
            continue
        scope = recorded_scope(manifest.changes) or scope_of(config.import_options)
        try:
            with batch_sources(batch_dir, [entry.name for entry in manifest.files]) as sources:
                preview(ledger, sources, scope=scope, batch_id=manifest.batch_id)
        except (OSError, UnicodeError, ValueError, csv.Error, zipfile.BadZipFile) as error:
            raise ReplayFailed(f"cannot read the files of {batch_dir}: {error}") from None
        if apply_filed(ledger, batch_dir, manifest, applied_at=isoformat(SystemClock().now())):
            result.applied += 1
            print(f"applied {manifest.batch_id}", file=out)
    return result.applied


def carry_pending(ledger: Ledger, old: Path, queue: Path, *, out: TextIO) -> list[str]:
    """
    Copy the old ledger's pending rows of batches still in `queue` into `ledger`; return their ids.

    An old file that cannot be read (the reason for many a rebuild) carries nothing over: those
    batches are then applied with what their preview left, which is nothing.
    """
    if not old.exists():
        return []
    db = ledger.db
    try:
        db.execute("ATTACH DATABASE ? AS old", (str(old),))
    except sqlite3.Error as error:
        print(f"the pending rows of queued batches were not carried over: {error}", file=out)
        return []
    try:
        found = [str(batch_id) for (batch_id,) in db.execute("SELECT DISTINCT batch_id FROM old.pending")]
        carried = [batch_id for batch_id in found if (queue / batch_id).is_dir()]
        with ledger.transaction():
            for batch_id in carried:
                db.execute(CARRY, (batch_id,))
    except (sqlite3.Error, LedgerUnusable) as error:
        print(f"the pending rows of queued batches were not carried over: {error}", file=out)
        return []
    finally:
        db.execute("DETACH DATABASE old")
    for batch_id in carried:
        print(f"kept the pending rows of {batch_id} (still in the queue)", file=out)
    return carried


def mark_forgotten(marks: list[tuple[Path, Manifest]]) -> list[str]:
    """Record in each manifest that the ledger no longer holds the batch; return their ids."""
    forgotten = []
    for batch_dir, manifest in marks:
        assert manifest.rollback is not None  # noqa: S101 - chosen by awaits_forgetting
        manifest.rollback.ledger_forgotten = True
        try:
            manifest.save(batch_dir)
        except FileNotFoundError:  # swept by retention meanwhile: nothing left to mark
            continue
        forgotten.append(manifest.batch_id)
    return forgotten


def rebuild(config: Config, *, out: TextIO) -> Rebuilt:
    """Replay done/ into a new ledger, then put it in the old one's place (module docstring)."""
    target = config.ledger_path
    scratch = target.with_name(target.name + REBUILD_SUFFIX)
    remove_database(scratch)
    result = Rebuilt()
    try:
        with Ledger(scratch) as ledger:
            replay(ledger, config, out=out, result=result)
            result.carried = carry_pending(ledger, target, config.folders.queue, out=out)
            ledger.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except BaseException:
        remove_database(scratch)
        raise
    # The old file's WAL must not outlive it (SQLite would replay it into the new file); the
    # rename itself replaces the old file atomically, so a crash leaves one ledger or the other.
    remove_database(target, suffixes=("-wal", "-shm"))
    scratch.replace(target)
    remove_database(scratch, suffixes=("-wal", "-shm"))
    fsync_dir(target.parent)
    result.forgotten = mark_forgotten(result.to_mark)
    return result
