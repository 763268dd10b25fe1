"""
One upload in, Canvas's verdict out (reference §3.2 to §3.5).

The zip or CSV is opened, each CSV typed by its header and its rows checked, in Canvas's
importer order.

Failures ("Invalid UTF-8", "Couldn't find Canvas CSV import headers", "Malformed CSV") drop the
whole file; row problems are warnings. A zip over Canvas's limits, or not a zip at all, fails the
batch outright (`error_message`, state `failed`).
"""

from __future__ import annotations

import codecs
import csv
import functools
import hashlib
import io
import stat
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from sis_watcher.canvas.csv_types import IMPORT_ORDER, CsvType, detect, zip_member_is_ignored
from sis_watcher.simulator.model.outcome import CsvFile, Outcome, SisMessage
from sis_watcher.simulator.model.rows import check_row
from sis_watcher.simulator.model.settings import SimulatorSettings
from sis_watcher.simulator.model.store import Change, SisStore

READ_CHUNK = 1 << 20
HEADER_PREFIX = 256 * 1024
PASSWORD_COLUMNS = frozenset({"password", "ssha_password"})
CHECK_STOP_EVERY = 4096


class Cancelled(Exception):
    """The simulator is stopping; processing was abandoned."""


def never() -> bool:
    """The default `cancelled` test: processing is never abandoned."""
    return False


Opener = Callable[[], IO[bytes]]


@dataclass(frozen=True, slots=True)
class Source:
    path: str
    open: Opener


def process_upload(
    body: Path,
    *,
    file_name: str,
    import_id: int,
    settings: SimulatorSettings,
    store: SisStore,
    skip_deletes: bool,
    cancelled: Callable[[], bool] = never,
) -> Outcome:
    """
    Process one stored upload named `file_name` (the extension decides, reference §1.1).

    Raise `Cancelled` soon after `cancelled()` turns true.
    """
    outcome = Outcome()
    lowered = file_name.lower()
    if lowered.endswith(".csv"):
        outcome.uncompressed_size = body.stat().st_size
        sources = [Source(file_name, lambda: body.open("rb"))]
        run_sources(
            sources, outcome, import_id=import_id, store=store, skip_deletes=skip_deletes, cancelled=cancelled
        )
    elif lowered.endswith(".zip"):
        try:
            with zipfile.ZipFile(body) as archive:
                sources = zip_sources(archive, body.stat().st_size, settings, outcome)
                if outcome.error_message is None:
                    run_sources(
                        sources,
                        outcome,
                        import_id=import_id,
                        store=store,
                        skip_deletes=skip_deletes,
                        cancelled=cancelled,
                    )
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, NotImplementedError) as error:
            outcome.error_message = f"{type(error).__name__}: {error}"
    return outcome


def unsafe(info: zipfile.ZipInfo) -> bool:
    """Return True for symlinks, absolute paths and `..` (CanvasUnzip skips them, reference §3.5)."""
    is_link = stat.S_ISLNK(info.external_attr >> 16)
    return is_link or info.filename.startswith("/") or ".." in info.filename.split("/")


def zip_sources(
    archive: zipfile.ZipFile, zip_size: int, settings: SimulatorSettings, outcome: Outcome
) -> list[Source]:
    """Return the CSV members to read, warning about others; set `error_message` past the limits."""
    infos = archive.infolist()
    outcome.uncompressed_size = sum(info.file_size for info in infos)
    if len(infos) > settings.max_zip_members:
        outcome.error_message = "CanvasUnzip::FileLimitExceeded"  # reference §3.5
        return []
    byte_limit = min(settings.max_uncompressed_bytes, settings.max_expansion_ratio * zip_size)
    if outcome.uncompressed_size > byte_limit:
        outcome.error_message = "CanvasUnzip::SizeLimitExceeded"  # reference §3.5: 100x the zip
        return []
    sources = []
    for info in infos:
        if info.is_dir() or zip_member_is_ignored(info.filename) or unsafe(info):
            continue
        if not info.filename.lower().endswith(".csv"):
            outcome.add(SisMessage(file=info.filename, message="Skipping unknown file type"))
            continue
        sources.append(Source(info.filename, functools.partial(archive.open, info)))
    return sources


@dataclass(frozen=True, slots=True)
class Scan:
    source: Source
    size: int
    sha256: str
    csv_type: CsvType | None
    problem: str | None


def scan(source: Source) -> Scan:
    """Read a member once: size, sha256, UTF-8 validity (reference §3.4) and its type by header."""
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    prefix = bytearray()
    size = 0
    valid = True
    with source.open() as handle:
        for chunk in iter(lambda: handle.read(READ_CHUNK), b""):
            digest.update(chunk)
            size += len(chunk)
            if len(prefix) < HEADER_PREFIX:
                prefix.extend(chunk[: HEADER_PREFIX - len(prefix)])
            if valid:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    valid = False
    if valid:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            valid = False
    if size == 0:
        return Scan(source, 0, digest.hexdigest(), None, None)
    if not valid:
        return Scan(source, size, digest.hexdigest(), None, "Invalid UTF-8")
    text = bytes(prefix).decode("utf-8-sig", errors="ignore")
    try:
        header = next((row for row in csv.reader(io.StringIO(text, newline=""), strict=True) if row), [])
    except csv.Error:
        return Scan(source, size, digest.hexdigest(), None, "Malformed CSV")
    csv_type = detect(header)
    problem = None if csv_type else "Couldn't find Canvas CSV import headers"
    return Scan(source, size, digest.hexdigest(), csv_type, problem)


def run_sources(
    sources: list[Source],
    outcome: Outcome,
    *,
    import_id: int,
    store: SisStore,
    skip_deletes: bool,
    cancelled: Callable[[], bool] = never,
) -> None:
    """Scan every source, then import the good ones type by type in Canvas's order."""
    scans = [scan(source) for source in sources]
    for item in scans:
        if item.problem is not None:
            outcome.add(SisMessage(file=item.source.path, message=item.problem, failure=True))
            outcome.files.append(csv_file(item, rows=0))
        elif item.size == 0:
            outcome.files.append(csv_file(item, rows=0))
    for csv_type in IMPORT_ORDER:
        typed = [item for item in scans if item.problem is None and item.csv_type is csv_type]
        if typed:
            outcome.supplied.append(csv_type.name)
        for item in typed:
            import_file(
                item,
                csv_type,
                outcome,
                import_id=import_id,
                store=store,
                skip_deletes=skip_deletes,
                cancelled=cancelled,
            )
    order = {source.path: index for index, source in enumerate(sources)}
    outcome.files.sort(key=lambda file: order[file.path])


def csv_file(item: Scan, *, rows: int, attachment_size: int | None = None, filtered: bool = False) -> CsvFile:
    """Describe a scanned member; empty members get no stored attachment (reference §2.6)."""
    base = item.source.path.rsplit("/", 1)[-1]
    name = f"{base.removesuffix('.csv')}_filtered.csv" if filtered else base
    return CsvFile(
        path=item.source.path,
        size=item.size,
        sha256=item.sha256,
        rows=rows,
        csv_type=item.csv_type.name if item.csv_type else None,
        attachment_name=name if item.size else None,
        attachment_size=item.size if attachment_size is None else attachment_size,
    )


class FilteredCopy:
    """The size of a users CSV without its password columns (reference §2.6, `_filtered.csv`)."""

    def __init__(self, csv_type: CsvType, cells: list[str]) -> None:
        lowered = [cell.lower() for cell in cells]
        self.keep = [index for index, name in enumerate(lowered) if name not in PASSWORD_COLUMNS]
        self.active = csv_type.name == "user" and len(self.keep) < len(cells)
        self.size = 0
        self.writer = csv.writer(self, lineterminator="\n")
        self.add(cells)

    def write(self, text: str) -> int:
        self.size += len(text.encode("utf-8"))
        return len(text)

    def add(self, row: list[str]) -> None:
        if self.active:
            self.writer.writerow([row[index] for index in self.keep if index < len(row)])


def row_values(header: list[str], row: list[str]) -> dict[str, str]:
    """Map header to stripped values; empty values are left out (Canvas reads them as nil)."""
    values: dict[str, str] = {}
    for name, cell in zip(header, row, strict=False):
        value = cell.strip()
        if value and name not in values:
            values[name] = value
    return values


@contextmanager
def csv_rows(source: Source) -> Iterator[Iterator[list[str]]]:
    """Open a member as CSV rows (BOM stripped, RFC 4180 quoting enforced, blank lines skipped)."""
    with source.open() as raw, io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as text:
        yield csv.reader(text, strict=True)


def import_file(
    item: Scan,
    csv_type: CsvType,
    outcome: Outcome,
    *,
    import_id: int,
    store: SisStore,
    skip_deletes: bool,
    cancelled: Callable[[], bool] = never,
) -> None:
    """Check every row of one typed CSV; commit its changes unless the file is malformed."""
    messages: list[SisMessage] = []
    changes: list[Change] = []
    imported = rows = 0
    try:
        with csv_rows(item.source) as reader:
            cells = next(row for row in reader if row)
            header = [cell.lower() for cell in cells]
            header_set = frozenset(header)
            copy = FilteredCopy(csv_type, cells)
            for index, row in enumerate(reader):
                if index % CHECK_STOP_EVERY == 0 and cancelled():
                    raise Cancelled
                copy.add(row)
                values = row_values(header, row)
                if not values:
                    continue  # reference §3.4: blank rows, and rows whose values are all empty
                rows += 1
                result = check_row(
                    csv_type, values, header=header_set, store=store, skip_deletes=skip_deletes
                )
                if result.warning is not None:
                    path, info = item.source.path, ",".join(row)
                    messages.append(
                        SisMessage(file=path, message=result.warning, row=index + 2, row_info=info)
                    )
                    continue
                imported += not result.skipped
                if result.change is not None:
                    store.overflowed |= store.size + len(changes) >= store.max_objects
                    if not store.overflowed:
                        changes.append(result.change)
    except csv.Error:
        outcome.add(SisMessage(file=item.source.path, message="Malformed CSV", failure=True))
        outcome.files.append(csv_file(item, rows=0))
        return
    store.apply(changes, batch_id=import_id)
    for message in messages:
        outcome.add(message)
    outcome.rows += rows
    outcome.counts[csv_type.plural] += imported
    attachment_size = copy.size if copy.active else None
    outcome.files.append(csv_file(item, rows=rows, attachment_size=attachment_size, filtered=copy.active))
