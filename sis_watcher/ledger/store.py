"""
The ledger file: an embedded SQLite database of every row sis-watcher has had imported.

Tables (schema version 2; version 1, without `counts`, is upgraded when opened writable):

    rows     (csv_type, key) -> the values last sent (as Canvas reads them), the column set and
             fingerprint of the raw row that sent them, what batch mode needs (the term; a section's
             course), the diffing data set, and the batch that sent it
    pending  a previewed batch's changes, waiting for the batch to be filed: applied when it lands
             in done/, forgotten when it lands in failed/
    prints   per type, every row's fingerprint as one sorted array (`fingerprints`), kept with
             the rows so the preview need not read 2M rows to get them
    applied  every batch whose changes the ledger holds, in the order they were applied
    counts   per type, how many rows: kept at every apply, so a preview need not count 2M rows
             (a ledger made before it counts them once, until a batch of the type is applied)
    meta     schema version; the fingerprint algorithm (`fingerprints`; none: a ledger made
             before the algorithm was recorded, which hashes with BLAKE2b)

Every change is one transaction (`with ledger.transaction():`), so a crash leaves the ledger as
it was before or after a batch, never half-way. A file that is not a ledger (not SQLite, another
schema, unreadable) raises `LedgerUnusable` naming the file and the remedy.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Self

from sis_watcher.core.errors import SisWatcherError

SCHEMA_VERSION = "2"
# Version 1 lacked `counts`: upgraded when opened writable. Version 2 keeps a release made before
# the counts table (which would not keep them) from writing to the file: it refuses version 2.
READABLE_VERSIONS = frozenset({"1", SCHEMA_VERSION})
XXH3 = "xxh3-64"  # what a new ledger's fingerprints are
BLAKE2B = "blake2b-64"  # what ledgers made before 2026-12-02 have
FINGERPRINTS = frozenset({XXH3, BLAKE2B})
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rows (
    csv_type TEXT NOT NULL, key TEXT NOT NULL, fp INTEGER NOT NULL, columns TEXT NOT NULL,
    vals TEXT NOT NULL, term TEXT, course TEXT, data_set TEXT, batch_id TEXT NOT NULL,
    PRIMARY KEY (csv_type, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pending (
    batch_id TEXT NOT NULL, csv_type TEXT NOT NULL, key TEXT NOT NULL, change TEXT NOT NULL,
    fp INTEGER, columns TEXT, vals TEXT, term TEXT, course TEXT, data_set TEXT,
    file TEXT, row INTEGER,
    PRIMARY KEY (batch_id, csv_type, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS prints (csv_type TEXT PRIMARY KEY, fps BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS counts (csv_type TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS applied (
    batch_id TEXT PRIMARY KEY, applied_at TEXT NOT NULL, summary TEXT NOT NULL
);
"""
CACHE_KIB = 4 * 1024


class LedgerUnusable(SisWatcherError):
    """The ledger file cannot be used (not SQLite, another schema, unreadable, disk full)."""

    def __init__(self, path: Path, problem: str) -> None:
        self.path = path
        super().__init__(
            f"the ledger {path} cannot be used: {problem}. Move it aside and run "
            "`sis-watcher ledger rebuild -c CONFIG` to make it again from done/"
        )


class Ledger:
    """One open ledger file. Use as a context manager, or `close()` it."""

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        """
        Open the ledger at `path`, creating it if needed.

        `read_only` opens an existing file without writing to it, or an empty ledger in memory
        when there is no file yet (the `preview` command).
        """
        self.path = path
        try:
            if read_only and path.exists():
                self.db = sqlite3.connect(
                    f"{path.resolve().as_uri()}?mode=ro",
                    uri=True,
                    isolation_level=None,
                    check_same_thread=False,
                )
            elif read_only:
                self.db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as error:
            raise LedgerUnusable(path, str(error)) from None
        try:
            self.prepare(writable=not (read_only and path.exists()))
        except sqlite3.Error as error:
            self.db.close()
            raise LedgerUnusable(path, str(error)) from None

    def prepare(self, *, writable: bool) -> None:
        """Set the connection up and make sure the file is a ledger of this schema."""
        self.db.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        self.db.execute("PRAGMA temp_store=FILE")
        tables = {name for (name,) in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if tables and "meta" not in tables:
            self.db.close()
            raise LedgerUnusable(
                self.path, f"it is an SQLite file of something else (tables {sorted(tables)})"
            )
        if writable:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.executescript(SCHEMA)
            self.db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
            self.db.execute(
                "UPDATE meta SET value = ? WHERE name = 'schema' AND value = '1'", (SCHEMA_VERSION,)
            )
        if writable and not tables:  # a new ledger: the fast fingerprints
            self.db.execute("INSERT OR IGNORE INTO meta VALUES ('fingerprint', ?)", (XXH3,))
        found = self.db.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()
        if found is None or found[0] not in READABLE_VERSIONS:
            version = found[0] if found else "none"
            self.db.close()
            raise LedgerUnusable(self.path, f"it has schema version {version}, not {SCHEMA_VERSION}")
        self.has_counts = writable or "counts" in tables  # a read-only ledger of before may lack it
        found = self.db.execute("SELECT value FROM meta WHERE name = 'fingerprint'").fetchone()
        self.fingerprint = str(found[0]) if found else BLAKE2B
        if self.fingerprint not in FINGERPRINTS:
            self.db.close()
            raise LedgerUnusable(self.path, f"its rows are fingerprinted by {self.fingerprint}, unknown here")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Run the block as one transaction: all of it is written, or none (on any exception)."""
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            raise LedgerUnusable(self.path, str(error)) from None
        try:
            yield self.db
        except sqlite3.Error as error:  # disk full, I/O error: SQLite may have rolled back already
            self.rollback()
            raise LedgerUnusable(self.path, str(error)) from None
        except BaseException:
            self.rollback()
            raise
        try:
            self.db.execute("COMMIT")
        except sqlite3.Error as error:
            self.rollback()
            raise LedgerUnusable(self.path, str(error)) from None

    def rollback(self) -> None:
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")

    def last_applied(self) -> str | None:
        """Return the id of the last batch applied (the preview's baseline), or None when empty."""
        found = self.db.execute("SELECT batch_id FROM applied ORDER BY rowid DESC LIMIT 1").fetchone()
        return str(found[0]) if found else None

    def is_applied(self, batch_id: str) -> bool:
        return self.db.execute("SELECT 1 FROM applied WHERE batch_id = ?", (batch_id,)).fetchone() is not None

    def pending_batches(self) -> list[str]:
        """Return the batches previewed but not yet applied or forgotten, oldest first."""
        found = self.db.execute("SELECT DISTINCT batch_id FROM pending ORDER BY batch_id").fetchall()
        return [str(batch_id) for (batch_id,) in found]

    def has_rows(self, csv_type: str) -> bool:
        return (
            self.db.execute("SELECT 1 FROM rows WHERE csv_type = ? LIMIT 1", (csv_type,)).fetchone()
            is not None
        )

    def row_count(self, csv_type: str) -> int:
        """Return how many rows of `csv_type` the ledger holds (kept in `counts`, else counted)."""
        if self.has_counts:
            kept = self.db.execute("SELECT n FROM counts WHERE csv_type = ?", (csv_type,)).fetchone()
            if kept is not None:
                return int(kept[0])
        (count,) = self.db.execute("SELECT count(*) FROM rows WHERE csv_type = ?", (csv_type,)).fetchone()
        return int(count)

    def check(self) -> None:
        """Raise `LedgerUnusable` unless SQLite finds the file sound (`PRAGMA quick_check`)."""
        try:
            (result,) = self.db.execute("PRAGMA quick_check").fetchone()
        except sqlite3.Error as error:
            raise LedgerUnusable(self.path, str(error)) from None
        if result != "ok":
            raise LedgerUnusable(self.path, f"SQLite's check says {result}")


class LedgerKeeper:
    """
    The daemon's ledger: opened on first use and kept open.

    After `LedgerUnusable` it is tried again on the next use, so a ledger fixed by hand (or
    rebuilt) is picked up without a restart.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.ledger: Ledger | None = None

    def open(self) -> Ledger:
        """Return the open ledger, opening it now if needed (raise `LedgerUnusable`)."""
        if self.ledger is None:
            self.ledger = Ledger(self.path)
        return self.ledger

    def failed(self) -> None:
        """Forget the connection after an error, so the next use opens the file afresh."""
        if self.ledger is not None:
            with contextlib.suppress(sqlite3.Error):
                self.ledger.close()
            self.ledger = None

    def close(self) -> None:
        self.failed()
