"""
One upload in, Canvas's verdict out (docs/canvas.md §3.2 to §3.5).

The zip or CSV is opened, each CSV typed by its header and its rows checked, in Canvas's
importer order.

Failures ("Invalid UTF-8", "Couldn't find Canvas CSV import headers", "Malformed CSV") drop the
whole file; row problems are warnings. A zip over Canvas's limits, or not a zip at all, fails the
batch outright (`error_message`, state `failed`).
"""

from __future__ import annotations

import csv
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sis_watcher.canvas.csv_rules import CsvType
from sis_watcher.canvas.csv_types import IMPORT_ORDER
from sis_watcher.simulator.model.outcome import CsvFile, ProcessingOutcome, SisMessage
from sis_watcher.simulator.model.rows import check_row
from sis_watcher.simulator.model.settings import SimulatorSettings
from sis_watcher.simulator.model.sources import Scan, Source, csv_rows, scan, zip_sources
from sis_watcher.simulator.model.store import Change, SisStore

PASSWORD_COLUMNS = frozenset({"password", "ssha_password"})


CHECK_STOP_EVERY = 4096


class Cancelled(Exception):
    """The simulator is stopping; processing was abandoned."""


def never() -> bool:
    """The default `cancelled` test: processing is never abandoned."""
    return False


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportRun:
    """What every file of one import is processed with: its id, the store, the options, a stop test."""

    import_id: int
    store: SisStore
    skip_deletes: bool
    cancelled: Callable[[], bool] = never


def process_upload(
    body: Path,
    *,
    file_name: str,
    import_id: int,
    settings: SimulatorSettings,
    store: SisStore,
    skip_deletes: bool,
    cancelled: Callable[[], bool] = never,
) -> ProcessingOutcome:
    """
    Process one stored upload named `file_name` (the extension decides, docs/canvas.md §1.1).

    Raise `Cancelled` soon after `cancelled()` turns true.
    """
    outcome = ProcessingOutcome()
    run = ImportRun(import_id=import_id, store=store, skip_deletes=skip_deletes, cancelled=cancelled)
    lowered = file_name.lower()
    if lowered.endswith(".csv"):
        outcome.uncompressed_size = body.stat().st_size
        run_sources([Source(file_name, lambda: body.open("rb"))], outcome, run)
    elif lowered.endswith(".zip"):
        try:
            with zipfile.ZipFile(body) as archive:
                sources = zip_sources(archive, body.stat().st_size, settings, outcome)
                if outcome.error_message is None:
                    run_sources(sources, outcome, run)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, NotImplementedError) as error:
            outcome.error_message = f"{type(error).__name__}: {error}"
    return outcome


def run_sources(sources: list[Source], outcome: ProcessingOutcome, run: ImportRun) -> None:
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
            import_file(item, csv_type, outcome, run)
    order = {source.path: index for index, source in enumerate(sources)}
    outcome.files.sort(key=lambda file: order[file.path])


def csv_file(item: Scan, *, rows: int, attachment_size: int | None = None, filtered: bool = False) -> CsvFile:
    """Describe a scanned member; empty members get no stored attachment (docs/canvas.md §2.6)."""
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
    """The size of a users CSV without its password columns (docs/canvas.md §2.6, `_filtered.csv`)."""

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


def import_file(item: Scan, csv_type: CsvType, outcome: ProcessingOutcome, run: ImportRun) -> None:
    """Check every row of one typed CSV; commit its changes unless the file is malformed."""
    store = run.store
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
                if index % CHECK_STOP_EVERY == 0 and run.cancelled():
                    raise Cancelled
                copy.add(row)
                values = row_values(header, row)
                if not values:
                    continue  # docs/canvas.md §3.4: blank rows, and rows whose values are all empty
                rows += 1
                result = check_row(
                    csv_type, values, header=header_set, store=store, skip_deletes=run.skip_deletes
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
    store.apply(changes, batch_id=run.import_id)
    for message in messages:
        outcome.add(message)
    outcome.rows += rows
    outcome.counts[csv_type.plural] += imported
    attachment_size = copy.size if copy.active else None
    outcome.files.append(csv_file(item, rows=rows, attachment_size=attachment_size, filtered=copy.active))
