"""
Validation of a zip as Canvas unpacks it (docs/canvas.md §3.2 and §3.5).

Canvas refuses the whole archive when it holds more than 100,000 entries or expands to more than
100 times its own size (never more than 50 GB); it skips unsafe entries (absolute paths, `..`,
symlinks) and `__MACOSX/`, dot-files and desktop.ini without a word; it warns "Skipping unknown
file type" for any other member not ending in `.csv`; and it reads each CSV member like a file.
"""

from __future__ import annotations

import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from sis_watcher.canvas.csv_names import zip_member_is_ignored
from sis_watcher.validation.chunks import CHUNK_BYTES
from sis_watcher.validation.model import FileReport, Kind, ProblemLog
from sis_watcher.validation.rows import CsvCheck

UNIX_SYSTEM = 3
# What zipfile raises for a member it cannot read: bad CRC or data, encryption, unknown method.
MEMBER_READ_ERRORS = (zipfile.BadZipFile, RuntimeError, NotImplementedError, zlib.error, EOFError, OSError)


@dataclass(frozen=True, slots=True)
class ZipLimits:
    """Canvas's unzip limits (canvas_unzip `Limits`)."""

    max_entries: int = 100_000
    max_expansion: int = 100
    max_bytes: int = 50 << 30


CANVAS_ZIP_LIMITS = ZipLimits()


def member_is_unsafe(info: zipfile.ZipInfo) -> bool:
    """Return True for entries Canvas's unzip skips: absolute paths, `..` parts and symlinks."""
    name = info.filename.replace("\\", "/")
    absolute = name.startswith("/") or (len(name) > 1 and name[1] == ":")
    is_symlink = info.create_system == UNIX_SYSTEM and stat.S_ISLNK(info.external_attr >> 16)
    return absolute or ".." in PurePosixPath(name).parts or is_symlink


def check_zip(
    path: Path,
    *,
    display_name: str,
    checks: bool,
    limits: ZipLimits = CANVAS_ZIP_LIMITS,
    chunk_bytes: int = CHUNK_BYTES,
) -> FileReport:
    """Return the report of the zip at `path`, its CSV members in `members`; no exception escapes."""
    log = ProblemLog(display_name)
    size = 0
    try:
        size = path.stat().st_size
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            if checks and not _within_limits(log, infos, size=size, limits=limits):
                return log.report(csv_type=None, rows=0, size=size)
            members = tuple(
                _check_member(
                    archive, info, display_name=display_name, checks=checks, chunk_bytes=chunk_bytes
                )
                for info in infos
                if _member_is_csv(log, info, checks=checks)
            )
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
        log.add(
            Kind.ZIP_UNREADABLE,
            f"The zip cannot be read ({error}); Canvas would fail the import. Make the archive again.",
        )
        return log.report(csv_type=None, rows=0, size=size)
    if checks and not members:
        log.add(
            Kind.ZIP_NO_CSV,
            "The zip holds no CSV files Canvas would read, so the import would do nothing. "
            "Check that the export put its .csv files into the archive.",
        )
    rows = sum(member.rows for member in members)
    return log.report(csv_type=None, rows=rows, size=size, members=members)


def _within_limits(log: ProblemLog, infos: list[zipfile.ZipInfo], *, size: int, limits: ZipLimits) -> bool:
    if len(infos) > limits.max_entries:
        log.add(
            Kind.ZIP_TOO_MANY_FILES,
            f"The zip holds {len(infos):,} entries; Canvas refuses archives with more than "
            f"{limits.max_entries:,} and fails the import. Split the export into several batches.",
        )
        return False
    expanded = sum(info.file_size for info in infos)
    allowed = min(size * limits.max_expansion, limits.max_bytes)
    if expanded > allowed:
        log.add(
            Kind.ZIP_TOO_LARGE,
            f"The zip expands to {expanded:,} bytes, more than Canvas allows for it ({allowed:,} bytes: "
            f"{limits.max_expansion} times the zip's size, at most {limits.max_bytes:,}); Canvas would "
            "fail the import. Split the export or compress it less.",
        )
        return False
    return True


def _member_is_csv(log: ProblemLog, info: zipfile.ZipInfo, *, checks: bool) -> bool:
    """Return True for members Canvas imports as CSV; log what it skips (when `checks`)."""
    if info.is_dir():
        return False
    name = info.filename
    is_csv = name.lower().endswith(".csv")
    if member_is_unsafe(info):
        if checks:
            log.add(
                Kind.ZIP_UNSAFE_CSV if is_csv else Kind.ZIP_UNSAFE_OTHER,
                f"The member {name!r} is a symlink or has an absolute or '..' path; Canvas skips it "
                "without a word"
                + (", so its rows would not be imported." if is_csv else ".")
                + " Store plain files with relative names.",
                column=name,
            )
        return False
    if zip_member_is_ignored(name):
        return False
    if not is_csv:
        if checks:
            log.add(
                Kind.ZIP_UNKNOWN_FILE_TYPE,
                f"The member {name!r} is not a .csv file; Canvas skips it with the warning "
                '"Skipping unknown file type". Leave it out of the zip.',
                column=name,
            )
        return False
    return True


def _check_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, *, display_name: str, checks: bool, chunk_bytes: int
) -> FileReport:
    name = f"{display_name}:{info.filename}"
    check = CsvCheck(name, type_hint_name=PurePosixPath(info.filename).name, checks=checks)
    try:
        with archive.open(info) as stream:
            return check.run(stream, size=info.file_size, chunk_bytes=chunk_bytes)
    except MEMBER_READ_ERRORS as error:
        log = ProblemLog(name)
        log.add(
            Kind.UNREADABLE,
            f"This member cannot be read ({error}); Canvas would fail on it too. Make the zip again "
            "without encryption.",
        )
        return log.report(csv_type=None, rows=0, size=info.file_size)
