"""
The preview's SQL: sorting rows into added, updated, unchanged and deleted; finding the dropped.

These are the batch's rows that are not byte-for-byte ledger rows.

`incoming` holds those rows (a key seen twice keeps its last row, as Canvas does: the later
duplicates are deleted before anything is compared), `unseen` the fingerprints of the ledger's
rows no batch row matched, and `changes` the result, one row per changed key.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from sis_watcher.ledger.identity import BATCH_MODE_TYPES, VALUE_SEPARATOR
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


# Each row of `incoming` beside its key's ledger row, if any: one look-up a row (the 1% changed).
INCOMING = """SELECT i.csv_type, i.key, i.fp, i.columns, i.vals, i.deleted, i.term, i.course, i.file, i.row,
       i.ord, r.fp, r.columns, r.vals
FROM incoming i LEFT JOIN main.rows r ON r.csv_type = i.csv_type AND r.key = i.key"""
SeenAt = Callable[[str, list[int]], list[int]]


def classify(db: sqlite3.Connection, *, data_set: str | None, seen_at: SeenAt) -> dict[str, int]:
    """
    Fill `changes` with every deleted, added, updated and unchanged row of `incoming`.

    `seen_at(csv_type, fps)` gives, for ledger rows' fingerprints, the ordinal of the last batch
    row that matched each byte for byte (-1: none): a key also sent identical to the ledger's
    row. When that identical row came last, the key has no change (Canvas keeps the last row);
    when it came first it was counted unchanged, and it is not: return how many such rows per
    type, to take from the unchanged counts.
    """
    found = db.execute(INCOMING).fetchall()
    matched: dict[str, list[int]] = {}
    for row in found:
        if row[11] is not None:
            matched.setdefault(row[0], []).append(row[11])
    ordinals = {csv_type: iter(seen_at(csv_type, fps)) for csv_type, fps in matched.items()}
    superseding: dict[str, int] = {}
    changes: list[tuple[object, ...]] = []
    plain: dict[str, bool] = {}  # columns all named and none twice: cells compare one by one
    for csv_type, key, fp, columns, vals, deleted, term, course, file, number, ordinal, old_fp, *old in found:
        if old_fp is not None:
            matched_at = next(ordinals[csv_type])
            if matched_at > ordinal:
                continue  # the identical row came last: no change
            if matched_at >= 0:
                superseding[csv_type] = superseding.get(csv_type, 0) + 1
        if deleted:
            changes.append((csv_type, key, "deleted", None, None, None, None, None, None, file, number, None))
            continue
        change, changed, kept_columns, kept_vals = "added", None, columns, vals
        if old_fp is not None:
            old_columns, old_vals = old
            if old_columns == columns and old_vals == vals:
                change = "unchanged"
            else:
                change, changed, kept_columns, kept_vals = compare(
                    columns, vals, old_columns, old_vals, plain
                )
        changes.append(
            (
                csv_type,
                key,
                change,
                fp,
                kept_columns,
                kept_vals,
                term,
                course,
                data_set,
                file,
                number,
                changed,
            )
        )
    db.executemany("INSERT INTO changes VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", changes)
    return superseding


def compare(
    columns: str, vals: str, old_columns: str, old_vals: str, plain: dict[str, bool]
) -> tuple[str, str, str, str]:
    """
    Compare a row column by column with the ledger's: (change, changed columns, columns, vals).

    Name the columns that change, keep the ledger's values of columns the file leaves blank or
    out, and call a row whose supplied values are all the same unchanged.
    """
    if columns == old_columns and plain.setdefault(columns, is_plain(columns)):
        cells, old_cells = vals.split(VALUE_SEPARATOR), old_vals.split(VALUE_SEPARATOR)
        if len(cells) == len(old_cells):  # the common case: the same file's columns, cell by cell
            pairs = list(zip(columns.split(","), cells, old_cells, strict=False))
            changed = [name for name, cell, old_cell in pairs if cell and cell != old_cell]
            merged = VALUE_SEPARATOR.join([cell or old_cell for _name, cell, old_cell in pairs])
            return ("updated" if changed else "unchanged"), ";".join(changed), columns, merged
    new, old = values_of(columns, vals), values_of(old_columns, old_vals)
    # A blank cell is an absent column (Canvas keeps the value): only values the file gives count.
    changed = [column for column in columns.split(",") if column in new and new[column] != old.get(column)]
    merged_columns, merged_vals = joined(columns, {**old, **new})
    return ("updated" if changed else "unchanged"), ";".join(changed), merged_columns, merged_vals


def is_plain(columns: str) -> bool:
    names = columns.split(",")
    return all(names) and len(set(names)) == len(names)


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
