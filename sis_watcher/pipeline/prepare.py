"""
Stage: check and zip a queued batch (queued -> zipped, or -> failed before any upload).

1. Inspect every original: sha256, CSV type and data rows, and, unless `validation.mode` is
   `off`, every pre-flight problem. A dropped `.zip` is inspected member by member and will be
   uploaded as it is.
2. `strict`: any error fails the batch here, its reason naming file, row and problem, and no
   request reaches Canvas. `warn`: problems are logged and the batch goes on. `off`: no checks.
3. The change preview against the ledger, then the hold rules (`pipeline.hold`): a batch that
   would change too much is held for a person; with `import.skip_unchanged`, one that changes
   nothing is filed done without a request.
4. Zip the CSVs (the trigger file stays out: Canvas warns about every non-CSV member), in a side
   thread while step 1 runs, so a big batch costs about the time of its validation alone.
"""

from __future__ import annotations

import errno
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from sis_watcher.batch.folder import Batch
from sis_watcher.batch.manifest import (
    ZIP_NAME,
    BatchState,
    HoldRecord,
    Manifest,
    MemberEntry,
    ProblemEntry,
    ValidationRecord,
    ZipMember,
    ZipRecord,
)
from sis_watcher.core.errors import Stopping
from sis_watcher.core.logs import get_logger
from sis_watcher.ledger.changes import ChangeSet
from sis_watcher.pipeline.archive import ZipResult, sha256_of, write_zip
from sis_watcher.pipeline.context import StageContext
from sis_watcher.pipeline.hold import hold_reasons, preview_batch
from sis_watcher.validation.files import validate_file, validate_zip
from sis_watcher.validation.model import FileReport, Kind

log = get_logger()
PROBLEMS_KEPT = 200
PROBLEMS_LOGGED = 50
PROBLEMS_IN_REASON = 3


def inspect(batch_dir: Path, manifest: Manifest, *, checks: bool) -> list[FileReport]:
    """
    Validate (or just type and count) every original file of the batch.

    Raise OSError when one of our own batch files cannot be read: that is a local fault to
    retry, not a verdict on the export (the `validate` command reports it instead).
    """
    reports = []
    for entry in manifest.files:
        path = batch_dir / entry.name
        with path.open("rb"):  # missing or unreadable: a local fault (OSError), retried
            pass
        if manifest.source == "zip":
            report = validate_zip(path, display_name=entry.name, checks=checks)
        else:
            report = validate_file(path, display_name=entry.name, checks=checks)
        unreadable = [problem for problem in report.problems if problem.kind == Kind.UNREADABLE]
        if unreadable:
            raise OSError(errno.EIO, f"cannot read the batch's own file: {unreadable[0].message}", str(path))
        reports.append(report)
    return reports


def record_reports(manifest: Manifest, reports: Sequence[FileReport], *, mode: str) -> ValidationRecord:
    """Copy types, rows and problems into the manifest; return the validation record."""
    record = ValidationRecord(mode=mode)
    for entry, report in zip(manifest.files, reports, strict=True):
        entry.bytes = report.bytes
        entry.csv_type = report.csv_type
        entry.rows = report.rows if manifest.source == "csv" else None
        if manifest.source == "zip":
            entry.members = [
                MemberEntry(
                    name=member.name.removeprefix(f"{report.name}:"),
                    bytes=member.bytes,
                    csv_type=member.csv_type,
                    rows=member.rows,
                )
                for member in report.members
            ]
        record.errors += report.error_count
        record.warnings += report.warning_count
    stored = [problem for report in reports for problem in report.errors]
    stored += [problem for report in reports for problem in report.warnings]
    record.problems = [
        ProblemEntry(
            severity=problem.severity.value,
            file=problem.file,
            row=problem.row,
            column=problem.column,
            message=problem.message,
        )
        for problem in stored[:PROBLEMS_KEPT]
    ]
    manifest.validation = record
    return record


def problem_text(problem: ProblemEntry) -> str:
    where = f"{problem.file} row {problem.row}" if problem.row is not None else problem.file
    return f"{where}: {problem.message}"


def validation_reason(record: ValidationRecord) -> str:
    """Return the failure reason: how many errors, and the first few by file and row."""
    errors = [problem for problem in record.problems if problem.severity == "error"]
    shown = "; ".join(problem_text(problem) for problem in errors[:PROBLEMS_IN_REASON])
    more = record.errors - min(len(errors), PROBLEMS_IN_REASON)
    suffix = f" (and {more} more; see manifest.json validation.problems)" if more > 0 else ""
    return f"pre-flight validation found {record.errors} error(s): {shown}{suffix}"


def log_problems(record: ValidationRecord) -> None:
    for problem in record.problems[:PROBLEMS_LOGGED]:
        log.warning(
            "validation.problem",
            severity=problem.severity,
            file=problem.file,
            row=problem.row,
            column=problem.column,
            problem=problem.message,
        )


def zip_originals(batch: Batch, context: StageContext, cancel: threading.Event) -> ZipResult:
    """Zip the batch's CSVs into batch.zip (runs beside validation; touches no manifest)."""
    members = [(entry.name, batch.path(entry.name)) for entry in batch.manifest.files]
    # With the ledger, validation then the preview hold one core all along: deflate takes the other.
    workers = context.zip_workers if context.ledger is None else max(1, context.zip_workers - 1)
    return write_zip(
        members,
        batch.path(ZIP_NAME),
        workers=workers,
        should_stop=lambda: context.stopping.is_set() or cancel.is_set(),
    )


def record_zip(manifest: Manifest, result: ZipResult) -> None:
    """Record the zip's size and checksums, and each original's sha256, in the manifest."""
    by_name = {member.name: member for member in result.members}
    for entry in manifest.files:
        entry.sha256 = by_name[entry.name].sha256
    manifest.zip = ZipRecord(
        name=result.path.name,
        bytes=result.bytes,
        sha256=result.sha256,
        members=[ZipMember(name=member.name, bytes=member.bytes) for member in result.members],
    )
    log.info("archive.written", zip_bytes=result.bytes, members=len(result.members))


def use_dropped_zip(batch_dir: Path, manifest: Manifest) -> None:
    """A dropped zip is uploaded as it is: record it as the batch's zip."""
    entry = manifest.files[0]
    digest = sha256_of(batch_dir / entry.name)
    entry.sha256 = digest
    manifest.zip = ZipRecord(
        name=entry.name,
        bytes=entry.bytes,
        sha256=digest,
        members=[ZipMember(name=member.name, bytes=member.bytes) for member in entry.members or []],
        dropped_as_is=True,
    )


def refusal(record: ValidationRecord, context: StageContext) -> str | None:
    """Return why the batch must not be uploaded at all (strict validation), or None."""
    if context.config.validation.mode == "strict" and record.errors:
        return validation_reason(record)
    return None


def prepare(batch: Batch, context: StageContext) -> None:
    """
    Take a queued batch to `zipped`, or to `failed` when it must not be uploaded.

    The CSVs are zipped in a side thread while they are validated (deflate runs on the other
    core); a batch refused by validation or the guard cancels the zip and keeps no zip.
    """
    manifest = batch.manifest
    if not manifest.files:
        trigger = f" (only the trigger file {manifest.trigger_file})" if manifest.trigger_file else ""
        batch.fail(f"the batch has no export files{trigger}")
        return
    mode = context.config.validation.mode
    cancel = threading.Event()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="zip") as side:
        zipping = side.submit(zip_originals, batch, context, cancel) if manifest.source == "csv" else None
        try:
            reports = inspect(batch.folder, manifest, checks=mode != "off")
            record = record_reports(manifest, reports, mode=mode)
            reason = refusal(record, context)
            changes = preview_batch(batch, context) if reason is None else None
        except BaseException:
            cancel.set()
            raise
        if reason is not None:
            cancel.set()
        result = finish_zipping(zipping, cancelled=reason is not None)
    if record.errors or record.warnings:
        log.warning("validation.finished", errors=record.errors, warnings=record.warnings, mode=mode)
        log_problems(record)
    if reason is not None:
        batch.path(ZIP_NAME).unlink(missing_ok=True)
        batch.fail(reason)
        return
    if result is None:
        use_dropped_zip(batch.folder, manifest)
    else:
        record_zip(manifest, result)
    decide(batch, changes, context)


def decide(batch: Batch, changes: ChangeSet | None, context: StageContext) -> None:
    """Hold the batch, file it unchanged, or make it ready to upload (state saved in each case)."""
    reasons = hold_reasons(batch, changes, context)
    if reasons:
        batch.manifest.hold = HoldRecord(reasons=reasons, held_at=batch.now_text())
        batch.advance(BatchState.HELD, note="; ".join(reason.text for reason in reasons))
        return
    if context.config.import_options.skip_unchanged and changes is not None and not changes.changes_anything:
        batch.finish(
            result="done",
            reason=f"unchanged against the ledger (baseline {changes.baseline}): nothing was sent to Canvas "
            "(import.skip_unchanged)",
        )
        return
    batch.advance(BatchState.ZIPPED)


def finish_zipping(zipping: Future[ZipResult] | None, *, cancelled: bool) -> ZipResult | None:
    """Wait for the side zip; a zip stopped because the batch was refused is not an error."""
    if zipping is None:
        return None
    try:
        return zipping.result()
    except (Stopping, OSError):
        if cancelled:  # the batch is refused anyway; a zip it no longer needs may fail
            return None
        raise
