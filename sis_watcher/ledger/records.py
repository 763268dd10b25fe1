"""
One CSV row as the ledger records it: its key, values, fingerprint and batch-mode term.

Values are kept as the row's cells as Canvas reads them (stripped), joined by a unit separator
in the order of the file's columns, which are kept beside them: two rows of files with the same
columns are equal exactly when these strings are.
"""

from __future__ import annotations

from sis_watcher.ledger.fingerprints import Fingerprinter
from sis_watcher.ledger.identity import RUBY_WHITESPACE, VALUE_SEPARATOR, is_deleted, key_of
from sis_watcher.ledger.placement import Placer
from sis_watcher.ledger.reading import Source

# The column order of the preview's `incoming` table and of the apply's staging table.
Record = tuple[str, str, int, str, str, int, str | None, str | None, str, int]


class Recorder:
    """Turns the rows of one source into ledger records (None for a row without a key)."""

    def __init__(
        self, source: Source, placer: Placer, *, fingerprint: str, skip_deletes: bool = False
    ) -> None:
        self.source = source
        self.placer = placer
        self.skip_deletes = skip_deletes
        self.columns = ",".join(source.columns)
        self.prints = Fingerprinter(fingerprint, source.csv_type, self.columns)
        self.status = source.columns.index("status") if "status" in source.columns else None
        self.width = len(source.columns)

    def record(self, number: int, cells: list[str], *, fp: int) -> Record | None:
        source = self.source
        clean = [cell.strip(RUBY_WHITESPACE) for cell in cells[: self.width]]
        values = {column: value for column, value in zip(source.columns, clean, strict=False) if value}
        key = key_of(source.csv_type, values)
        if key is None:
            return None
        deleted = source.csv_type != "login" and is_deleted(values)  # logins: forced active
        if deleted and self.skip_deletes:
            return None  # Canvas skips these rows (docs/canvas.md §1.1)
        term, course = self.placer.place(source.csv_type, values)
        vals = VALUE_SEPARATOR.join(clean + [""] * (self.width - len(clean)))
        return (source.csv_type, key, fp, self.columns, vals, int(deleted), term, course, source.name, number)


def values_of(columns: str, vals: str) -> dict[str, str]:
    """Return {column: value} of a recorded row, blanks left out."""
    return {
        column: value
        for column, value in zip(columns.split(","), vals.split(VALUE_SEPARATOR), strict=False)
        if value
    }


def joined(columns: str, values: dict[str, str]) -> tuple[str, str]:
    """Return the (columns, vals) strings that record `values` (columns in the order given)."""
    names = [name for name in columns.split(",") if name]
    names += sorted(set(values) - set(names))
    return ",".join(names), VALUE_SEPARATOR.join(values.get(name, "") for name in names)
