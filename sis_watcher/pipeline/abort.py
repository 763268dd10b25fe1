"""
Aborting a batch's in-flight Canvas import: by an operator (`sis-watcher abort`), or on give-up.

Canvas's abort (`PUT .../abort`) sets the import `aborted` at once (docs/canvas.md §1.5). The
batch is then filed by its verdict like any aborted import, but with a reason that says who
aborted it: the command leaves `queue/<id>/.abort.json` (who, when, and which import, written
atomically) beside the batch **before** asking Canvas, so whichever process next sees the
import `aborted` (the running daemon's poll, the command itself without a daemon, or the next
start after a crash) files it with the reason `aborted by operator`.

A request is only a claim that an abort may have been asked for: the command may have been
killed before its PUT, or Canvas's answer lost. So it names the operator only when the import
it names (not an earlier attempt's) ended `aborted` and Canvas did not say it aborted the import
itself (a change_threshold breach, `canvas.verdict.aborted_by_canvas`); a PUT answered by
Canvas settles it. Beside an import that ended any other way it is ignored: Canvas's own
verdict stands. The request is never filed: `batch.filing.file_away` removes it once the
manifest records the outcome, and `retry` drops a stale one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sis_watcher.batch.filing import ABORT_NAME
from sis_watcher.batch.folder import Batch
from sis_watcher.canvas.retry import call_with_retries
from sis_watcher.canvas.verdict import aborted_by_canvas
from sis_watcher.core.durable import DocumentUnreadable, atomic_write_json, read_json_document
from sis_watcher.core.logs import get_logger
from sis_watcher.pipeline.context import StageContext

log = get_logger()
OPERATOR_REASON = "aborted by operator"


@dataclass(frozen=True, slots=True, kw_only=True)
class AbortRequest:
    by: str
    at: str
    import_id: int


def leave_request(batch_dir: Path, request: AbortRequest) -> None:
    """Write the operator's abort request beside the batch (atomically)."""
    atomic_write_json(
        batch_dir / ABORT_NAME, {"by": request.by, "at": request.at, "import_id": request.import_id}
    )


def read_request(batch_dir: Path) -> AbortRequest | None:
    """Return the abort request left beside the batch, or None (also for one that cannot be read)."""
    try:
        document = read_json_document(batch_dir / ABORT_NAME)
    except (OSError, DocumentUnreadable):
        return None
    if not isinstance(document, dict) or not isinstance(document.get("import_id"), int):
        return None
    return AbortRequest(
        by=str(document.get("by")), at=str(document.get("at")), import_id=document["import_id"]
    )


def remove_request(batch_dir: Path) -> None:
    (batch_dir / ABORT_NAME).unlink(missing_ok=True)


def operator_reason(batch: Batch, *, answered: bool = False) -> str | None:
    """
    The reason of a batch an operator aborted, else None.

    `answered`: Canvas answered this process's own PUT with the aborted import, so the abort was
    ours whatever Canvas's messages say.
    """
    canvas = batch.manifest.canvas
    request = read_request(batch.folder)
    if request is None or request.import_id != canvas.import_id or canvas.workflow_state != "aborted":
        return None
    if not answered and aborted_by_canvas(canvas):
        return None
    return f"{OPERATOR_REASON} ({request.by} at {request.at}): Canvas import {canvas.import_id} ended aborted"


def abort_in_canvas(batch: Batch, context: StageContext) -> dict[str, object] | None:
    """Abort the batch's import (retried like any call); None when Canvas says it is already final."""
    import_id = batch.manifest.canvas.import_id
    assert import_id is not None  # noqa: S101 - only called for an import in flight
    aborted = call_with_retries(
        lambda: context.client.abort_import(import_id),
        policy=context.policy,
        stopping=context.stopping,
        step="abort",
    )
    log.warning("import.aborted", import_id=import_id, already_final=aborted is None)
    return aborted
