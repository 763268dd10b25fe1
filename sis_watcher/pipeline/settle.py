"""After filing: a done batch's changes go into the ledger, a failed one's pending rows are forgotten."""

from __future__ import annotations

import sqlite3

from sis_watcher.batch.folder import Batch
from sis_watcher.batch.manifest import BatchState
from sis_watcher.core.logs import get_logger
from sis_watcher.core.memory import give_back_freed
from sis_watcher.ledger.apply import apply_filed, forget_batch
from sis_watcher.ledger.store import LedgerKeeper, LedgerUnusable

log = get_logger()


def settle_ledger(keeper: LedgerKeeper | None, batch: Batch) -> None:
    """Apply a filed batch to the ledger (if enabled); on error log it, the daemon retries later."""
    if keeper is None:
        return
    try:
        ledger = keeper.open()
        if batch.state is BatchState.DONE:
            apply_filed(ledger, batch.folder, batch.manifest, applied_at=batch.now_text())
            give_back_freed()  # the apply's fingerprint arrays (core/memory.py)
        else:
            forget_batch(ledger, batch.batch_id)
    except (LedgerUnusable, sqlite3.Error, OSError) as error:
        keeper.failed()
        log.error("ledger.apply_failed", path=str(keeper.path), caused_by=str(error))
