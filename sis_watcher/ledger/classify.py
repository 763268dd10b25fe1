"""
The preview's SQL: sorting rows into added, updated, unchanged and deleted; finding the dropped.

These are the batch's rows that are not byte-for-byte ledger rows.

`incoming` holds those rows (a key seen twice keeps its last row, as Canvas does: the later
duplicates are deleted before anything is compared), `unseen` the fingerprints of the ledger's
rows no batch row matched, and `changes` the result, one row per changed key.
"""

from __future__ import annotations

import sqlite3

from sis_watcher.ledger.identity import BATCH_MODE_TYPES
from sis_watcher.ledger.records import joined, values_of
from sis_watcher.ledger.scope import ImportScope

DROP_TEMP = """
DROP TABLE IF EXISTS temp.incoming;
DROP TABLE IF EXISTS temp.changes;
DROP TABLE IF EXISTS temp.unseen;
"""
TEMP_SCHEMA = (
    DROP_TEMP
    + """
CREATE TEMP TABLE incoming (
    csv_type TEXT NOT NULL, key TEXT NOT NULL, fp INTEGER NOT NULL, columns TEXT NOT NULL,
    vals TEXT NOT NULL, deleted INTEGER NOT NULL, term TEXT, course TEXT, file TEXT, row INTEGER,
    ord INTEGER NOT NULL
);
CREATE TEMP TABLE changes (
    csv_type TEXT NOT NULL, key TEXT NOT NULL, change TEXT NOT NULL, fp INTEGER,
    columns TEXT, vals TEXT, term TEXT, course TEXT, data_set TEXT,
    file TEXT, row INTEGER, changed TEXT, PRIMARY KEY (csv_type, key)
) WITHOUT ROWID;
CREATE TEMP TABLE unseen (csv_type TEXT NOT NULL, fp INTEGER NOT NULL);
"""
)


def keep_last(db: sqlite3.Connection) -> None:
    """Keep each key's last row in `incoming` (as Canvas does), and index it by key."""
    db.execute(
        "DELETE FROM incoming WHERE rowid NOT IN (SELECT max(rowid) FROM incoming GROUP BY csv_type, key)"
    )
    db.execute("CREATE UNIQUE INDEX temp.incoming_by_key ON incoming (csv_type, key)")


def classify(db: sqlite3.Connection, *, data_set: str | None) -> None:
    """Fill `changes` with every deleted, added, updated and unchanged row of `incoming`."""
    db.execute(
        """INSERT INTO changes
           SELECT i.csv_type, i.key, 'deleted', NULL, NULL, NULL, NULL, NULL, NULL, i.file, i.row, NULL
           FROM incoming i WHERE i.deleted"""
    )
    db.execute(
        """INSERT INTO changes
           SELECT i.csv_type, i.key,
                  CASE WHEN r.key IS NULL THEN 'added'
                       WHEN r.columns = i.columns AND r.vals = i.vals THEN 'unchanged'
                       ELSE 'updated' END,
                  i.fp, i.columns, i.vals, i.term, i.course, ?, i.file, i.row, NULL
           FROM incoming i LEFT JOIN main.rows r ON r.csv_type = i.csv_type AND r.key = i.key
           WHERE NOT i.deleted""",
        (data_set,),
    )
    compare_columns(db)


def compare_columns(db: sqlite3.Connection) -> None:
    """
    Compare each updated row column by column with the ledger's.

    Name the columns that change, keep the ledger's values of columns the file leaves blank or
    out, and call a row whose supplied values are all the same unchanged.
    """
    found = db.execute(
        """SELECT c.csv_type, c.key, c.columns, c.vals, r.columns, r.vals FROM changes c
           JOIN main.rows r ON r.csv_type = c.csv_type AND r.key = c.key
           WHERE c.change = 'updated'"""
    ).fetchall()
    updates = []
    for csv_type, key, columns, vals, old_columns, old_vals in found:
        new, old = values_of(columns, vals), values_of(old_columns, old_vals)
        # A blank cell is an absent column (Canvas keeps the value): only values the file gives count.
        changed = [
            column for column in columns.split(",") if column in new and new[column] != old.get(column)
        ]
        merged_columns, merged_vals = joined(columns, {**old, **new})
        change = "updated" if changed else "unchanged"
        updates.append((change, ";".join(changed), merged_columns, merged_vals, csv_type, key))
    db.executemany(
        "UPDATE changes SET change = ?, changed = ?, columns = ?, vals = ? WHERE csv_type = ? AND key = ?",
        updates,
    )


def drop_terms(scope: ImportScope, batch_terms: list[str]) -> list[str] | None:
    """Return the SIS term ids batch mode cleans up (None when they cannot be known here)."""
    if scope.multi_term_batch_mode:
        return batch_terms
    return sorted(scope.batch_mode_terms) if scope.batch_mode_terms is not None else None


def find_dropped(
    db: sqlite3.Connection, types: list[str], scope: ImportScope, notes: list[str], *, batch_terms: list[str]
) -> None:
    """
    Add to `changes` the ledger's rows Canvas removes because the batch lacks them.

    In batch mode, the courses, sections and enrollments of the batch's term(s), for those of
    the three types the batch supplies; in diffing mode, the rows of a supplied type last sent
    with the same data set identifier (docs/canvas.md §A5). Only rows no batch row matched by
    fingerprint (`unseen`) and whose key is not in `incoming` can be lacking.
    """
    select = """INSERT INTO changes
        SELECT r.csv_type, r.key, 'dropped', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
        FROM main.rows r
        WHERE r.csv_type = ? AND r.fp IN (SELECT u.fp FROM unseen u WHERE u.csv_type = r.csv_type)
          AND NOT EXISTS (SELECT 1 FROM incoming i WHERE i.csv_type = r.csv_type AND i.key = r.key)"""
    if scope.batch_mode:
        terms = drop_terms(scope, batch_terms)
        if terms is None:
            notes.append(
                "batch_mode_term_id is a Canvas id, not sis_term_id:...: the rows batch mode "
                "drops cannot be counted here"
            )
            return
        marks = ",".join("?" * len(terms))
        for csv_type in (name for name in BATCH_MODE_TYPES if name in types):
            db.execute(f"{select} AND r.term IN ({marks})", (csv_type, *terms))
    elif scope.data_set is not None:
        for csv_type in types:
            db.execute(f"{select} AND r.data_set = ?", (csv_type, scope.data_set))
