"""
`sis-watcher rollback BATCH_ID [--batch-mode-only|--undelete-only|--unconclude-only]`.

Canvas's `restore_states` for a filed batch's import (docs/canvas.md §A2): every object the
import created or changed goes back to its previous state (or, with a flag, only batch mode's
deletions, only deletions, only conclusions). The command asks Canvas, follows the Progress it
answers (`completion` is a float) until it is `completed` or `failed`, then reads the import's
final state and `data.statistics` and records them under `rollback` in the batch's manifest.

Never twice. The record is saved before Canvas is asked, and again with the Progress's id as
soon as Canvas answers; Ctrl-C or a crash leaves it saying the rollback is still running, and
the command run again follows the same Progress instead of restoring again. Before asking, the
import's state is read: one already `restoring` (a request whose answer was lost) is followed,
one already `restored` is recorded as it is. An answer lost on the way (timeout, 5xx) is
never followed by a second request: the import is watched until it starts restoring, and if it
does not within 30 s the command stops (exit 1). Canvas may have queued that restore without
showing it yet, so while a record without a Progress id is open, the command run again follows
the restore once the import shows it and otherwise refuses to ask again (exit 1) unless
`--force` is given (`commands.restoring`).

Logging is set up for the length of the command only (`logs.configured`): warnings (retries,
faults) on stderr, and whatever was configured before is put back.

Which batches: those filed in done/ and also those in failed/ that reached Canvas (an import
Canvas failed with messages, or aborted on a change_threshold, may still have changed rows).
The ledger (README "The ledger") then forgets a done batch's changes: the rollback's end is
saved with `rollback.ledger_forgotten: false`, and the ledger is rebuilt from done/, which
leaves rolled-back batches out (a partial rollback leaves out what it restored,
`ledger.apply.restored_changes`) and marks the flag true (`ledger.forgetting`). The rebuild
needs the queue's lock: without a daemon the command rebuilds; while the daemon runs, it leaves
the daemon a request and the daemon rebuilds within seconds (or at its next start).

Exit codes: 0 restored (or partially_restored when a flag was given), 1 Canvas refused it
("restore data unavailable" after 30 days), failed it, or did not finish it within
`poll.give_up_after_seconds`, or an earlier request may be queued (without `--force`);
2 unknown batch, a batch that never reached Canvas, bad usage;
3 interrupted (the rollback goes on in Canvas).
"""

from __future__ import annotations

import io
import sqlite3
import threading
from pathlib import Path
from typing import TextIO

from sis_watcher.batch.ids import names_a_folder
from sis_watcher.batch.lock import FolderLock
from sis_watcher.batch.manifest import Manifest, RollbackRecord
from sis_watcher.commands.restoring import (
    RESTORED,
    RestoreMayBeQueued,
    Rollback,
    RollbackFailed,
    ledger_must_forget,
    make_client,
)
from sis_watcher.config.settings import Config
from sis_watcher.core import logs
from sis_watcher.core.errors import CanvasAuthProblem, CanvasError, LockHeld, TokenUnavailable
from sis_watcher.core.exit_codes import EXIT_CONFIG, EXIT_FAILURE, EXIT_KILLED, EXIT_OK
from sis_watcher.ledger.apply import filed_as
from sis_watcher.ledger.forgetting import forget_rolled_back, request_forget
from sis_watcher.ledger.rebuild import ReplayFailed
from sis_watcher.ledger.store import LedgerUnusable

FLAGS = {"batch_mode": "batch_mode", "undelete": "undelete_only", "unconclude": "unconclude_only"}


PERMISSION_HINT = (
    "a rollback needs the token's user to have the manage SIS data permission on the root account "
    "(import SIS data alone is not enough)"
)


def find_filed(config: Config, batch_id: str) -> tuple[Path, Manifest] | None:
    """Return the batch's folder and manifest in done/, else in failed/, else None."""
    if not names_a_folder(batch_id):
        return None
    return filed_as(config.folders.done, batch_id) or filed_as(config.folders.failed, batch_id)


def forget_in_ledger(config: Config, folder: Path, manifest: Manifest, *, out: TextIO, err: TextIO) -> None:
    """Have the ledger forget the rolled-back batch: rebuild it, or ask the running daemon to."""
    record = manifest.rollback
    if record is None or record.ledger_forgotten is None:
        return
    batch_id = manifest.batch_id
    if record.ledger_forgotten:
        print(f"the ledger no longer holds {batch_id}'s changes", file=out)
        return
    lock = FolderLock(config.folders.queue)
    try:
        lock.acquire()
    except LockHeld as error:
        try:
            request_forget(config.folders.queue, batch_id)
        except OSError as problem:
            print(f"sis-watcher rollback: cannot ask the daemon to forget {batch_id}: {problem}", file=err)
            return
        daemon = f"the daemon (pid {error.owner_pid})" if error.owner_pid else "the running daemon"
        print(
            f"{daemon} makes the ledger forget {batch_id}'s changes within seconds; "
            f"rollback.ledger_forgotten in {folder / 'manifest.json'} turns true when it has",
            file=out,
        )
        return
    try:
        forget_rolled_back(config, out=io.StringIO())
    except (LedgerUnusable, ReplayFailed, OSError, sqlite3.Error) as error:
        print(
            f"sis-watcher rollback: the ledger could not be rebuilt: {error}; "
            "the daemon tries again at its start, or run `sis-watcher ledger rebuild -c CONFIG`",
            file=err,
        )
        return
    finally:
        lock.release()
    print(f"the ledger no longer holds {batch_id}'s changes (rebuilt from done/)", file=out)


def run_rollback(
    config: Config, batch_id: str, *, only: str | None, force: bool = False, out: TextIO, err: TextIO
) -> int:
    """Roll the batch's import back in Canvas and record it; return the exit code (module docstring)."""
    with logs.configured(fmt=config.logging.format, level="warning", stream=err):  # retries and faults only
        return rollback_filed(config, batch_id, only=only, force=force, out=out, err=err)


def rollback_filed(
    config: Config, batch_id: str, *, only: str | None, force: bool, out: TextIO, err: TextIO
) -> int:
    """`run_rollback` once logging is set up: find the batch, then roll it back unless it was."""
    found = find_filed(config, batch_id)
    if found is None:
        where = (
            "still in the queue" if (config.folders.queue / batch_id).is_dir() else "not in done/ or failed/"
        )
        print(f"sis-watcher rollback: {batch_id} is {where}; only a filed batch can be rolled back", file=err)
        return EXIT_CONFIG
    folder, manifest = found
    if manifest.canvas.import_id is None:
        print(
            f"sis-watcher rollback: {batch_id} never reached Canvas (no import id): nothing to roll back",
            file=err,
        )
        return EXIT_CONFIG
    previous = manifest.rollback
    if previous is not None and previous.workflow_state in RESTORED:
        print(
            f"{batch_id} was already rolled back ({previous.workflow_state} at {previous.finished_at})",
            file=out,
        )
        if previous.ledger_forgotten is None and ledger_must_forget(config, folder, manifest):
            previous.ledger_forgotten = False  # rolled back before the flag was recorded
            manifest.save(folder)
        forget_in_ledger(config, folder, manifest, out=out, err=err)
        return EXIT_OK
    flags = [FLAGS[only]] if only else []
    return roll_back(config, folder, manifest, flags=flags, force=force, out=out, err=err)


def roll_back(
    config: Config,
    folder: Path,
    manifest: Manifest,
    *,
    flags: list[str],
    force: bool = False,
    out: TextIO,
    err: TextIO,
) -> int:
    """Ask Canvas and follow it (`Rollback`), turning each way it can end into words and an exit code."""
    batch_id = manifest.batch_id
    stopping = threading.Event()
    client = make_client(config, stopping=stopping)
    rollback = Rollback(config, folder, manifest, client=client)
    try:
        record = rollback.run(flags, force=force)
    except KeyboardInterrupt:
        stopping.set()
        unanswered = manifest.rollback is not None and manifest.rollback.progress_id is None
        going_on = "may have queued a restore of" if unanswered else "goes on restoring"
        print(
            f"interrupted: Canvas {going_on} import {rollback.import_id}; "
            f"run `sis-watcher rollback -c CONFIG {batch_id}` again to follow it",
            file=err,
        )
        return EXIT_KILLED
    except TokenUnavailable as error:
        print(f"sis-watcher rollback: {error}", file=err)
        return EXIT_CONFIG
    except RestoreMayBeQueued as error:
        print(f"sis-watcher rollback: {error}", file=err)
        return EXIT_FAILURE
    except (CanvasError, RollbackFailed) as error:
        words = error.message if isinstance(error, CanvasError) else str(error)
        if isinstance(error, CanvasAuthProblem):
            words += f"; {PERMISSION_HINT}"
        print(
            f"sis-watcher rollback: Canvas did not roll back import {rollback.import_id}: {words}", file=err
        )
        return EXIT_FAILURE
    finally:
        client.close()
    return report(config, folder, manifest, record, partial_asked=bool(flags), out=out, err=err)


def report(
    config: Config,
    folder: Path,
    manifest: Manifest,
    record: RollbackRecord,
    *,
    partial_asked: bool,
    out: TextIO,
    err: TextIO,
) -> int:
    """Say how the rollback ended, let the ledger forget it, and return the exit code."""
    batch_id = manifest.batch_id
    state = record.workflow_state
    if state == "restored" or (state == "partially_restored" and partial_asked):
        print(
            f"{batch_id}: Canvas import rolled back ({state}); recorded in {folder / 'manifest.json'}",
            file=out,
        )
        forget_in_ledger(config, folder, manifest, out=out, err=err)
        return EXIT_OK
    print(f"sis-watcher rollback: Canvas ended the rollback {state}: {record.error}", file=err)
    forget_in_ledger(config, folder, manifest, out=out, err=err)  # what it did restore (if flagged)
    return EXIT_FAILURE
