"""
The worker: one batch at a time, oldest first, each driven from its recorded state to the end.

    queued -> zipped -> uploading -> importing -> reporting -> done | failed -> filed
    queued -> held -> (approve) zipped ... | (discard) failed

Order matters (users before enrollments), so a batch that cannot go on blocks the ones after
it rather than being skipped. What stops a batch, and what then:

- Canvas refuses the token or permission (401, 403, 404): uploads pause; the token is re-read
  and the step tried again at least every minute; no batch is failed for it.
- Canvas unreachable, 5xx, throttled, past `retry.max_elapsed_seconds`: the batch stays where it
  is and the step is tried again after `retry.max_backoff_seconds`; never failed for it.
- A local fault (disk full, permission denied, a vanished folder): logged as
  `batch.step_failed`, the batch stays, the step is retried with backoff; nothing is deleted.
- Canvas rejects the upload (400, 422), validation or the shrink guard says no, or the import
  ends badly: the batch is failed and filed under failed/ with the reason.
- A held batch (the hold rules, `pipeline.hold`) waits for `approve` or `discard`, looked for
  every few seconds; the batches after it wait too.
- The ledger cannot be used (`ledger.unusable`): like a local fault, the batch waits.
- Uploads paused on purpose (`pause`, `schedule.blackout`; `schedule.watch`, asked before
  every create, retried or after a recovery found nothing: `context.may_send`): the import in
  flight finishes; a zipped batch waits, looked at every few seconds, the ones after it queue
  up in order and are validated meanwhile (`ahead`: strict refusals are filed failed).
In `once` mode the first three, a held batch and a pause end the run instead (exit 1), leaving
the batch queued.
"""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import structlog

from sis_watcher.batch.decisions import DECISION_NAME, take_decision
from sis_watcher.batch.filing import file_away
from sis_watcher.batch.folder import Batch
from sis_watcher.batch.ids import batch_folders
from sis_watcher.batch.manifest import BatchState, HoldRecord, Manifest, ManifestUnreadable
from sis_watcher.batch.quarantine import quarantine
from sis_watcher.batch.repair import open_batch
from sis_watcher.core.errors import (
    CanvasAuthProblem,
    CanvasUnavailable,
    Stopping,
    TokenUnavailable,
    UploadRejected,
)
from sis_watcher.core.logs import get_logger
from sis_watcher.ledger.forgetting import RollbackForgetting
from sis_watcher.ledger.store import LedgerUnusable
from sis_watcher.ops.events import PauseNotice
from sis_watcher.pipeline.ahead import CheckAhead
from sis_watcher.pipeline.attempts import UploadsPaused
from sis_watcher.pipeline.conclude import conclude
from sis_watcher.pipeline.context import StageContext
from sis_watcher.pipeline.guard import record_success
from sis_watcher.pipeline.pausing import AuthBlock, Incomplete
from sis_watcher.pipeline.poll import poll
from sis_watcher.pipeline.prepare import prepare
from sis_watcher.pipeline.settle import settle_ledger
from sis_watcher.pipeline.upload import upload
from sis_watcher.schedule.watch import PauseWatch

log = get_logger()
LOCAL_FAULT_FIRST_WAIT = 5.0
IDLE_RECHECK_SECONDS = 5.0
HOLD_RECHECK_SECONDS = 2.0


class Worker:
    """Drives the queue; `run` is the worker thread's body."""

    def __init__(self, *, context: StageContext, wake: threading.Event, once: bool = False) -> None:
        self.pauses = PauseWatch(
            config=context.config, clock=context.clock, monitor=context.monitor, stopping=context.stopping
        )
        self.context = dataclasses.replace(context, may_send=lambda: self.pauses.refresh() is None)
        self.wake = wake
        self.once = once
        self.intake_finished = threading.Event()
        self.done_count = 0  # counts, not the manifests: nothing may grow with batches filed (issue 14)
        self.failed_count = 0
        self.current: Batch | None = None
        self.incomplete: str | None = None
        self.auth_block = AuthBlock(self.context, once=once)  # Canvas refuses the token
        self.trouble_since: float | None = None
        self.trouble_reported = False
        self.local_fault_wait = LOCAL_FAULT_FIRST_WAIT
        self.rollbacks = RollbackForgetting(context.config, context.ledger, clock=context.clock)
        self.ahead = CheckAhead(self.context)

    def run(self) -> None:
        """Process batches until stopped (or, in `once` mode, until the queue is empty)."""
        try:
            while not self.context.stopping.is_set():
                # Read "intake finished" before listing: a batch sealed in between is then seen.
                intake_done = self.intake_finished.is_set()
                self.rollbacks.tick()  # a rollback the ledger must forget (between batches only)
                queued = batch_folders(self.context.config.folders.queue)
                if not queued:
                    if self.once and intake_done:
                        return
                    self.context.monitor.activity(self.pauses.idle_activity(), queued=0)
                    self.wake.wait(IDLE_RECHECK_SECONDS)
                    self.wake.clear()
                    continue
                self.context.monitor.activity(f"working, {len(queued)} queued", queued=len(queued))
                self.attempt(queued[0])
        except Incomplete:
            return
        except Stopping:
            if self.once and self.incomplete is None:
                self.incomplete = "stopped before every batch was processed"
            return

    def attempt(self, batch_dir: Path) -> None:
        """Try to take one batch to the end, handling every way it can be held up."""
        with structlog.contextvars.bound_contextvars(batch_id=batch_dir.name):
            try:
                self.process(batch_dir)
            except (CanvasAuthProblem, TokenUnavailable) as error:
                if (reason := self.auth_block.block(str(error))) is not None:
                    self.incomplete = reason
                    raise Incomplete(reason) from error
            except CanvasUnavailable as error:
                # An outage, throttling, or a look-up refused (`LookupRefused`): only the upload's
                # own answer is a verdict (in `step`), so the batch waits and is tried again.
                log.error(
                    "batch.retry_later",
                    caused_by=str(error),
                    retry_in=self.context.policy.max_backoff_seconds,
                )
                self.held_up(str(error), wait=self.context.policy.max_backoff_seconds)
            except LedgerUnusable as error:
                log.error("ledger.unusable", path=str(error.path), caused_by=str(error))
                if self.context.ledger is not None:
                    self.context.ledger.failed()
                self.held_up_locally(str(error))
            except OSError as error:
                log.error(
                    "batch.step_failed", caused_by=f"{error.__class__.__name__}: {error}", errno=error.errno
                )
                self.held_up_locally(f"local fault: {error}")

    def held_up_locally(self, reason: str) -> None:
        """A local fault (disk, permissions, the ledger): wait longer each time, then try again."""
        self.held_up(reason, wait=min(self.local_fault_wait, self.context.policy.max_backoff_seconds))
        self.local_fault_wait = min(self.local_fault_wait * 2, self.context.policy.max_backoff_seconds)

    def process(self, batch_dir: Path) -> None:
        """Open the batch (from its recorded state), run its remaining steps, file it, report it."""
        context = self.context
        self.current = None
        try:
            manifest = open_batch(batch_dir, drop=context.config.folders.drop, now=context.clock.now())
        except ManifestUnreadable as error:
            self.current = quarantine(batch_dir, reason=str(error), clock=context.clock)
        else:
            if manifest is None:
                return
            self.current = Batch(batch_dir, manifest, clock=context.clock)
        batch = self.current
        if batch.state is BatchState.HELD:  # held before a restart: status and metrics learn of it again
            self.announce_hold(batch)
        while not batch.state.is_final:
            if self.step(batch):  # Canvas answered: a token it refused before works again
                self.auth_block.lift()
        self.finish(batch)

    def step(self, batch: Batch) -> bool:
        """Run the step the batch's state calls for (each saves what it changes); True: Canvas answered."""
        context = self.context
        state = batch.state
        if state is BatchState.QUEUED:
            context.monitor.activity(f"checking and zipping {batch.batch_id}", batch_id=batch.batch_id)
            prepare(batch, context)
            if batch.state is BatchState.HELD:
                self.announce_hold(batch)
        elif state is BatchState.HELD:
            self.wait_for_decision(batch)
        elif state is BatchState.ZIPPED and (pause := self.pauses.refresh()) is not None:
            self.wait_paused(batch, pause)
        elif state in (BatchState.ZIPPED, BatchState.UPLOADING):
            try:
                upload(batch, context)
            except UploadRejected as error:
                batch.fail(f"Canvas refused the upload: {error}")
            except UploadsPaused:
                pass  # back to `zipped`, nothing sent: the next step waits for the pause to end
            return batch.state is BatchState.IMPORTING
        elif state is BatchState.IMPORTING:
            poll(batch, context)
            return True
        else:
            conclude(batch, context)
            return True
        return False

    def wait_paused(self, batch: Batch, pause: PauseNotice) -> None:
        """A zipped batch while uploads are paused on purpose: wait a little (or end a `once` run)."""
        if self.once:
            self.incomplete = f"uploads are {pause.text()}; {batch.batch_id} waits, zipped"
            raise Incomplete(self.incomplete)
        self.rollbacks.tick()  # a pause may last days; a rollback's pending rows are carried over
        if (refused := self.ahead.refused_next(batch.batch_id)) is not None:  # validated behind the head
            with structlog.contextvars.bound_contextvars(batch_id=refused.batch_id):
                self.finish(refused)
            self.current = batch
        self.pauses.wait(batch.batch_id, pause)

    def finish(self, batch: Batch) -> None:
        """File a finished batch into done/ or failed/ and tell the world."""
        config = self.context.config
        manifest = batch.manifest
        if manifest.state is BatchState.DONE:
            if not config.keep_zip and manifest.zip is not None and not manifest.zip.dropped_as_is:
                batch.path(manifest.zip.name).unlink(missing_ok=True)
            record_success(manifest, queue=config.folders.queue, done=config.folders.done)
        (batch.folder / DECISION_NAME).unlink(missing_ok=True)  # a stale one: already carried out
        path = file_away(batch.folder, manifest, folders=config.folders)
        batch.folder = path
        self.current = None
        settle_ledger(self.context.ledger, batch)
        if manifest.state is BatchState.DONE:
            self.done_count += 1
        else:
            self.failed_count += 1
        self.settled(manifest)
        log_method = log.info if manifest.state is BatchState.DONE else log.error
        log_method(
            "batch.filed",
            result=manifest.outcome.result,
            reason=manifest.outcome.reason,
            path=str(path),
            import_id=manifest.canvas.import_id,
        )
        self.context.monitor.batch_filed(manifest, path)

    def announce_hold(self, batch: Batch) -> None:
        """Tell the world once that a batch waits for a person, with its reasons and preview."""
        hold = batch.manifest.hold
        reasons = [reason.text for reason in hold.reasons] if hold else []
        summary = (batch.manifest.changes or {}).get("summary")
        log.warning("batch.held", reasons=reasons, changes=summary)
        self.context.monitor.batch_held(batch.manifest)  # the alert goes out only while not `alerted`
        if hold is not None and not hold.alerted:
            hold.alerted = True
            batch.save()

    def wait_for_decision(self, batch: Batch) -> None:
        """A held batch: carry out a decision left beside it, or wait a little and look again."""
        if take_decision(batch):
            log.info(
                "batch.decided", state=batch.state.value, by=(batch.manifest.hold or HoldRecord()).decided_by
            )
            return
        self.rollbacks.tick()  # a held batch may wait for days; its pending rows are carried over
        reasons = "; ".join(reason.text for reason in (batch.manifest.hold or HoldRecord()).reasons)
        if self.once:
            self.incomplete = f"batch {batch.batch_id} is held ({reasons}): approve or discard it"
            raise Incomplete(self.incomplete)
        self.context.monitor.activity(
            f"held: {batch.batch_id} waits for approve or discard", batch_id=batch.batch_id
        )
        if self.context.stopping.wait(HOLD_RECHECK_SECONDS):
            raise Stopping("shutdown while a batch is held")

    def held_up(self, reason: str, *, wait: float) -> None:
        """A transient or local fault: remember since when, alert if long, wait, try again."""
        if self.once:
            self.incomplete = reason
            raise Incomplete(reason)
        now = self.context.clock.monotonic()
        if self.trouble_since is None:
            self.trouble_since = now
        elapsed = now - self.trouble_since
        limit = self.context.config.alerts.retries_stuck_after_seconds
        if elapsed >= limit and not self.trouble_reported:
            self.trouble_reported = True
            if self.current is not None:
                self.context.monitor.retries_stuck(self.current.manifest, elapsed, reason)
        if self.context.stopping.wait(wait):
            raise Stopping("shutdown while waiting to retry")

    def settled(self, manifest: Manifest) -> None:
        """The batch moved on: clear the trouble bookkeeping."""
        if self.trouble_reported:
            self.context.monitor.retries_recovered(manifest)
        self.trouble_since = None
        self.trouble_reported = False
        self.local_fault_wait = LOCAL_FAULT_FIRST_WAIT
