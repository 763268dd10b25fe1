"""Unit tests of the fingerprints and the kept counts: the algorithm a ledger records, old ledgers, stale prints."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import xxhash

from sis_watcher.ledger.changes import TypeChanges
from sis_watcher.ledger.classify import is_plain
from sis_watcher.ledger.fingerprints import Fingerprinter
from sis_watcher.ledger.scope import ImportScope
from sis_watcher.ledger.store import BLAKE2B, XXH3, Ledger, LedgerUnusable

from unit.ledger.helpers import Batches, preview_folder, rows_of, write_files

USERS = ("user_id", "login_id", "first_name", "status")
NIGHT = [USERS, *((f"u{n}", f"l{n}", f"Name {n}", "active") for n in range(1, 21))]
PREFIX = b"user\x1euser_id,login_id,first_name,status\x1e"


def stored_prints(ledger: Ledger) -> dict[str, int]:
    return {
        str(key): int(fp) for key, fp in ledger.db.execute("SELECT key, fp FROM rows WHERE csv_type = 'user'")
    }


def line_of(number: int) -> bytes:
    return f"u{number},l{number},Name {number},active".encode()


def make_old(path: Path) -> None:
    """Make `path` a ledger as made before the algorithm was recorded (no meta row, no counts)."""
    with Ledger(path) as ledger:
        ledger.db.execute("DELETE FROM meta WHERE name = 'fingerprint'")
        ledger.db.execute("DROP TABLE counts")


def test_a_new_ledger_records_xxh3_and_fingerprints_lines_by_it(batches, ledger):
    """A new ledger says xxh3-64 in meta; a row's fingerprint is XXH3 of its line XOR that of the prefix, 63 bits."""
    batches.send({"users.csv": NIGHT})

    (recorded,) = ledger.db.execute("SELECT value FROM meta WHERE name = 'fingerprint'").fetchone()
    expected = (xxhash.xxh3_64_intdigest(line_of(1)) ^ xxhash.xxh3_64_intdigest(PREFIX)) >> 1
    assert (XXH3, XXH3) == (recorded, ledger.fingerprint)
    assert expected == stored_prints(ledger)["u1"]


def test_a_ledger_made_before_keeps_blake2b_and_still_matches_every_row(tmp_path):
    """Without the meta row the ledger hashes with BLAKE2b as before: its rows are found by fingerprint."""
    path = tmp_path / "ledger.sqlite"
    make_old(path)
    with Ledger(path) as ledger:
        batches = Batches(ledger=ledger, root=tmp_path / "batches")
        batches.send({"users.csv": NIGHT})
        again = batches.send({"users.csv": NIGHT})

        expected = int.from_bytes(hashlib.blake2b(PREFIX + line_of(1), digest_size=8).digest(), "big") >> 1
        assert BLAKE2B == ledger.fingerprint
        assert expected == stored_prints(ledger)["u1"]
        assert TypeChanges(unchanged=20, ledger_rows=20) == again.by_type["user"]


def test_stale_fingerprints_cost_a_comparison_never_a_wrong_count(tmp_path):
    """Rows fingerprinted by BLAKE2b, previewed by XXH3: counts stay right, and the apply refreshes the prints."""
    path = tmp_path / "ledger.sqlite"
    make_old(path)
    with Ledger(path) as ledger:
        Batches(ledger=ledger, root=tmp_path / "first").send({"users.csv": NIGHT})
        old_prints = stored_prints(ledger)
        ledger.db.execute("INSERT INTO meta VALUES ('fingerprint', ?)", (XXH3,))
    changed = [USERS, *NIGHT[1:20], ("u20", "l20", "Renamed", "active")]
    with Ledger(path) as ledger:
        batches = Batches(ledger=ledger, root=tmp_path / "second", made=1)
        changes = batches.send({"users.csv": changed})

        assert TypeChanges(updated=1, unchanged=19, ledger_rows=20) == changes.by_type["user"]
        assert "Renamed" == rows_of(ledger, "user")["u20"]["first_name"]
        refreshed = stored_prints(ledger)
        assert not set(refreshed.values()) & set(old_prints.values())
        assert (
            TypeChanges(unchanged=20, ledger_rows=20) == batches.send({"users.csv": changed}).by_type["user"]
        )


def test_an_unknown_fingerprint_algorithm_is_unusable_and_named(tmp_path):
    """A ledger whose rows were fingerprinted by an algorithm this version lacks is refused, file named."""
    path = tmp_path / "ledger.sqlite"
    with Ledger(path) as ledger:
        ledger.db.execute("UPDATE meta SET value = 'md5' WHERE name = 'fingerprint'")

    with pytest.raises(LedgerUnusable, match=r"ledger\.sqlite.*fingerprinted by md5"):
        Ledger(path)


def test_a_read_only_ledger_made_before_counts_its_rows(tmp_path):
    """Read-only, a ledger without the counts table (made before) counts its rows in SQL instead."""
    path = tmp_path / "ledger.sqlite"
    with Ledger(path) as ledger:
        Batches(ledger=ledger, root=tmp_path / "batches").send({"users.csv": NIGHT})
        ledger.db.execute("DELETE FROM meta WHERE name = 'fingerprint'")
        ledger.db.execute("DROP TABLE counts")
    folder = write_files(tmp_path / "next", {"users.csv": NIGHT[:11]})

    with Ledger(path, read_only=True) as ledger:
        changes = preview_folder(ledger, folder)

    assert TypeChanges(unchanged=10, ledger_rows=20) == changes.by_type["user"]


def test_the_kept_counts_follow_every_apply(batches, ledger):
    """After adds, deletes and a type the ledger had not held, counts equals what SQL counts."""
    batches.send({"users.csv": NIGHT})
    deleting = [
        USERS,
        *NIGHT[1:18],
        *((f"u{n}", f"l{n}", "", "deleted") for n in (18, 19)),
        ("u99", "l99", "N", "active"),
    ]
    batches.send({"users.csv": deleting})

    kept = dict(ledger.db.execute("SELECT csv_type, n FROM counts"))
    counted = dict(ledger.db.execute("SELECT csv_type, count(*) FROM rows GROUP BY csv_type"))
    assert {"user": 19} == kept == counted
    assert 19 == ledger.row_count("user")


def test_fingerprints_of_rows_and_of_lines_differ_by_type_and_columns():
    """The same line under another type or other columns is another fingerprint, by either algorithm."""
    lines = [b"a,b", b"c,d"]
    for algorithm in (XXH3, BLAKE2B):
        users = Fingerprinter(algorithm, "user", "user_id,login_id").of_lines(lines)
        others = (
            Fingerprinter(algorithm, "course", "user_id,login_id").of_lines(lines),
            Fingerprinter(algorithm, "user", "login_id,user_id").of_lines(lines),
        )
        assert all(not set(users.tolist()) & set(other.tolist()) for other in others)
        assert (users >= 0).all()
        rows = Fingerprinter(algorithm, "user", "user_id,login_id").of_rows([["a", "b"]])
        assert rows.dtype == np.int64
        assert 1 == len(rows)


@pytest.mark.parametrize(
    ("columns", "plain"),
    [("user_id,login_id", True), ("user_id,,login_id", False), ("user_id,user_id", False)],
)
def test_only_columns_all_named_once_compare_cell_by_cell(columns, plain):
    assert plain == is_plain(columns)


def test_a_version_1_ledger_is_upgraded_when_opened_writable_and_read_as_it_is(tmp_path):
    """Version 1 (no counts) reads as it is; opened writable it becomes 2, which releases before refuse."""
    path = tmp_path / "ledger.sqlite"
    with Ledger(path) as ledger:
        Batches(ledger=ledger, root=tmp_path / "batches").send({"users.csv": NIGHT})
        ledger.db.execute("UPDATE meta SET value = '1' WHERE name = 'schema'")
        ledger.db.execute("DROP TABLE counts")
    with Ledger(path, read_only=True) as ledger:
        assert 20 == ledger.row_count("user")
        assert "1" == ledger.db.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()[0]

    with Ledger(path) as ledger:
        assert "2" == ledger.db.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()[0]
        assert 20 == ledger.row_count("user")


def test_a_type_emptied_then_sent_again_keeps_its_fingerprints(batches, ledger):
    """All rows deleted, then the type comes back (new to the ledger again): its rows are found and dropped as before."""
    scope = ImportScope(data_set="A")
    batches.send({"users.csv": [USERS, ("u1", "l1", "", "active")]}, scope=scope)
    batches.send({"users.csv": [USERS, ("u1", "l1", "", "deleted")]}, scope=scope)
    batches.send({"users.csv": [USERS, ("u1", "l1", "", "active"), ("u2", "l2", "", "active")]}, scope=scope)

    changes = batches.send({"users.csv": [USERS, ("u1", "l1", "", "active")]}, scope=scope)

    assert TypeChanges(unchanged=1, dropped=1, ledger_rows=2) == changes.by_type["user"]


@pytest.mark.parametrize("stale", [False, True])
def test_a_batch_without_a_data_set_leaves_the_rows_data_set(tmp_path, stale):
    """Sent again by a batch without a data set (matched by fingerprint or, stale, compared), a row stays in set A."""
    path = tmp_path / "ledger.sqlite"
    with Ledger(path) as ledger:
        if stale:
            ledger.db.execute("UPDATE meta SET value = ? WHERE name = 'fingerprint'", (BLAKE2B,))
    with Ledger(path) as ledger:
        batches = Batches(ledger=ledger, root=tmp_path / "first")
        batches.send({"users.csv": NIGHT[:3]}, scope=ImportScope(data_set="A"))
        ledger.db.execute("UPDATE meta SET value = ? WHERE name = 'fingerprint'", (XXH3,))
    with Ledger(path) as ledger:
        batches = Batches(ledger=ledger, root=tmp_path / "later", made=1)
        batches.send({"users.csv": NIGHT[:3]})
        changes = batches.send({"users.csv": NIGHT[:2]}, scope=ImportScope(data_set="A"))

    assert TypeChanges(unchanged=1, dropped=1, ledger_rows=2) == changes.by_type["user"]
