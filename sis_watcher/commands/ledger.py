"""
`sis-watcher ledger rebuild`: make the ledger again from done/, in batch order (`ledger.rebuild`).

Each done batch is previewed and applied as the daemon would have, rolled-back batches left
out, and the new file moved into place only when complete: a done batch whose files cannot be
read stops the rebuild (exit 1) with the old ledger untouched. The daemon must not be running
(the queue's lock is taken for the whole rebuild); a rollback made while it runs is forgotten
by the daemon itself (`ledger.forgetting`).
"""

from __future__ import annotations

import sqlite3
from typing import TextIO

from sis_watcher.batch.lock import FolderLock
from sis_watcher.config.settings import Config
from sis_watcher.core import logs
from sis_watcher.core.errors import LockHeld
from sis_watcher.core.exit_codes import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK
from sis_watcher.ledger.rebuild import ReplayFailed, rebuild
from sis_watcher.ledger.store import LedgerUnusable


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
        result = rebuild(config, out=out)
    except (LedgerUnusable, ReplayFailed, OSError, sqlite3.Error) as error:
        print(f"sis-watcher ledger rebuild: {error}; the ledger {config.ledger_path} is as it was", file=err)
        return EXIT_FAILURE
    finally:
        lock.release()
    print(
        f"the ledger {config.ledger_path} now holds {result.applied} batch(es) from {config.folders.done}",
        file=out,
    )
    return EXIT_OK
