"""
Asking Canvas to roll an import back and following it to the end: the heart of `sis-watcher rollback`.

`Rollback.run` asks `restore_states` (unless a rollback is already under way: an open record
with a Progress is followed; an import already `restoring` or `restored` is followed without
asking), follows the Progress, then waits for the import's final state (Canvas completes the
Progress a moment before it saves the import, MODEL2 `restore_states_for_batch`) and records it
with the statistics. Every step is saved in the manifest's `rollback` record at once
(`commands.rollback` says why); the end of one that took back a done batch's changes also says
`ledger_forgotten: false`.

An open record without a Progress id is a request whose answer never arrived (lost, or Ctrl-C
or kill -9 before it was saved): Canvas may have queued that restore, and a queued restore
shows nothing on the import until its job starts. Canvas has no call listing an import's
Progress objects, so nothing can tell a queued restore from a request that never arrived: the
command refuses to ask again (`RestoreMayBeQueued`) unless the operator says `--force`. A request
that certainly queued nothing (Canvas unreachable, or refusing it) closes its record instead.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sis_watcher.batch.manifest import Manifest, RollbackRecord
from sis_watcher.canvas.client import CanvasClient
from sis_watcher.canvas.credentials import TokenSource
from sis_watcher.canvas.restore import get_progress, restore_states
from sis_watcher.canvas.retry import OutcomeUnknown, call_with_retries, until_it_may_have_arrived
from sis_watcher.config.settings import Config
from sis_watcher.core.clock import SystemClock, isoformat
from sis_watcher.core.errors import CanvasAuthProblem, CanvasUnavailable, RestoreRefused, Stopping
from sis_watcher.ledger.apply import restored_changes
from sis_watcher.pipeline.poll import GROWTH, statistics_of

RESTORED = ("restored", "partially_restored")
FINAL = (*RESTORED, "restore_failed")
PROGRESS_FINAL = ("completed", "failed")
UNKNOWN_OUTCOME_WAIT_SECONDS = 30.0
IMPORT_SAVE_WAIT_SECONDS = 60.0  # after the Progress ended, for Canvas to save the import's end
FIRST_IMPORT_LOOK_SECONDS = 0.25


class RollbackFailed(Exception):
    """The rollback cannot go on; the message is for the operator."""


class RestoreMayBeQueued(RollbackFailed):
    """An earlier request's answer never arrived: Canvas may have queued it; asking again needs --force."""


def make_client(config: Config, *, stopping: threading.Event) -> CanvasClient:
    """A Canvas client for a command run by hand (the daemon's token order, no metrics)."""
    return CanvasClient(
        base_url=config.canvas.base_url,
        account_id=config.canvas.account_id,
        token_source=TokenSource(token_file=config.canvas.token_file),
        timeout_seconds=config.canvas.timeout_seconds,
        proxy=config.canvas.proxy,
        stopping=stopping,
    )


def ledger_must_forget(config: Config, folder: Path, manifest: Manifest) -> bool:
    """True when the rollback took back changes of a done batch that an enabled ledger holds."""
    return config.ledger.enabled and folder.parent == config.folders.done and bool(restored_changes(manifest))


class Rollback:
    """One rollback of one filed batch: the record, the client, the waiting."""

    def __init__(self, config: Config, folder: Path, manifest: Manifest, *, client: CanvasClient) -> None:
        self.config = config
        self.folder = folder
        self.manifest = manifest
        self.client = client
        self.stopping = client.stopping or threading.Event()
        self.policy = config.retry.policy()
        import_id = manifest.canvas.import_id
        assert import_id is not None  # noqa: S101 - checked by run_rollback
        self.import_id = import_id

    def save(self) -> None:
        self.manifest.save(self.folder)

    def retried(self, call: Any, step: str) -> Any:
        """`call` with retries; a stop request (`Stopping`) unwinds as Ctrl-C does (`KeyboardInterrupt`)."""
        try:
            return call_with_retries(call, policy=self.policy, stopping=self.stopping, step=step)
        except Stopping:
            raise KeyboardInterrupt from None

    def current_state(self) -> dict[str, Any]:
        return dict(self.retried(lambda: self.client.get_import(self.import_id), "rollback"))

    def run(self, flags: list[str], *, force: bool = False) -> RollbackRecord:
        """
        Ask Canvas (unless a rollback is already under way) and follow it to its end.

        Raise `RestoreMayBeQueued` for an open record without a Progress id (module docstring)
        when the import has not started restoring, unless `force`.
        """
        record = self.manifest.rollback
        if record is not None and record.finished_at is None and record.progress_id is not None:
            return self.follow(record)
        state = self.current_state().get("workflow_state")
        unanswered = record if record is not None and record.finished_at is None else None
        if state in ("restoring", *RESTORED):  # a request whose answer was lost, or an admin's
            return self.follow(unanswered or self.open_record(flags))
        if unanswered is not None and not force:
            raise RestoreMayBeQueued(
                f"an earlier rollback request for import {self.import_id} (at {unanswered.requested_at}) "
                f"may still be queued in Canvas: its answer never arrived, and Canvas shows a queued "
                f"restore only once it starts (the import is `{state}` now). Run the command again in a "
                "few minutes to follow that restore once it has started; if the import still shows "
                f"`{state}` and no restore is under way in Canvas, ask again with --force "
                "(if the first request was queued after all, Canvas restores twice)"
            )
        record = self.open_record(flags)
        progress = self.send(record, before=state)
        if progress is not None:
            record.progress_id = progress["id"]
            self.save()
        return self.follow(record)

    def open_record(self, flags: list[str]) -> RollbackRecord:
        """Save a new record of a rollback about to be asked (or found under way) and return it."""
        record = RollbackRecord(requested_at=isoformat(SystemClock().now()), options=flags)
        self.manifest.rollback = record
        self.save()
        return record

    def close(self, record: RollbackRecord, words: str) -> None:
        """End the record of a request Canvas certainly did not queue (so a rerun asks again)."""
        record.error, record.finished_at = words, isoformat(SystemClock().now())
        self.save()

    def send(self, record: RollbackRecord, *, before: object) -> dict[str, Any] | None:
        """
        PUT restore_states; None when its answer was lost but Canvas started restoring anyway.

        Failures before the request can have arrived (no connection, throttling) are retried;
        when they run out, or Canvas refuses, the record is closed with the words (nothing was
        queued, so the command run again asks again). An answer lost after the request may have
        arrived is never sent again by itself: Canvas queues a restore before the import shows
        `restoring`, so the import is watched for a while, and if it does not start the record
        stays open and the operator is told what to do (`RestoreMayBeQueued`). Started means
        `restoring`, or a final state other than the one it had `before` (a `restore_failed`
        left by an earlier rollback is not this one's end).
        """
        flags = dict.fromkeys(record.options, True)

        def attempt() -> dict[str, Any]:
            return restore_states(self.client, self.import_id, **flags)

        try:
            return self.retried(until_it_may_have_arrived(attempt), "rollback")  # type: ignore[no-any-return]
        except (RestoreRefused, CanvasAuthProblem, CanvasUnavailable) as error:
            self.close(record, error.message)  # every CanvasUnavailable here never reached Canvas
            raise
        except OutcomeUnknown as error:
            watch = min(UNKNOWN_OUTCOME_WAIT_SECONDS, self.config.poll.give_up_after_seconds)
            deadline = time.monotonic() + watch
            while time.monotonic() < deadline:
                now = self.current_state().get("workflow_state")
                if now == "restoring" or (now in FINAL and now != before):
                    return None
                if self.stopping.wait(self.config.poll.interval_seconds):
                    raise KeyboardInterrupt from None
            raise RestoreMayBeQueued(
                f"Canvas's answer to the restore request was lost ({error}) and import {self.import_id} "
                f"did not start restoring within {watch:g} s. Canvas may have queued it: run the command "
                "again in a few minutes to follow it once it has started; if the import still shows "
                f"`{before}` then and no restore is under way in Canvas, ask again with --force"
            ) from None

    def follow(self, record: RollbackRecord) -> RollbackRecord:
        """
        Poll the Progress (or, without one, the import) until the restore ends; record the end.

        After the Progress ends, the import is looked at until Canvas has saved its final state
        (at most `IMPORT_SAVE_WAIT_SECONDS`, or `poll.give_up_after_seconds` if shorter).
        """
        give_up = self.config.poll.give_up_after_seconds
        late = (
            f"Canvas had not finished restoring import {self.import_id} after {give_up:g} s "
            "(poll.give_up_after_seconds); run the command again to follow it"
        )
        if record.progress_id is None:
            first = self.config.poll.interval_seconds
            return self.finish(
                record, self.wait_for(self.final_import, seconds=give_up, first=first, late=late)
            )
        progress = self.wait_for(
            lambda: self.final_progress(record),
            seconds=give_up,
            first=self.config.poll.interval_seconds,
            late=late,
        )
        wait = min(IMPORT_SAVE_WAIT_SECONDS, give_up)
        unsaved = (
            f"Canvas ended the restore's Progress {progress.get('workflow_state')} but import "
            f"{self.import_id} did not show its final state within {wait:g} s; "
            "run the command again to record it"
        )
        first = min(FIRST_IMPORT_LOOK_SECONDS, self.config.poll.interval_seconds)
        sis_import = self.wait_for(self.final_import, seconds=wait, first=first, late=unsaved)
        message = progress.get("message")
        return self.finish(record, sis_import, message if isinstance(message, str) else None)

    def wait_for(
        self, look: Callable[[], dict[str, Any] | None], *, seconds: float, first: float, late: str
    ) -> dict[str, Any]:
        """Call `look`, waiting longer each time, until it finds something; past `seconds` raise `late`."""
        deadline = time.monotonic() + seconds
        interval = first
        while True:
            found = look()
            if found is not None:
                return found
            if time.monotonic() >= deadline:
                raise RollbackFailed(late)
            if self.stopping.wait(interval):
                raise KeyboardInterrupt
            interval = min(interval * GROWTH, self.config.poll.max_interval_seconds)

    def final_progress(self, record: RollbackRecord) -> dict[str, Any] | None:
        """Return the Progress if it ended (`completed`, `failed`); save a new `completion` on the way."""
        assert record.progress_id is not None  # noqa: S101 - only called for a record with a Progress
        progress_id = record.progress_id
        progress: dict[str, Any] = self.retried(lambda: get_progress(self.client, progress_id), "rollback")
        completion = progress.get("completion")
        if isinstance(completion, int | float) and completion != record.completion:
            record.completion = float(completion)
            self.save()
        return progress if progress.get("workflow_state") in PROGRESS_FINAL else None

    def final_import(self) -> dict[str, Any] | None:
        """Return the import if Canvas shows a final state of a restore, else None."""
        sis_import = self.current_state()
        return sis_import if sis_import.get("workflow_state") in FINAL else None

    def finish(
        self, record: RollbackRecord, sis_import: dict[str, Any], message: str | None = None
    ) -> RollbackRecord:
        """Record the import's final state, its statistics, and Canvas's words if it failed."""
        state = str(sis_import.get("workflow_state"))
        data = sis_import.get("data")
        data = data if isinstance(data, dict) else {}
        record.workflow_state = state
        record.statistics = statistics_of(sis_import)
        record.finished_at = isoformat(SystemClock().now())
        if ledger_must_forget(self.config, self.folder, self.manifest):
            record.ledger_forgotten = False  # saved with the end: the request `ledger.forgetting` carries out
        if state not in RESTORED:
            words = data.get("error_message") if isinstance(data.get("error_message"), str) else None
            record.error = "; ".join(text for text in (words, message) if text) or f"Canvas ended it {state}"
        self.save()
        return record
