"""
Forgetting a rolled-back batch in the ledger, whoever holds the queue's lock.

`sis-watcher rollback` ends a done batch's rollback with `rollback.ledger_forgotten: false` in
its manifest (saved with the rollback's end, so a crash cannot lose it). The durable request is
that flag; whoever holds the queue's lock carries it out with `forget_rolled_back`: a rebuild
(`ledger.rebuild`), which marks the flag true once the new ledger is in place. The ledger keeps
no history of a row, so only a rebuild can give back what a batch replaced or removed.

While the daemon runs, the command leaves `queue/.ledger-forget` (a wake-up, not the request)
and `RollbackForgetting.tick`, called by the worker between batches and while a batch is held,
sees it within seconds. At the daemon's start the first tick scans done/ for any flag left false
(a kill -9 anywhere leaves either false, done again, or true); after a failure it scans again
every `RETRY_SECONDS`.
"""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path
from typing import TextIO

from sis_watcher.batch.ids import batch_folders
from sis_watcher.batch.manifest import Manifest, ManifestUnreadable, load_manifest
from sis_watcher.config.settings import Config
from sis_watcher.core.clock import Clock, SystemClock, isoformat
from sis_watcher.core.durable import atomic_write_json
from sis_watcher.core.logs import get_logger
from sis_watcher.ledger.rebuild import ReplayFailed, awaits_forgetting, mark_forgotten, rebuild
from sis_watcher.ledger.store import LedgerKeeper, LedgerUnusable

log = get_logger()
REQUEST_NAME = ".ledger-forget"
RETRY_SECONDS = 60.0


def awaiting(done: Path) -> list[tuple[Path, Manifest]]:
    """Return the done batches whose rollback the ledger has yet to forget, in batch order."""
    found = []
    for batch_dir in batch_folders(done):
        try:
            manifest = load_manifest(batch_dir)
        except ManifestUnreadable:
            continue
        if awaits_forgetting(manifest):
            found.append((batch_dir, manifest))
    return found


def request_forget(queue: Path, batch_id: str) -> None:
    """Wake the running daemon: a rolled-back batch waits to be forgotten (written atomically)."""
    atomic_write_json(queue / REQUEST_NAME, {"batch_id": batch_id, "at": isoformat(SystemClock().now())})


def forget_rolled_back(
    config: Config, *, out: TextIO, waiting: list[tuple[Path, Manifest]] | None = None
) -> list[str]:
    """
    Rebuild the ledger without every rolled-back batch still waiting; return the ids now forgotten.

    The caller holds the queue's lock (so `waiting`, when it already scanned done/, is current).
    Without a ledger file there is nothing to forget: the flags are only marked. Raise what
    `rebuild` raises (the old ledger is then as it was).
    """
    waiting = awaiting(config.folders.done) if waiting is None else waiting
    if not waiting:
        return []
    if not config.ledger_path.exists():
        return mark_forgotten(waiting)
    return rebuild(config, out=out).forgotten


class RollbackForgetting:
    """The daemon's side: a request seen, a scan at start, a retry after a failure."""

    def __init__(self, config: Config, keeper: LedgerKeeper | None, *, clock: Clock) -> None:
        self.config = config
        self.keeper = keeper
        self.clock = clock
        self.request = config.folders.queue / REQUEST_NAME
        self.scan_at: float | None = clock.monotonic()  # the first tick scans

    def tick(self) -> list[str]:
        """Forget what waits, if asked or due; return the ids forgotten (the worker's thread only)."""
        if self.keeper is None:
            return []
        now = self.clock.monotonic()
        asked = self.request.exists()
        if not asked and (self.scan_at is None or now < self.scan_at):
            return []
        self.scan_at = None
        try:
            # Taken away before the scan: a request left meanwhile is then seen by the next tick.
            self.request.unlink(missing_ok=True)
            waiting = awaiting(self.config.folders.done)
            if not waiting:
                return []
            self.keeper.failed()  # the file is replaced: the next use opens the new one
            forgotten = forget_rolled_back(self.config, out=io.StringIO(), waiting=waiting)
        except (LedgerUnusable, ReplayFailed, OSError, sqlite3.Error) as error:
            self.scan_at = now + RETRY_SECONDS
            log.error(
                "ledger.forget_failed",
                path=str(self.config.ledger_path),
                caused_by=str(error),
                retry_in=RETRY_SECONDS,
            )
            return []
        if forgotten:
            log.info("ledger.rollback_forgotten", batches=forgotten, path=str(self.config.ledger_path))
        return forgotten
