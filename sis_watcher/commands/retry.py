"""`sis-watcher retry BATCH_ID [--force]`: put a failed batch back in the queue, and say where."""

from __future__ import annotations

from typing import TextIO

from sis_watcher.batch.requeue import retry_batch
from sis_watcher.config.settings import Config
from sis_watcher.core.clock import SystemClock
from sis_watcher.core.errors import RetryRefused
from sis_watcher.core.exit_codes import EXIT_CONFIG, EXIT_OK


def run_retry(
    config: Config, batch_id: str, *, force: bool, remaster: bool = False, out: TextIO, err: TextIO
) -> int:
    """Move `failed/<batch_id>/` back to the queue; exit 2 (naming why) if it cannot be."""
    try:
        target = retry_batch(config.folders, batch_id, force=force, now=SystemClock().now())
    except (RetryRefused, OSError) as error:
        print(f"sis-watcher retry: {error}", file=err)
        return EXIT_CONFIG
    print(f"{batch_id} is back in the queue: {target}", file=out)
    return EXIT_OK
