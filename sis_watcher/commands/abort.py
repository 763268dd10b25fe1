"""
`sis-watcher abort BATCH_ID`: abort the batch's in-flight Canvas import; the batch is filed failed.

Only a batch in the queue whose import Canvas is processing (`importing`, with an import id)
can be aborted: one still uploading (a pre_attachment import waiting for its file included)
has no import in flight yet, and the upload's own recovery would fight an abort, so it is
refused (`pause` stops the next uploads; or wait until it is importing); a filed one is final.
The command leaves its request beside the batch (`pipeline.abort`), then asks Canvas itself
(`PUT .../abort`), so it works the same with or without a daemon:

- the daemon running (it holds the queue's lock): its next poll sees `aborted` and files the
  batch in failed/ with `aborted by operator`; the command waits for that until a deadline (the
  daemon's longest poll interval and a little, at most 10 s) and says which happened; the
  batches behind it go on (Canvas itself waits about 10 minutes after an abort);
- no daemon: the command takes the lock and files the batch itself;
- killed in between: the next start's poll sees `aborted` and files it the same way.

Exit codes: 0 when the import was aborted. 1 when Canvas refused, or could not be reached
before it got the PUT (the request is withdrawn), or did not answer a PUT that may have
arrived: then the request stays, the abort may have happened, and running the command again
finds out (Canvas's 404 then means the import is final, and `aborted` is filed as this abort).
2 for a batch not in flight, and for an import that finished meanwhile (Canvas's 404 without
a PUT of ours that may have arrived): nothing is aborted, the request is withdrawn, and the
batch is filed by Canvas's own verdict.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO, TypeVar

from sis_watcher.batch.filing import file_away
from sis_watcher.batch.folder import Batch
from sis_watcher.batch.ids import batch_folders, names_a_folder
from sis_watcher.batch.lock import FolderLock
from sis_watcher.batch.manifest import BatchState, Manifest, ManifestUnreadable, load_manifest
from sis_watcher.canvas.client import CanvasClient
from sis_watcher.canvas.retry import call_with_retries
from sis_watcher.canvas.verdict import is_terminal, judge
from sis_watcher.commands.decide import forget_pending, who
from sis_watcher.commands.restoring import make_client
from sis_watcher.config.settings import Config
from sis_watcher.core import logs
from sis_watcher.core.clock import SystemClock, isoformat
from sis_watcher.core.errors import CanvasError, CanvasUnavailable, LockHeld, TokenUnavailable
from sis_watcher.core.exit_codes import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK
from sis_watcher.pipeline.abort import (
    AbortRequest,
    leave_request,
    operator_reason,
    read_request,
    remove_request,
)
from sis_watcher.pipeline.poll import absorb

T = TypeVar("T")
DAEMON_WAIT_SECONDS = 10.0
FILING_SLACK_SECONDS = 5.0  # the daemon's poll request, its conclude and the rename, after its interval
WAIT_STEP_SECONDS = 0.1


def in_flight_problem(config: Config, batch_id: str) -> str | int:
    """Return why `batch_id` has no import in flight to abort, or the import id when it has one."""
    folder = config.folders.queue / batch_id
    if not names_a_folder(batch_id):
        return f"{batch_id!r} is not a batch id"
    try:
        manifest = load_manifest(folder)
    except ManifestUnreadable:
        for where in ("done", "failed"):
            if (getattr(config.folders, where) / batch_id).is_dir():
                return f"{batch_id} is already filed in {where}/: its import is final"
        return f"{batch_id} is not a batch in {config.folders.queue}"
    canvas = manifest.canvas
    if manifest.state is not BatchState.IMPORTING or canvas.import_id is None:
        why = (
            "is uploading: its import is not in flight yet; pause or wait, then abort it"
            if manifest.state is BatchState.UPLOADING
            else f"has no import in flight (it is {manifest.state.value})"
        )
        return f"{batch_id} {why}"
    if is_terminal(canvas.workflow_state):
        return f"Canvas import {canvas.import_id} of {batch_id} is already final ({canvas.workflow_state})"
    return canvas.import_id


def withdraw(config: Config, batch_id: str) -> None:
    """Remove this command's request: from the queue, then from where a daemon filed it meanwhile."""
    for root in (config.folders.queue, config.folders.failed, config.folders.done):
        remove_request(root / batch_id)


def run_abort(config: Config, batch_id: str, *, out: TextIO, err: TextIO) -> int:
    """Abort the batch's import in Canvas and see it filed failed; return the exit code."""
    logs.configure(fmt=config.logging.format, level="warning", stream=err)  # retries and faults only
    import_id = in_flight_problem(config, batch_id)
    if isinstance(import_id, str):
        print(f"sis-watcher abort: {import_id}", file=err)
        return EXIT_CONFIG
    folder = config.folders.queue / batch_id
    earlier = read_request(folder)
    asked_before = earlier is not None and earlier.import_id == import_id  # a run whose PUT may have arrived
    if not asked_before:
        try:
            request = AbortRequest(by=who(), at=isoformat(SystemClock().now()), import_id=import_id)
            leave_request(folder, request)
        except OSError as error:  # filed meanwhile (the folder moved), or the queue is not writable
            print(f"sis-watcher abort: cannot leave the abort request beside {batch_id}: {error}", file=err)
            return EXIT_FAILURE
        problem = in_flight_problem(config, batch_id)  # a daemon that filed it as the request was written
        if isinstance(problem, str):
            withdraw(config, batch_id)
            print(f"sis-watcher abort: {problem}", file=err)
            return EXIT_CONFIG
    client = make_client(config, stopping=threading.Event())
    try:
        return ask_canvas(config, client, batch_id, import_id, asked_before=asked_before, out=out, err=err)
    finally:
        client.close()


def ask_canvas(
    config: Config,
    client: CanvasClient,
    batch_id: str,
    import_id: int,
    *,
    asked_before: bool,
    out: TextIO,
    err: TextIO,
) -> int:
    """PUT the abort (an earlier run's may have arrived: `asked_before`); file or report the outcome."""
    may_have_arrived = [asked_before]

    def retried(call: Callable[[], T], step: str) -> T:
        def once() -> T:
            try:
                return call()
            except CanvasUnavailable as error:
                may_have_arrived[0] = may_have_arrived[0] or (
                    step == "abort" and error.request_may_have_arrived
                )
                raise

        return call_with_retries(once, policy=config.retry.policy(), stopping=threading.Event(), step=step)

    try:
        answer = retried(lambda: client.abort_import(import_id), "abort")
        answered = answer is not None
        if answer is None:  # final: finished meanwhile, or aborted by a PUT of ours whose answer was lost
            answer = retried(lambda: client.get_import(import_id), "poll")
            state = answer.get("workflow_state")
            if state != "aborted" or not may_have_arrived[0]:
                withdraw(config, batch_id)
                print(
                    f"sis-watcher abort: Canvas import {import_id} had already finished ({state}); "
                    "nothing aborted",
                    file=err,
                )
                return EXIT_CONFIG
        return file_aborted(config, batch_id, answer, answered=answered, out=out, err=err)
    except TokenUnavailable as error:  # nothing was sent (an earlier run's request stays)
        if not asked_before:
            withdraw(config, batch_id)
        print(f"sis-watcher abort: {error}", file=err)
        return EXIT_CONFIG
    except CanvasError as error:
        if may_have_arrived[0]:
            print(
                f"sis-watcher abort: Canvas did not answer; the abort of import {import_id} may have "
                f"happened; run again ({error.message})",
                file=err,
            )
            return EXIT_FAILURE
        withdraw(config, batch_id)
        print(f"sis-watcher abort: Canvas did not abort import {import_id}: {error.message}", file=err)
        return EXIT_FAILURE


def file_aborted(
    config: Config, batch_id: str, answer: dict[str, Any], *, answered: bool, out: TextIO, err: TextIO
) -> int:
    """File the aborted batch (no daemon), or wait for the running daemon to file it."""
    import_id = answer.get("id")
    lock = FolderLock(config.folders.queue)
    try:
        lock.acquire()
    except LockHeld:
        return wait_for_daemon(config, batch_id, import_id, out=out)
    try:
        folder = config.folders.queue / batch_id
        try:
            manifest = load_manifest(folder)
        except ManifestUnreadable:  # filed by a daemon that stopped since
            return said_filed(batch_id, import_id, filed_manifest(config, batch_id, import_id), out=out)
        batch = Batch(folder, manifest, clock=SystemClock())
        if not batch.state.is_final:
            absorb(batch, answer)
            verdict = judge(batch.manifest.canvas, warnings_are_failures=config.outcome.warnings_are_failures)
            batch.fail(operator_reason(batch, answered=answered) or verdict.reason)
        path = file_away(folder, batch.manifest, folders=config.folders)
        forget_pending(config, batch_id, err=err)
    finally:
        lock.release()
    return said_filed(batch_id, import_id, (path, batch.manifest), out=out)


def filed_manifest(config: Config, batch_id: str, import_id: object) -> tuple[Path, Manifest] | None:
    """Where the batch of `import_id` was filed (done/ or failed/, `<id>` or `<id>.N`), or None."""
    if (config.folders.queue / batch_id / "manifest.json").exists():
        return None
    for root in (config.folders.failed, config.folders.done):
        for folder in batch_folders(root):
            if folder.name != batch_id and not folder.name.startswith(f"{batch_id}."):
                continue
            try:
                manifest = load_manifest(folder)
            except ManifestUnreadable:
                continue
            if manifest.canvas.import_id == import_id:
                return folder, manifest
    return None


def said_filed(batch_id: str, import_id: object, filed: tuple[Path, Manifest] | None, *, out: TextIO) -> int:
    if filed is None:
        print(f"{batch_id}: Canvas import {import_id} aborted; the daemon's next start files it", file=out)
        return EXIT_OK
    path, manifest = filed
    print(
        f"{batch_id}: Canvas import {import_id} aborted; filed {manifest.state.value}: "
        f"{manifest.outcome.reason} (in {path})",
        file=out,
    )
    return EXIT_OK


def wait_for_daemon(config: Config, batch_id: str, import_id: object, *, out: TextIO) -> int:
    """The daemon files it at its next poll: wait for that until a deadline, and say which happened."""
    deadline = time.monotonic() + min(
        DAEMON_WAIT_SECONDS, config.poll.max_interval_seconds + FILING_SLACK_SECONDS
    )
    while (filed := filed_manifest(config, batch_id, import_id)) is None and time.monotonic() < deadline:
        time.sleep(WAIT_STEP_SECONDS)
    if filed is not None:
        return said_filed(batch_id, import_id, filed, out=out)
    print(
        f"{batch_id}: Canvas aborted import {import_id}; the daemon will file it failed at its next poll",
        file=out,
    )
    return EXIT_OK
