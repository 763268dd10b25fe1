"""
`sis-watcher ledger rebuild`: make the ledger again from done/, in batch order.

The new ledger is written beside the old one and moved into place when complete, so a failure
half-way leaves the old file as it was. Each done batch is previewed against the ledger built so
far, with the import options its manifest recorded (else the config's), and applied with the
rows Canvas reported in its errors file left out: what the daemon would have recorded. Only
what retention has kept in done/ can be replayed; a done batch whose files cannot be read stops
the rebuild (exit 1) with the old ledger untouched. The daemon must not be running (the queue's
lock is taken for the whole rebuild).
"""

from __future__ import annotations

import csv
import sqlite3
import zipfile
from contextlib import ExitStack
from pathlib import Path
from typing import TextIO

from sis_watcher.batch.ids import batch_folders
from sis_watcher.batch.lock import FolderLock
from sis_watcher.batch.manifest import ManifestUnreadable, load_manifest
from sis_watcher.config.settings import Config
from sis_watcher.core import logs
from sis_watcher.core.clock import SystemClock, isoformat
from sis_watcher.core.durable import fsync_dir
from sis_watcher.core.errors import LockHeld
from sis_watcher.core.exit_codes import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK
from sis_watcher.ledger.apply import apply_filed
from sis_watcher.ledger.preview import preview
from sis_watcher.ledger.reading import sources_of
from sis_watcher.ledger.store import Ledger, LedgerUnusable
from sis_watcher.pipeline.hold import recorded_scope, scope_of

REBUILD_SUFFIX = ".rebuild"


class ReplayFailed(Exception):
    """A batch in done/ could not be replayed; the old ledger is left as it was."""


def remove_database(path: Path, *, suffixes: tuple[str, ...] = ("", "-wal", "-shm")) -> None:
    """Remove an SQLite file and its WAL and shared-memory files."""
    for suffix in suffixes:
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def replay(ledger: Ledger, config: Config, *, out: TextIO) -> int:
    """Preview and apply every batch in done/, in batch order; return how many were applied."""
    applied = 0
    for batch_dir in batch_folders(config.folders.done):
        try:
            manifest = load_manifest(batch_dir)
        except ManifestUnreadable as error:
            print(f"skipped {batch_dir.name}: {error}", file=out)
            continue
        scope = recorded_scope(manifest.changes) or scope_of(config.import_options)
        try:
            with ExitStack() as stack:
                sources = [
                    source
                    for entry in manifest.files
                    for source in stack.enter_context(
                        sources_of(batch_dir / entry.name, display_name=entry.name)
                    )
                ]
                preview(ledger, sources, scope=scope, batch_id=manifest.batch_id)
        except (OSError, UnicodeError, ValueError, csv.Error, zipfile.BadZipFile) as error:
            raise ReplayFailed(f"cannot read the files of {batch_dir}: {error}") from None
        if apply_filed(ledger, batch_dir, manifest, applied_at=isoformat(SystemClock().now())):
            applied += 1
            print(f"applied {manifest.batch_id}", file=out)
    return applied


def rebuild(config: Config, *, out: TextIO) -> int:
    """Replay done/ into a new ledger, then put it in the old one's place; return how many batches."""
    target = config.ledger_path
    scratch = target.with_name(target.name + REBUILD_SUFFIX)
    remove_database(scratch)
    try:
        with Ledger(scratch) as ledger:
            applied = replay(ledger, config, out=out)
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
    return applied


def run_ledger(config: Config, action: str, *, out: TextIO, err: TextIO) -> int:
    """Run `ledger rebuild`; return the exit code."""
    del action  # the only action, for now
    lock = FolderLock(config.folders.queue)
    try:
        lock.acquire()
    except LockHeld as error:
        print(f"sis-watcher ledger rebuild: stop the daemon first ({error})", file=err)
        return EXIT_CONFIG
    logs.configure(fmt=config.logging.format, level="warning", stream=err)  # "applied <id>" says the rest
    try:
        applied = rebuild(config, out=out)
    except (LedgerUnusable, ReplayFailed, OSError, sqlite3.Error) as error:
        print(f"sis-watcher ledger rebuild: {error}; the ledger {config.ledger_path} is as it was", file=err)
        return EXIT_FAILURE
    finally:
        lock.release()
    print(
        f"the ledger {config.ledger_path} now holds {applied} batch(es) from {config.folders.done}", file=out
    )
    return EXIT_OK
