"""
`sis-watcher approve BATCH_ID` and `sis-watcher discard BATCH_ID`: a person's word on a held batch.

Without a daemon running, the command takes the queue's lock and carries the decision out
itself (a discarded batch is filed under failed/ at once). With a daemon running, it leaves the
decision beside the batch (`batch.decisions`) and waits a little for the daemon, which looks at
a held batch every few seconds, to carry it out. Exit 0 when carried out or left for the
daemon; 2 when the batch is not held in the queue.
"""

from __future__ import annotations

import getpass
import os
import time
from pathlib import Path
from typing import TextIO

from sis_watcher.batch.decisions import DECISION_NAME, Choice, Decision, carry_out, leave_decision
from sis_watcher.batch.filing import file_away
from sis_watcher.batch.folder import Batch
from sis_watcher.batch.lock import FolderLock
from sis_watcher.batch.manifest import BatchState, Manifest, ManifestUnreadable, load_manifest
from sis_watcher.config.settings import Config
from sis_watcher.core.clock import Clock, SystemClock, isoformat
from sis_watcher.core.errors import LockHeld
from sis_watcher.core.exit_codes import EXIT_CONFIG, EXIT_OK
from sis_watcher.ledger.apply import forget_batch
from sis_watcher.ledger.store import Ledger, LedgerUnusable

DAEMON_WAIT_SECONDS = 10.0
DAEMON_POLL_SECONDS = 0.2


def who() -> str:
    """Return who is deciding: the login name (SUDO_USER when run through sudo)."""
    try:
        name = os.environ.get("SUDO_USER") or getpass.getuser()
    except (KeyError, OSError):  # pragma: no cover - a uid with no passwd entry
        name = str(os.getuid())
    return name


def held_manifest(queue: Path, batch_id: str, *, verb: str, err: TextIO) -> Manifest | None:
    """Return the manifest of the held batch `batch_id`, or None after saying why it is not one."""
    try:
        manifest = load_manifest(queue / batch_id)
    except ManifestUnreadable:
        print(f"sis-watcher {verb}: {batch_id} is not a batch in {queue}", file=err)
        return None
    if manifest.state is not BatchState.HELD:
        print(f"sis-watcher {verb}: {batch_id} is not held (it is {manifest.state.value})", file=err)
        return None
    return manifest


def run_decide(
    config: Config, batch_id: str, choice: Choice, *, out: TextIO, err: TextIO, clock: Clock | None = None
) -> int:
    """Approve or discard the held batch `batch_id`; return the exit code."""
    clock = clock or SystemClock()
    verb = "approve" if choice == "approve" else "discard"
    done = "approved" if choice == "approve" else "discarded"
    batch_dir = config.folders.queue / batch_id
    if held_manifest(config.folders.queue, batch_id, verb=verb, err=err) is None:
        return EXIT_CONFIG
    decision = Decision(choice=choice, by=who(), at=isoformat(clock.now()))
    lock = FolderLock(config.folders.queue)
    try:
        lock.acquire()
    except LockHeld:
        return hand_to_daemon(batch_dir, decision, verb=verb, done=done, out=out)
    try:
        # Again under the lock: a daemon that stopped since the first look may have filed or decided it.
        manifest = held_manifest(config.folders.queue, batch_id, verb=verb, err=err)
        if manifest is None:
            return EXIT_CONFIG
        batch = Batch(batch_dir, manifest, clock=clock)
        carry_out(batch, decision)
        (batch_dir / DECISION_NAME).unlink(missing_ok=True)  # one left for a daemon that stopped first
        if batch.state is BatchState.FAILED:
            path = file_away(batch.folder, batch.manifest, folders=config.folders)
            forget_pending(config, batch_id, err=err)
            print(f"{batch_id} discarded: filed in {path}", file=out)
        else:
            print(f"{batch_id} approved: it goes to Canvas when the daemon next runs", file=out)
    finally:
        lock.release()
    return EXIT_OK


def forget_pending(config: Config, batch_id: str, *, err: TextIO) -> None:
    """Forget a discarded batch's previewed changes (the daemon would otherwise at its next start)."""
    if not config.ledger.enabled or not config.ledger_path.exists():
        return
    try:
        with Ledger(config.ledger_path) as ledger:
            forget_batch(ledger, batch_id)
    except LedgerUnusable as error:
        print(f"sis-watcher: {error}", file=err)


def hand_to_daemon(folder: Path, decision: Decision, *, verb: str, done: str, out: TextIO) -> int:
    """Leave the decision for the running daemon and wait a little for it to be carried out."""
    leave_decision(folder, decision)
    deadline = time.monotonic() + DAEMON_WAIT_SECONDS
    while time.monotonic() < deadline:
        try:
            state = load_manifest(folder).state
        except ManifestUnreadable:
            state = None  # filed: the folder moved to failed/
        if state is not BatchState.HELD:
            print(f"{folder.name} {done}: the running daemon carried it out", file=out)
            return EXIT_OK
        time.sleep(DAEMON_POLL_SECONDS)
    print(f"{folder.name}: {verb} left for the running daemon, which will carry it out shortly", file=out)
    return EXIT_OK
