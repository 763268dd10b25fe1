"""
Retention: batches in done/ older than `retention.done_days` are removed. failed/ is never touched.

Age is taken from the batch id (the time it was sealed), so a batch re-filed by `retry` keeps
its original age. Only folders whose name is a batch id are considered.
"""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sis_watcher.batch.ids import batch_folders
from sis_watcher.core.logs import get_logger

log = get_logger()
BATCH_ID = re.compile(r"^(\d{8}T\d{6}Z)-[0-9a-f]{6}(?:\.\d+)?$")


def sealed_time(batch_id: str) -> datetime | None:
    match = BATCH_ID.match(batch_id)
    if match is None:
        return None
    return datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def sweep(done: Path, *, days: float, now: datetime) -> list[str]:
    """Remove done/ batches sealed more than `days` ago; return their ids."""
    cutoff = now - timedelta(days=days)
    removed: list[str] = []
    try:
        folders = batch_folders(done)
    except OSError as error:
        log.warning("retention.remove_failed", folder=str(done), caused_by=str(error))
        return removed
    for batch_dir in folders:
        sealed = sealed_time(batch_dir.name)
        if sealed is None or sealed >= cutoff:
            continue
        try:
            shutil.rmtree(batch_dir)
        except OSError as error:
            log.warning("retention.remove_failed", batch_id=batch_dir.name, caused_by=str(error))
            continue
        removed.append(batch_dir.name)
    if removed:
        log.info("retention.removed", batches=len(removed), oldest=removed[0], newest=removed[-1], days=days)
    return removed
