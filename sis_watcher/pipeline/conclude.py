"""
Stage: keep Canvas's own report beside the batch and decide its outcome (reporting -> done|failed).

When Canvas reported errors or warnings, its full error file is saved as `errors.csv`
(header `sis_import_id,file,message,row`). That file is written by a delayed job and can appear
a little after the terminal state (docs/canvas.md §2.5), so the import is fetched again a few times,
`poll.interval_seconds` apart;
if it still has no `errors_attachment`, the rows come from the paginated errors endpoint
instead. The download follows the storage redirect without the token. If Canvas cannot be
reached for the report, the step is retried later like any transient failure.

The reason is Canvas's verdict (`canvas.verdict.judge`), with two additions: an import an
operator aborted (`pipeline.abort`) says `aborted by operator` (the request stays until the
batch is filed: a crash before the outcome is saved decides again), and the diffing remaster
failure (docs/canvas.md §A4) names its remedy, `sis-watcher retry --remaster BATCH_ID`: every
later import of that data set fails the same way until one remaster, and a remaster applies
the whole file, so a person decides. When Canvas applied a diffed file whole
(`diffing_threshold_exceeded`), that is logged here and alerted when the batch is filed.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from sis_watcher.batch.folder import Batch
from sis_watcher.batch.manifest import ERRORS_NAME, Manifest
from sis_watcher.canvas.retry import call_with_retries
from sis_watcher.canvas.verdict import first_messages_by_file, judge, needs_remaster, pairs
from sis_watcher.core.durable import atomic_write_bytes
from sis_watcher.core.errors import CanvasAuthProblem, LookupRefused, Stopping
from sis_watcher.core.logs import get_logger
from sis_watcher.pipeline.abort import operator_reason
from sis_watcher.pipeline.context import StageContext

log = get_logger()
ATTACHMENT_LOOKS = 5
FALLBACK_NAME = "canvas-errors.csv"


def report_name(manifest: Manifest) -> str:
    """
    Return the name Canvas's report is saved as: the first name no file of the batch has.

    `errors.csv`, then `canvas-errors.csv`, `canvas-errors-2.csv`, ...: an original file (or the
    trigger file) is never overwritten.
    """
    taken = {entry.name for entry in manifest.files} | {manifest.trigger_file}
    extra = [f"canvas-errors-{number}.csv" for number in range(2, len(taken) + 3)]
    return next(name for name in [ERRORS_NAME, FALLBACK_NAME, *extra] if name not in taken)


def errors_rows_csv(rows: list[dict[str, Any]], import_id: int) -> bytes:
    """Return Canvas's error-file layout built from the errors endpoint's rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["sis_import_id", "file", "message", "row"])
    for row in rows:
        writer.writerow(
            [row.get("sis_import_id", import_id), row.get("file"), row.get("message"), row.get("row")]
        )
    return buffer.getvalue().encode("utf-8")


def fetch_errors_report(batch: Batch, context: StageContext) -> str:
    """Save Canvas's errors file into the batch folder; return how it was obtained."""
    import_id = batch.manifest.canvas.import_id
    assert import_id is not None  # noqa: S101 - the state machine guarantees it
    client = context.client
    target = batch.path(report_name(batch.manifest))
    for look in range(ATTACHMENT_LOOKS):
        sis_import = client.get_import(import_id)
        attachment = sis_import.get("errors_attachment")
        url = attachment.get("url") if isinstance(attachment, dict) else None
        if isinstance(url, str) and url:
            try:
                client.download(url, target)
            except (CanvasAuthProblem, LookupRefused) as error:
                # An expired storage link (403) or a file gone (404) says nothing about our token.
                log.warning("report.download_failed", caused_by=str(error))
                break
            return "errors_attachment"
        wait = context.config.poll.interval_seconds
        if look + 1 < ATTACHMENT_LOOKS and context.stopping.wait(wait):
            raise Stopping("shutdown while waiting for the errors file")
    try:
        rows = client.list_import_errors(import_id)
    except (CanvasAuthProblem, LookupRefused) as error:
        raise ReportUnavailable(str(error)) from None
    atomic_write_bytes(target, errors_rows_csv(rows, import_id))
    return "errors endpoint"


class ReportUnavailable(Exception):
    """Canvas refused both its errors file and its errors API; the batch is filed without them."""


def has_messages(manifest: Manifest) -> bool:
    canvas = manifest.canvas
    return bool(
        canvas.processing_errors or canvas.processing_warnings or canvas.error_count or canvas.warning_count
    )


def conclude(batch: Batch, context: StageContext) -> None:
    """Fetch the errors report if there is one, then set the outcome (`done` or `failed`)."""
    canvas = batch.manifest.canvas
    if has_messages(batch.manifest) and canvas.errors_report is None:
        try:
            source = call_with_retries(
                lambda: fetch_errors_report(batch, context),
                policy=context.policy,
                stopping=context.stopping,
                step="report",
            )
        except ReportUnavailable as error:
            log.warning("report.unavailable", caused_by=str(error))
        else:
            canvas.errors_report = report_name(batch.manifest)
            log.info("report.saved", file=canvas.errors_report, source=source)
            batch.save()
    verdict = judge(canvas, warnings_are_failures=context.config.outcome.warnings_are_failures)
    messages = pairs(canvas.processing_errors) + pairs(canvas.processing_warnings)
    canvas.messages_by_file = first_messages_by_file(messages)
    if messages:
        log.warning(
            "import.messages",
            import_id=canvas.import_id,
            errors=canvas.error_count,
            warnings=canvas.warning_count,
            first_by_file=canvas.messages_by_file,
        )
    reason = operator_reason(batch) or verdict.reason
    if needs_remaster(canvas):
        reason += (
            "; a remaster is required: every later import of this diffing data set fails the same way "
            "until one import is a remaster, which applies the whole file; check the file, then run "
            f"`sis-watcher retry --remaster {batch.batch_id}`"
        )
    if canvas.diffing_threshold_exceeded:
        log.warning("import.diffing_threshold_exceeded", import_id=canvas.import_id)
    batch.finish(result=verdict.result, reason=reason)  # filing removes the abort request, after this
