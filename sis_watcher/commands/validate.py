"""
`sis-watcher validate PATH... [--json]` without the argument parsing: check, print, exit code.

The text report lists each file with its type and row count, then each stored problem as
`ERROR    enrollments.csv row 17, column status: ...`, says how many more of a kind were only
counted, and ends with one summary line. `--json` prints `{"files": [...], "errors": N,
"warnings": M}` with each file as `FileReport.to_dict()`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from sis_watcher.validation.files import validate_paths
from sis_watcher.validation.model import FileReport, Problem

EXIT_CLEAN = 0
EXIT_PROBLEMS = 1


def run_validate(paths: Sequence[Path], *, as_json: bool, out: TextIO) -> int:
    """
    Validate `paths` (files, folders, zips), write the report to `out`, return the exit code.

    The code is `EXIT_CLEAN` (0) when no file has an error, warnings or not, and
    `EXIT_PROBLEMS` (1) otherwise; a missing path counts as an error, never as a crash.
    """
    reports = validate_paths(paths)
    errors = sum(report.error_count for report in reports)
    warnings = sum(report.warning_count for report in reports)
    if as_json:
        document = {"files": [report.to_dict() for report in reports], "errors": errors, "warnings": warnings}
        json.dump(document, out, indent=2)
        out.write("\n")
    else:
        for report in reports:
            _write_file(report, out)
        out.write(summary_line(len(reports), errors=errors, warnings=warnings) + "\n")
    return EXIT_CLEAN if errors == 0 else EXIT_PROBLEMS


def summary_line(files: int, *, errors: int, warnings: int) -> str:
    """Return the last line of the text report."""
    counted = f"{_plural(files, 'file')} checked: {_plural(errors, 'error')}, {_plural(warnings, 'warning')}."
    if errors:
        return counted + " Canvas would fail or misread these files: fix the errors before uploading."
    if warnings:
        return counted + " Canvas would import them and warn about some rows."
    return counted + " Canvas should import them cleanly."


def describe(report: FileReport) -> str:
    """Return a file's heading: `users.csv: user, 3 rows, 284 bytes`."""
    if report.members or report.name.lower().endswith(".zip"):
        kind = f"zip of {_plural(len(report.members), 'CSV file')}, {_plural(report.rows, 'row')} in all"
    else:
        kind = f"{report.csv_type or 'unknown type'}, {_plural(report.rows, 'row')}"
    return f"{report.name}: {kind}, {_plural(report.bytes, 'byte')}"


def problem_line(problem: Problem) -> str:
    """Return one problem as `ERROR    users.csv row 17, column status: message`."""
    return f"{problem.severity.upper():<8} {problem.location}: {problem.message}"


def _write_file(report: FileReport, out: TextIO, *, indent: str = "") -> None:
    out.write(f"{indent}{describe(report)}\n")
    out.writelines(f"{indent}  {problem_line(problem)}\n" for problem in report.problems)
    for kind, count in report.problem_counts.items():
        stored = sum(1 for problem in report.problems if problem.kind == kind)
        if count > stored:
            out.write(
                f"{indent}  ... and {count - stored:,} more {kind} problems in {report.name} (not listed)\n"
            )
    for member in report.members:
        _write_file(member, out, indent=indent + "  ")


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"
