"""
Stage: check and zip a queued batch (queued -> zipped, or -> failed before any upload).

1. Inspect every original: sha256, CSV type and data rows, and, unless `validation.mode` is
   `off`, every pre-flight problem. A dropped `.zip` is inspected member by member and will be
   uploaded as it is.
2. `strict`: any error fails the batch here, its reason naming file, row and problem, and no
   request reaches Canvas. `warn`: problems are logged and the batch goes on. `off`: no checks.
3. The shrink guard (unless the batch was retried with `--force`).
4. Zip the CSVs (the trigger file stays out: Canvas warns about every non-CSV member).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sis_watcher.archive import sha256_of, write_zip
from sis_watcher.guard import describe, find_shrinks
from sis_watcher.logs import get_logger
from sis_watcher.manifest import (
    ZIP_NAME,
    BatchState,
    Manifest,
    MemberEntry,
    ProblemEntry,
    ValidationRecord,
    ZipMember,
    ZipRecord,
)
from sis_watcher.pipeline import Pipeline
from sis_watcher.validation import FileReport, validate_file, validate_zip

log = get_logger()
PROBLEMS_KEPT = 200
PROBLEMS_LOGGED = 50
PROBLEMS_IN_REASON = 3


def inspect(batch_dir: Path, manifest: Manifest, *, checks: bool) -> list[FileReport]:
    """Validate (or just type and count) every original file of the batch."""
    reports = []
    for entry in manifest.files:
        path = batch_dir / entry.name
        if manifest.source == "zip":
            reports.append(validate_zip(path, display_name=entry.name, checks=checks))
        else:
            reports.append(validate_file(path, display_name=entry.name, checks=checks))
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
                MemberEntry(name=member.name, bytes=member.bytes, csv_type=member.csv_type, rows=member.rows)
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


def zip_originals(batch_dir: Path, manifest: Manifest, pipeline: Pipeline) -> None:
    """Zip the batch's CSVs into batch.zip and record sizes and checksums."""
    members = [(entry.name, batch_dir / entry.name) for entry in manifest.files]
    result = write_zip(
        members, batch_dir / ZIP_NAME, workers=pipeline.zip_workers, stopping=pipeline.stopping
    )
    by_name = {member.name: member for member in result.members}
    for entry in manifest.files:
        entry.sha256 = by_name[entry.name].sha256
    manifest.zip = ZipRecord(
        name=ZIP_NAME,
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


def prepare(batch_dir: Path, manifest: Manifest, pipeline: Pipeline) -> None:
    """Take a queued batch to `zipped`, or to `failed` when it must not be uploaded."""
    config = pipeline.config
    if not manifest.files:
        trigger = f" (only the trigger file {manifest.trigger_file})" if manifest.trigger_file else ""
        pipeline.fail(manifest, f"the batch has no export files{trigger}")
        return
    mode = config.validation.mode
    reports = inspect(batch_dir, manifest, checks=mode != "off")
    record = record_reports(manifest, reports, mode=mode)
    if record.errors or record.warnings:
        log.warning("validation.finished", errors=record.errors, warnings=record.warnings, mode=mode)
        log_problems(record)
    if mode == "strict" and record.errors:
        pipeline.fail(manifest, validation_reason(record))
        return
    limit = config.guard.max_shrink_percent
    if limit is not None and not manifest.force:
        shrinks = find_shrinks(
            manifest, max_shrink_percent=limit, queue=config.folders.queue, done=config.folders.done
        )
        if shrinks:
            pipeline.fail(manifest, describe(shrinks, max_shrink_percent=limit, batch_id=manifest.batch_id))
            return
    if manifest.source == "zip":
        use_dropped_zip(batch_dir, manifest)
    else:
        zip_originals(batch_dir, manifest, pipeline)
    pipeline.advance(manifest, BatchState.ZIPPED)
