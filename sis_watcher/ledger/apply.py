"""
Applying a filed batch's changes to the ledger, exactly once, and settling what a crash left.

When a batch lands in done/, its pending rows become the ledger's: added and updated rows are
upserted, deleted and dropped rows removed, and the rows of types new to the ledger read again
from the batch's files, in one transaction that also records the batch as applied and forgets
its pending rows. Rows Canvas reported in the batch's errors file (by file and row) keep their
earlier state. When Canvas applied a diffed file whole (`diffing_threshold_exceeded`), nothing
was dropped by diffing.

`settle` runs at start and before every preview: for each batch with pending rows, in batch
order, a batch in done/ is applied and a batch in failed/ is forgotten (Canvas changed nothing
we count on). A crash anywhere between filing and applying is so repaired exactly once.
"""

from __future__ import annotations

import csv
import io
import sqlite3
from collections.abc import Iterable
from contextlib import ExitStack
from pathlib import Path

import numpy as np

from sis_watcher.batch.ids import batch_folders
from sis_watcher.batch.manifest import Manifest, ManifestUnreadable, load_manifest
from sis_watcher.config.settings import FolderSettings
from sis_watcher.core.logs import get_logger
from sis_watcher.ledger.changes import ChangeSet
from sis_watcher.ledger.fingerprints import Prints, keep_prints
from sis_watcher.ledger.placement import Placer, import_rank
from sis_watcher.ledger.preview import NEW_TO_LEDGER
from sis_watcher.ledger.reading import FIRST_ROW, is_row, sources_of
from sis_watcher.ledger.records import Recorder
from sis_watcher.ledger.store import Ledger

log = get_logger()
STAGE_ROWS = 10_000
STAGING = """CREATE TEMP TABLE staging (
    csv_type TEXT NOT NULL, key TEXT NOT NULL, fp INTEGER NOT NULL, columns TEXT NOT NULL,
    vals TEXT NOT NULL, deleted INTEGER NOT NULL, term TEXT, course TEXT, file TEXT, row INTEGER)"""
KEPT = """NOT EXISTS (SELECT 1 FROM temp.errored e WHERE e.row = p.row AND e.file = p.file)"""
UPSERT = f"""INSERT INTO rows (csv_type, key, fp, columns, vals, term, course, data_set, batch_id)
    SELECT p.csv_type, p.key, p.fp, p.columns, p.vals, p.term, p.course, p.data_set, p.batch_id
    FROM pending p
    WHERE p.batch_id = ? AND p.change IN ('added', 'updated', 'unchanged') AND {KEPT}
    ON CONFLICT (csv_type, key) DO UPDATE SET fp = excluded.fp, columns = excluded.columns,
        vals = excluded.vals, term = excluded.term, course = excluded.course,
        data_set = coalesce(excluded.data_set, rows.data_set), batch_id = excluded.batch_id"""
# A batch without a diffing data set leaves a row's data set as it was: Canvas diffs a data set's
# file against that data set's last one, whatever other imports sent between them.
# The fingerprints a batch takes out of the ledger (rows it replaces or removes), and puts in.
REPLACED = f"""SELECT r.fp FROM pending p JOIN rows r ON r.csv_type = p.csv_type AND r.key = p.key
    WHERE p.batch_id = ? AND p.csv_type = ? AND p.change != 'new' AND {KEPT}"""
WRITTEN = f"""SELECT p.fp FROM pending p
    WHERE p.batch_id = ? AND p.csv_type = ? AND p.change IN ('added', 'updated', 'unchanged') AND {KEPT}"""
REMOVE = f"""DELETE FROM rows WHERE (csv_type, key) IN (
    SELECT p.csv_type, p.key FROM pending p
    WHERE p.batch_id = ? AND p.change IN ('deleted', 'dropped') AND {KEPT})"""


def fps_of(db: sqlite3.Connection, query: str, batch_id: str, csv_type: str) -> Prints:
    return np.fromiter((fp for (fp,) in db.execute(query, (batch_id, csv_type))), dtype=np.int64)


def errored_rows(batch_dir: Path, manifest: Manifest) -> set[tuple[str, int]]:
    """Return the (file, row) pairs of Canvas's errors file for the batch, if it kept one."""
    name = manifest.canvas.errors_report
    if name is None:
        return set()
    try:
        text = (batch_dir / name).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    found = set()
    for entry in csv.DictReader(io.StringIO(text)):
        file, row = entry.get("file"), entry.get("row")
        if file and row and row.strip().isdigit():
            found.add((file, int(row)))
    return found


def stage_new(
    db: sqlite3.Connection, batch_id: str, batch_dir: Path, errored: set[tuple[str, int]], *, fingerprint: str
) -> None:
    """
    Record the rows of the types new to the ledger, read again from the batch's files.

    The preview only counted them; the files in done/ are the ones it counted. Rows are staged in
    a temporary table and written in key order, which SQLite does many times faster than in file
    order (README "Performance").
    """
    markers = db.execute(
        "SELECT csv_type, file, columns, data_set FROM pending WHERE batch_id = ? AND change = ?",
        (batch_id, NEW_TO_LEDGER),
    ).fetchall()
    if not markers:
        return
    db.execute("DROP TABLE IF EXISTS temp.staging")  # executescript would commit: one statement each
    db.execute(STAGING)
    data_sets: dict[str, str | None] = {}
    placer = Placer(db)
    for csv_type, origin, member, data_set in sorted(markers, key=lambda marker: import_rank(marker[0])):
        data_sets[csv_type] = data_set
        with sources_of(batch_dir / origin, display_name=origin) as sources:
            for source in sources:
                if source.name == member and source.csv_type == csv_type:
                    stage_source(db, Recorder(source, placer, fingerprint=fingerprint), errored)
    db.execute("CREATE INDEX temp.staging_by_key ON staging (csv_type, key)")
    for csv_type, data_set in data_sets.items():
        # In key order (many times faster than file order); of a key sent twice, the last row.
        db.execute(
            """INSERT OR REPLACE INTO rows
                   (csv_type, key, fp, columns, vals, term, course, data_set, batch_id)
               SELECT csv_type, key, fp, columns, vals, term, course, ?, ?
               FROM staging WHERE csv_type = ? ORDER BY csv_type, key, rowid""",
            (data_set, batch_id, csv_type),
        )
        db.execute(
            """DELETE FROM rows WHERE csv_type = ? AND key IN (
                   SELECT s.key FROM staging s WHERE s.csv_type = ? AND s.deleted
                   AND s.rowid = (SELECT max(t.rowid) FROM staging t
                                  WHERE t.csv_type = s.csv_type AND t.key = s.key))""",
            (csv_type, csv_type),
        )
    db.execute("DROP TABLE temp.staging")


def stage_source(db: sqlite3.Connection, recorder: Recorder, errored: set[tuple[str, int]]) -> None:
    """
    Put one source's rows (not those Canvas reported errors for) into the staging table.

    Fingerprints are taken as the preview takes them: of raw lines when every record is one line.
    """
    source = recorder.source
    rows: list[tuple[int, list[str], bytes | None]] = []
    with ExitStack() as stack:
        lines = stack.enter_context(source.lines()) if source.is_line_safe() else None
        for index, cells in enumerate(source.records):
            line = next(lines) if lines is not None else None
            number = index + FIRST_ROW
            if is_row(cells) and (source.name, number) not in errored:
                rows.append((number, cells, line))
            if len(rows) >= STAGE_ROWS:
                stage_chunk(db, recorder, rows)
        stage_chunk(db, recorder, rows)


def stage_chunk(
    db: sqlite3.Connection, recorder: Recorder, rows: list[tuple[int, list[str], bytes | None]]
) -> None:
    if rows and rows[0][2] is not None:
        fps = recorder.prints.of_lines([line or b"" for _number, _cells, line in rows]).tolist()
    else:
        fps = recorder.prints.of_rows([cells for _number, cells, _line in rows]).tolist()
    records = [
        record
        for (number, cells, _line), fp in zip(rows, fps, strict=True)
        if (record := recorder.record(number, cells, fp=fp)) is not None
    ]
    db.executemany("INSERT INTO staging VALUES (?,?,?,?,?,?,?,?,?,?)", records)
    rows.clear()


def apply_batch(
    ledger: Ledger,
    batch_id: str,
    *,
    batch_dir: Path,
    errored: Iterable[tuple[str, int]],
    applied_at: str,
    whole_file_applied: bool = False,
    summary: str = "",
) -> bool:
    """Make `batch_id`'s pending rows the ledger's; return False if it was applied before."""
    errors = set(errored)
    with ledger.transaction() as db:
        if ledger.is_applied(batch_id):
            db.execute("DELETE FROM pending WHERE batch_id = ?", (batch_id,))
            return False
        stage_new(db, batch_id, batch_dir, errors, fingerprint=ledger.fingerprint)
        db.execute("DROP TABLE IF EXISTS temp.errored")
        db.execute("CREATE TEMP TABLE errored (file TEXT, row INTEGER)")
        db.executemany("INSERT INTO errored VALUES (?, ?)", errors)
        if whole_file_applied:
            db.execute("DELETE FROM pending WHERE batch_id = ? AND change = 'dropped'", (batch_id,))
        types = [
            str(name)
            for (name,) in db.execute("SELECT DISTINCT csv_type FROM pending WHERE batch_id = ?", (batch_id,))
        ]
        removed = {name: fps_of(db, REPLACED, batch_id, name) for name in types}
        db.execute(UPSERT, (batch_id,))
        db.execute(REMOVE, (batch_id,))
        for name in types:
            keep_prints(db, name, removed=removed[name], added=fps_of(db, WRITTEN, batch_id, name))
            db.execute(
                "INSERT OR REPLACE INTO counts SELECT ?, count(*) FROM rows WHERE csv_type = ?", (name, name)
            )
        db.execute("INSERT INTO applied VALUES (?, ?, ?)", (batch_id, applied_at, summary))
        db.execute("DELETE FROM pending WHERE batch_id = ?", (batch_id,))
        db.execute("DROP TABLE temp.errored")
    return True


def forget_batch(ledger: Ledger, batch_id: str) -> None:
    """Drop the pending rows of a batch that will not be applied (filed failed, or previewed again)."""
    with ledger.transaction() as db:
        db.execute("DELETE FROM pending WHERE batch_id = ?", (batch_id,))


WHOLE = frozenset({"added", "updated", "unchanged", "deleted", "dropped", NEW_TO_LEDGER})
TAKEN_BACK = {  # what a partial rollback restored (docs/canvas.md §A2), as the ledger's changes
    "batch_mode": frozenset({"dropped"}),
    "undelete_only": frozenset({"deleted", "dropped"}),
    "unconclude_only": frozenset(),  # the ledger does not model conclusion: a concluded row stays
}


def restored_changes(manifest: Manifest) -> frozenset[str]:
    """
    Return the changes of the batch a rollback in Canvas took back (`sis-watcher rollback`).

    All of them after `restored` (the batch is as if never imported); after
    `partially_restored`, what its flag restored: batch mode's drops, or every deletion and
    drop. Nothing when the batch was not rolled back or its rollback failed.
    """
    rollback = manifest.rollback
    if rollback is None or rollback.workflow_state not in ("restored", "partially_restored"):
        return frozenset()
    if rollback.workflow_state == "restored" or not rollback.options:
        return WHOLE
    taken: set[str] = set(WHOLE)
    for flag in rollback.options:
        taken &= TAKEN_BACK.get(flag, WHOLE)
    return frozenset(taken)


def apply_filed(ledger: Ledger, batch_dir: Path, manifest: Manifest, *, applied_at: str) -> bool:
    """
    Apply a batch filed in done/ (its errors file and Canvas's diffing verdict considered).

    A batch rolled back in Canvas is not applied (its pending rows are forgotten), and a partly
    rolled-back one without the changes its rollback took back (`restored_changes`).
    """
    taken_back = restored_changes(manifest)
    if taken_back == WHOLE:
        forget_batch(ledger, manifest.batch_id)
        return False
    if taken_back:
        with ledger.transaction() as db:
            marks = ",".join("?" * len(taken_back))
            db.execute(
                f"DELETE FROM pending WHERE batch_id = ? AND change IN ({marks})",
                (manifest.batch_id, *sorted(taken_back)),
            )
    changes = manifest.changes if isinstance(manifest.changes, dict) else {}
    applied = apply_batch(
        ledger,
        manifest.batch_id,
        batch_dir=batch_dir,
        errored=errored_rows(batch_dir, manifest),
        applied_at=applied_at,
        whole_file_applied=manifest.canvas.diffing_threshold_exceeded is True,
        summary=ChangeSet.from_json(changes).summary() if changes else "",
    )
    if applied:
        log.info("ledger.applied", batch_id=manifest.batch_id, path=str(ledger.path))
    return applied


def filed_as(root: Path, batch_id: str) -> tuple[Path, Manifest] | None:
    """Return the folder (and manifest) `batch_id` was filed as in `root` (`<id>` or `<id>.N`)."""
    for batch_dir in batch_folders(root):
        if batch_dir.name == batch_id or batch_dir.name.startswith(f"{batch_id}."):
            try:
                manifest = load_manifest(batch_dir)
            except ManifestUnreadable:
                continue
            if manifest.batch_id == batch_id:
                return batch_dir, manifest
    return None


def settle(ledger: Ledger, folders: FolderSettings, *, applied_at: str) -> list[str]:
    """Apply every filed-done batch still pending and forget every filed-failed one; return the applied."""
    applied = []
    for batch_id in ledger.pending_batches():
        if (folders.queue / batch_id).is_dir():
            continue
        done = filed_as(folders.done, batch_id)
        if done is not None:
            if apply_filed(ledger, done[0], done[1], applied_at=applied_at):
                applied.append(batch_id)
        else:
            forget_batch(ledger, batch_id)
    return applied
