"""Helpers of the rollback command tests: a batch imported by the real daemon, the command in-process."""

from __future__ import annotations

import contextlib
import io
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sis_watcher.batch.manifest import RollbackRecord, load_manifest
from sis_watcher.commands.rollback import run_rollback
from sis_watcher.config.load import load
from sis_watcher.config.settings import Config
from sis_watcher.simulator.canvas import CanvasSimulator

from support import USERS_CSV, Tree, drop_file

FAST = {"settle_seconds": 0}
QUICK_RETRY = {"initial_backoff_seconds": 0.01, "max_backoff_seconds": 0.05, "max_elapsed_seconds": 0.3}


def done_batch(tree: Tree, run_daemon: Callable[..., Any], url: str, **sections: Any) -> tuple[Config, Path]:
    """Import users.csv with the daemon in `once` mode; return the config and the filed batch."""
    path = tree.write_config(url, intake=FAST, retry=QUICK_RETRY, **sections)
    drop_file(tree.drop, "users.csv", USERS_CSV)
    running = run_daemon(path, once=True)
    running.thread.join(30)
    [batch] = tree.batches("done") or tree.batches("failed")
    return load(path), batch


def rollback(
    config: Config, batch: Path, only: str | None = None, *, force: bool = False
) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_rollback(config, batch.name, only=only, force=force, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def record_of(batch: Path) -> RollbackRecord:
    record = load_manifest(batch).rollback
    assert record is not None, "no rollback record"
    return record


def ledger_count(config: Config) -> int:
    with contextlib.closing(sqlite3.connect(config.ledger_path)) as db:
        return int(db.execute("SELECT count(*) FROM rows").fetchone()[0])


def ledger_keys(config: Config) -> list[tuple[str, str]]:
    with contextlib.closing(sqlite3.connect(config.ledger_path)) as db:
        return [
            (str(key), str(batch)) for key, batch in db.execute("SELECT key, batch_id FROM rows ORDER BY key")
        ]


def restore_requests(canvas: CanvasSimulator) -> int:
    return sum(1 for request in canvas.requests if request.path.endswith("/restore_states"))
