"""
Pre-flight validation of Canvas SIS CSV files, folders and zips, without Canvas.

The entry points the daemon and `sis-watcher validate` use. Every rule comes from
docs/canvas.md §3.2-§3.5 and §5 through `csv_types`; how rows are read, counted
and numbered, and why each problem is an error or a warning, is written down in
`validation_csv`. Nothing here raises for a bad or missing file: the problem is in the report.

    report = validate_file(Path("enrollments.csv"))
    report.csv_type, report.rows, report.ok, report.errors
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sis_watcher.validation.model import FileReport, Kind, ProblemLog
from sis_watcher.validation.rows import CsvCheck
from sis_watcher.validation.zips import check_zip


def validate_file(path: Path, *, display_name: str | None = None, checks: bool = True) -> FileReport:
    """
    Return the report of the CSV file at `path`, named `display_name` (default: its file name).

    With `checks=False` only `csv_type`, `rows` and `bytes` are worked out (the daemon's
    `validation.mode: off`); a file that cannot be read is still reported as an error.
    """
    name = display_name or path.name
    try:
        size = path.stat().st_size
        with path.open("rb", buffering=0) as stream:
            return CsvCheck(name, type_hint_name=path.name, checks=checks).run(stream, size=size)
    except OSError as error:
        log = ProblemLog(name)
        log.add(
            Kind.UNREADABLE,
            f"The file cannot be read ({error.strerror or error}). Check the path and permissions.",
        )
        return log.report(csv_type=None, rows=0, size=0)


def validate_zip(path: Path, *, display_name: str | None = None, checks: bool = True) -> FileReport:
    """
    Return the report of the zip at `path`: its own problems, and one member report per CSV.

    Members are named `<display_name>:<member path>`. `checks=False` only lists the CSV members
    with their type, rows and size.
    """
    return check_zip(path, display_name=display_name or path.name, checks=checks)


def validate_paths(paths: Sequence[Path]) -> list[FileReport]:
    """
    Return one report per CSV or zip found in `paths`, in order, each named as given.

    A folder stands for its top-level `*.csv` and `*.zip` files, sorted by name; a path ending in
    `.zip` is read as a zip, anything else as a CSV; a path that does not exist is reported as an
    error rather than raised.
    """
    reports: list[FileReport] = []
    for path in paths:
        try:
            reports.extend(_validate_path(path))
        except OSError as error:  # is_dir/exists/iterdir raise e.g. for a name too long or a locked folder
            log = ProblemLog(str(path))
            log.add(
                Kind.UNREADABLE,
                f"This path cannot be read ({error.strerror or error}). Check it and its permissions.",
            )
            reports.append(log.report(csv_type=None, rows=0, size=0))
    return reports


def _validate_path(path: Path) -> list[FileReport]:
    if path.is_dir():
        found = sorted(
            (
                entry
                for entry in path.iterdir()
                if entry.suffix.lower() in {".csv", ".zip"} and entry.is_file()
            ),
            key=lambda entry: entry.name,
        )
        if found:
            return [_validate_one(entry) for entry in found]
        log = ProblemLog(str(path))
        log.add(Kind.NOTHING_TO_CHECK, "The folder holds no .csv or .zip files to check.")
        return [log.report(csv_type=None, rows=0, size=0)]
    if not path.exists():
        log = ProblemLog(str(path))
        log.add(Kind.NOT_FOUND, "No such file or folder. Check the path.")
        return [log.report(csv_type=None, rows=0, size=0)]
    return [_validate_one(path)]


def _validate_one(path: Path) -> FileReport:
    if path.suffix.lower() == ".zip":
        return validate_zip(path, display_name=str(path))
    return validate_file(path, display_name=str(path))
