"""
The preview: what a batch will change in Canvas, against what sis-watcher has already imported.

Most rows of a nightly export are the rows of the night before, byte for byte, so each row is
first fingerprinted and looked up among the ledger's rows of its type (`fingerprints`): a row
found there is unchanged, and nothing more is done with it. Only the other rows (new, changed,
deleted, or the same values written differently, say padded) are read as Canvas reads them,
keyed (`identity.key_of`) and put into a temporary table `incoming` (a key seen twice keeps the
last row, as Canvas does); one join with the ledger then sorts them in Python (`classify`):

- added: the key is not in the ledger;
- updated: a column this file supplies has another value (compared column by column when the
  file's columns differ from the ones that last sent the row); the same values are unchanged;
- deleted: the row's status asks Canvas to delete it;
- dropped: rows the batch lacks that Canvas removes anyway (`classify.find_dropped`).

A type the ledger holds no row of is *new to the ledger*: every row is added (or deleted), so
its rows are only counted here, `changes.csv` says so in one line, and the apply reads the
batch's file again to record them (`apply.record_new`). A first night of 16M rows so costs one
read of each row here, not a hash and a table insert.

Every change goes into the temporary table `changes`; with a `batch_id` they are kept as the
ledger's pending rows of this batch, to be applied when it is filed in done/. The preview
itself writes nothing else, so `sis-watcher preview` runs it on a read-only ledger.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from sis_watcher.core.errors import Stopping
from sis_watcher.ledger.changes import ChangeSet, TypeChanges
from sis_watcher.ledger.classify import DROP_TEMP, TEMP_SCHEMA, classify, find_dropped, keep_last
from sis_watcher.ledger.fingerprints import KnownRows, load_known
from sis_watcher.ledger.placement import Placer, import_rank
from sis_watcher.ledger.reading import FIRST_ROW, Source, is_row
from sis_watcher.ledger.records import Recorder
from sis_watcher.ledger.report import write_changes_csv
from sis_watcher.ledger.scope import ImportScope
from sis_watcher.ledger.store import Ledger

CHUNK_ROWS = 50_000
NEW_TO_LEDGER = "new"
NOTED_TYPES = frozenset({"term", "course", "section"})  # small files whose every row placing needs
BLANK_LINE = b" \t,"


class Scan:
    """One preview's pass over the batch's rows: fills `incoming`, counts the new types."""

    def __init__(self, ledger: Ledger, scope: ImportScope, should_stop: Callable[[], bool]) -> None:
        self.ledger = ledger
        self.scope = scope
        self.should_stop = should_stop
        self.known: dict[str, KnownRows] = {}
        self.new_types: dict[str, TypeChanges] = {}
        self.new_files: list[tuple[str, str, str]] = []
        self.ordinal = 0  # every row of the batch, in order: which of two rows of a key is the last
        self.placer = Placer(ledger.db)
        self.terms: set[str] = set()  # every term of the batch's terms.csv, for multi-term batch mode
        self.superseding: dict[str, int] = {}

    def source(self, source: Source) -> None:
        csv_type = source.csv_type
        if csv_type not in self.known and csv_type not in self.new_types:
            if not self.ledger.has_rows(csv_type):
                self.new_types[csv_type] = TypeChanges()
            else:
                self.known[csv_type] = load_known(self.ledger, csv_type, data_set=self.scope.data_set)
        if csv_type in self.new_types:
            self.count_new(source)
        else:
            self.match(source, self.known[csv_type])

    def recorder(self, source: Source) -> Recorder:
        return Recorder(
            source, self.placer, fingerprint=self.ledger.fingerprint, skip_deletes=self.scope.skip_deletes
        )

    def count_new(self, source: Source) -> None:
        """
        Count a new type's rows: each is added, unless its status deletes it.

        Rows, not keys, are counted (a key sent twice counts twice): telling keys apart would
        cost what this path saves on a first night. Courses and sections are also noted for
        the batch's own enrollments and sections (`placement`), and terms for multi-term mode.
        """
        counts = self.new_types[source.csv_type]
        status = source.columns.index("status") if "status" in source.columns else None
        noted = source.csv_type in NOTED_TYPES
        for count, (_number, cells) in enumerate(source.rows, start=1):
            if count % CHUNK_ROWS == 0 and self.should_stop():
                raise Stopping("shutdown during the preview")
            if noted:
                self.note(source, cells)
            value = cells[status].strip().lower() if status is not None and status < len(cells) else ""
            if value.startswith("deleted") and source.csv_type != "login":
                if not self.scope.skip_deletes:
                    counts.deleted += 1
            else:
                counts.added += 1
        self.new_files.append((source.csv_type, source.origin, source.name))

    def match(self, source: Source, known: KnownRows) -> None:
        """Look the rows up by fingerprint, a chunk at a time; record the ones not found."""
        if source.csv_type not in NOTED_TYPES and source.is_line_safe():
            self.match_lines(source, known)
            return
        recorder = self.recorder(source)
        rows: list[list[str]] = []
        numbers: list[int] = []
        number = FIRST_ROW - 1
        noted = source.csv_type in NOTED_TYPES
        for cells in source.records:  # the hot loop: 2M rows a night; is_row only for odd ones
            number += 1
            if not (cells and cells[0]) and not is_row(cells):
                continue
            if noted:
                self.note(source, cells)
            rows.append(cells)
            numbers.append(number)
            if len(rows) >= CHUNK_ROWS:
                self.flush(recorder, known, rows, numbers)
        self.flush(recorder, known, rows, numbers)

    def match_lines(self, source: Source, known: KnownRows) -> None:
        """
        The fast path, for a file whose every record is one line: fingerprint raw lines.

        A line found in the ledger is not even parsed; the others are parsed one by one.
        """
        recorder = self.recorder(source)
        number = FIRST_ROW
        with source.line_blocks() as blocks:
            for lines in blocks:
                self.flush_lines(recorder, known, lines, first_number=number)
                number += len(lines)

    def flush_lines(
        self, recorder: Recorder, known: KnownRows, lines: list[bytes], *, first_number: int
    ) -> None:
        """
        Match one block of lines; parse and record only those the ledger does not hold.

        Blank lines are looked up too (no ledger row is blank, so none is found) and skipped
        among the rest, as Canvas skips them: no Python step a line for the 99% unchanged.
        """
        if self.should_stop():
            raise Stopping("shutdown during the preview")
        first = self.ordinal
        fps = recorder.prints.of_lines(lines)
        found = known.match(fps, first=first)
        self.ordinal += len(lines)
        records = []
        for index in np.flatnonzero(~found).tolist():
            line = lines[index]
            if not line.strip(BLANK_LINE):
                continue  # a blank row, or one of empty values: Canvas skips it
            cells = next(csv.reader([line.decode("utf-8", "replace")]), [])
            if not is_row(cells):
                continue
            record = recorder.record(first_number + index, cells, fp=int(fps[index]))
            if record is not None:
                records.append((*record, first + index))
        self.insert(records)

    def note(self, source: Source, cells: list[str]) -> None:
        """Note what placing other rows needs of every row of a small type, changed or not."""
        values = source.values_of(cells)
        if source.csv_type == "term":
            if values.get("term_id"):
                self.terms.add(values["term_id"])
        else:
            self.placer.place(source.csv_type, values)

    def flush(self, recorder: Recorder, known: KnownRows, rows: list[list[str]], numbers: list[int]) -> None:
        if self.should_stop():
            raise Stopping("shutdown during the preview")
        first = self.ordinal
        fps = recorder.prints.of_rows(rows)
        found = known.match(fps, first=first)
        self.ordinal += len(rows)
        records = []
        for index in np.flatnonzero(~found).tolist():
            record = recorder.record(numbers[index], rows[index], fp=int(fps[index]))
            if record is not None:
                records.append((*record, first + index))
        self.insert(records)
        rows.clear()
        numbers.clear()

    def insert(self, records: Sequence[tuple[object, ...]]) -> None:
        self.ledger.db.executemany("INSERT INTO incoming VALUES (?,?,?,?,?,?,?,?,?,?,?)", records)

    def seen_at(self, csv_type: str, fps: list[int]) -> list[int]:
        """Return the ordinal of the batch row that last matched each ledger row of `fps` (-1: none)."""
        ordinals: list[int] = self.known[csv_type].seen_at_ordinals(np.array(fps, dtype=np.int64)).tolist()
        return ordinals


def count(ledger: Ledger, scan: Scan, order: list[str]) -> dict[str, TypeChanges]:
    """Return the counts per CSV type, in the batch's order of types."""
    db = ledger.db
    by_type = {name: scan.new_types.get(name) or TypeChanges() for name in order}
    for name, changes in by_type.items():
        changes.ledger_rows = ledger.row_count(name)
    for csv_type, known in scan.known.items():
        by_type[csv_type].unchanged = known.seen_count
    for csv_type, change, number in db.execute(
        "SELECT csv_type, change, count(*) FROM changes GROUP BY 1, 2"
    ):
        changes = by_type[csv_type]
        setattr(changes, change, getattr(changes, change) + int(number))
    for csv_type, number in scan.superseding.items():
        by_type[csv_type].unchanged -= number
    return by_type


def keep_pending(ledger: Ledger, batch_id: str, scan: Scan, *, data_set: str | None) -> None:
    """Keep the previewed changes as the batch's pending rows (one transaction)."""
    with ledger.transaction() as db:
        db.execute("DELETE FROM pending WHERE batch_id = ?", (batch_id,))
        db.execute(
            "INSERT INTO pending SELECT ?, csv_type, key, change, fp, columns, vals, "
            "term, course, data_set, file, row FROM changes",
            (batch_id,),
        )
        db.executemany(
            "INSERT INTO pending (batch_id, csv_type, key, change, file, columns, data_set) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                (
                    batch_id,
                    csv_type,
                    f"{NEW_TO_LEDGER}:{origin}:{name}",
                    NEW_TO_LEDGER,
                    origin,
                    name,
                    data_set,
                )
                for csv_type, origin, name in scan.new_files
            ),
        )


def preview(
    ledger: Ledger,
    sources: list[Source],
    *,
    scope: ImportScope,
    batch_id: str | None = None,
    changes_csv: Path | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> ChangeSet:
    """
    Return what `sources` will change; with a `batch_id`, keep the changes as its pending rows.

    `changes_csv`, if given, is written with every changed key. Raise `Stopping` soon after
    `should_stop()` turns true (nothing is kept then).
    """
    db = ledger.db
    db.executescript(TEMP_SCHEMA)
    try:
        scan = Scan(ledger, scope, should_stop)
        order: list[str] = []
        for source in sorted(sources, key=lambda item: import_rank(item.csv_type)):  # as Canvas does
            order += [source.csv_type] if source.csv_type not in order else []
            scan.source(source)
        keep_last(db)
        scan.superseding = classify(db, data_set=scope.data_set, seen_at=scan.seen_at)
        for csv_type, known in scan.known.items():
            db.executemany("INSERT INTO unseen VALUES (?, ?)", ((csv_type, fp) for fp in known.unseen()))
        notes: list[str] = []
        find_dropped(db, order, scope, notes, batch_terms=sorted(scan.terms))
        result = ChangeSet(by_type=count(ledger, scan, order), baseline=ledger.last_applied(), notes=notes)
        if changes_csv is not None:
            write_changes_csv(db, changes_csv, new_types=scan.new_types)
            result.csv = changes_csv.name
        if batch_id is not None:
            keep_pending(ledger, batch_id, scan, data_set=scope.data_set)
    finally:
        db.executescript(DROP_TEMP)
    return result
