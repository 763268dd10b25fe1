"""
`changes.csv`: every key a batch adds, updates, deletes or drops, beside its manifest.

Columns `csv_type,change,key,columns`: the key as people read it (its parts joined by `|`), and
the columns the change is about (for an added row the columns it brings, for an updated row the
columns whose values change; none for a removal). Written from the preview's temporary
`changes` table, atomically, so a crash never leaves half a file.
"""

from __future__ import annotations

import csv
import sqlite3
from collections.abc import Mapping
from pathlib import Path

from sis_watcher.core.durable import atomic_write_bytes
from sis_watcher.ledger.changes import TypeChanges
from sis_watcher.ledger.identity import readable_key


class Lines:
    """A write-only text sink for csv.writer that keeps what it is given."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, text: str) -> int:
        self.lines.append(text)
        return len(text)


def write_changes_csv(db: sqlite3.Connection, target: Path, *, new_types: Mapping[str, TypeChanges]) -> None:
    """
    Write `csv_type,change,key,columns` for every added, updated, deleted and dropped key.

    A type the ledger had no row of gets one line instead of one per row: every row of it is
    added (or deleted, by its status), and its file lists them.
    """
    sink = Lines()
    writer = csv.writer(sink, lineterminator="\n")
    writer.writerow(["csv_type", "change", "key", "columns"])
    for csv_type, counts in new_types.items():
        for change, number in (("added", counts.added), ("deleted", counts.deleted)):
            if number:
                writer.writerow(
                    [csv_type, change, "*", f"{number:,} rows: the ledger had no row of this type"]
                )
    for csv_type, change, key, changed, columns in db.execute(
        """SELECT csv_type, change, key, changed, columns FROM temp.changes
           WHERE change != 'unchanged' ORDER BY csv_type, change, key"""
    ):
        shown = {"updated": changed, "added": (columns or "").replace(",", ";")}.get(change)
        writer.writerow([csv_type, change, readable_key(key), shown or ""])
    atomic_write_bytes(target, "".join(sink.lines).encode("utf-8"))
