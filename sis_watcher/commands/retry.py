"""
`sis-watcher retry BATCH_ID [--force] [--remaster]`: put a failed batch back in the queue, and say where.

`--remaster` is the remedy for Canvas's "A remaster is required" failure (docs/canvas.md §A4):
this one attempt is sent with `diffing_remaster_data_set=true`, so Canvas applies the whole
file and makes it the data set's new base. It needs `import.diffing_data_set_identifier`
(Canvas ignores a remaster without a data set), so without one it is refused (exit 2).
"""

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
    if remaster and not config.import_options.diffing_data_set_identifier:
        print(
            "sis-watcher retry: --remaster needs import.diffing_data_set_identifier in the config "
            "(a remaster re-bases that diffing data set)",
            file=err,
        )
        return EXIT_CONFIG
    try:
        target = retry_batch(
            config.folders, batch_id, force=force, now=SystemClock().now(), remaster=remaster
        )
    except (RetryRefused, OSError) as error:
        print(f"sis-watcher retry: {error}", file=err)
        return EXIT_CONFIG
    kind = " as a remaster (diffing_remaster_data_set=true)" if remaster else ""
    print(f"{batch_id} is back in the queue{kind}: {target}", file=out)
    return EXIT_OK
