"""`sis-watcher run` and `sis-watcher once`: the daemon, in the foreground or for one pass."""

from __future__ import annotations

import os
import sys
from typing import TextIO

from sis_watcher.config.settings import Config
from sis_watcher.core import logs
from sis_watcher.core.errors import LockHeld, TokenUnavailable
from sis_watcher.core.exit_codes import EXIT_CONFIG


def run_daemon(config: Config, *, once: bool, err: TextIO) -> int:
    """Run the daemon until stopped (`once`: until the queue is empty); return its exit code."""
    from sis_watcher.daemon.service import Daemon  # noqa: PLC0415 - keeps `validate` and `--help` fast

    logs.configure(fmt=config.logging.format, level=config.logging.level)
    daemon = Daemon(config, once=once)
    try:
        code = daemon.run()
    except (LockHeld, TokenUnavailable) as error:
        print(f"sis-watcher: {error}", file=err)
        logs.get_logger().error("daemon.refused_to_start", reason=str(error))
        return EXIT_CONFIG
    if daemon.abandoned:
        # A stage thread is still inside a step (an SQLite transaction, a zip): leave without the
        # interpreter's shutdown, which must not run under it. Its state on disk is consistent
        # (an unfinished ledger transaction is rolled back by SQLite at the next open).
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code
