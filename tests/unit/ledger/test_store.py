"""Unit tests for `sis_watcher.ledger.store`: the SQLite file, read-only use and all-or-nothing transactions."""

from __future__ import annotations

import sqlite3

import pytest

from sis_watcher.ledger.changes import TypeChanges
from sis_watcher.ledger.store import Ledger, LedgerUnusable

from unit.ledger.helpers import Batches, keys_of, preview_folder, write_files

USERS = ("user_id", "login_id", "status")
ROW = ("user", "u1", 1, "user_id", "u1", None, None, None, "b1")


@pytest.mark.parametrize("read_only", [False, True], ids=["writable", "read-only"])
def test_a_file_that_is_not_sqlite_is_unusable_and_named(tmp_path, read_only):
    """Opening a file that is not SQLite raises LedgerUnusable naming the file, and leaves the file as it was."""
    path = tmp_path / "ledger.sqlite"
    content = b"this is not a database\n" * 200
    path.write_bytes(content)

    with pytest.raises(LedgerUnusable) as raised:
        Ledger(path, read_only=read_only)

    assert path == raised.value.path
    assert str(path) in str(raised.value)
    assert content == path.read_bytes()


def test_a_ledger_of_another_schema_version_is_unusable(tmp_path):
    """A ledger written by another schema version is refused, with the version in the message."""
    path = tmp_path / "ledger.sqlite"
    with Ledger(path) as ledger:
        ledger.db.execute("UPDATE meta SET value = '3' WHERE name = 'schema'")

    with pytest.raises(LedgerUnusable, match="schema version 3"):
        Ledger(path)


def test_a_sqlite_file_without_the_ledgers_tables_is_unusable_read_only(tmp_path):
    """Read-only, an SQLite file that is no ledger is refused rather than changed."""
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as other:
        other.execute("CREATE TABLE t (x)")
    other.close()

    with pytest.raises(LedgerUnusable, match=str(path)):
        Ledger(path, read_only=True)


def test_a_folder_in_the_ledgers_place_is_unusable(tmp_path):
    """A path that cannot be opened as a file raises LedgerUnusable."""
    path = tmp_path / "ledger.sqlite"
    path.mkdir()

    with pytest.raises(LedgerUnusable, match=str(path)):
        Ledger(path)


def test_read_only_on_a_missing_file_is_an_empty_ledger_and_creates_nothing(tmp_path):
    """Read-only, a ledger that does not exist yet reads as empty and no file (or folder) is made."""
    path = tmp_path / "state" / "ledger.sqlite"

    with Ledger(path, read_only=True) as ledger:
        assert 0 == ledger.row_count("user")
        assert None is ledger.last_applied()
        assert [] == ledger.pending_batches()

    assert not path.parent.exists()


def test_a_read_only_ledger_previews_against_the_file_and_writes_nothing(batches, ledger, tmp_path):
    """The preview command's read-only ledger counts against the file's rows and leaves them as they were."""
    batches.send({"users.csv": [USERS, ("u1", "l1", "active")]})
    folder = write_files(
        tmp_path / "next", {"users.csv": [USERS, ("u1", "l1", "active"), ("u2", "l2", "active")]}
    )

    with Ledger(ledger.path, read_only=True) as reader:
        changes = preview_folder(reader, folder)

    assert TypeChanges(added=1, unchanged=1, ledger_rows=1) == changes.by_type["user"]
    assert {"u1"} == keys_of(ledger, "user")


def test_a_read_only_ledger_refuses_to_write(batches, ledger):
    """A write through a read-only ledger fails as an unusable ledger naming the file; the file keeps its rows."""
    batches.send({"users.csv": [USERS, ("u2", "l2", "active")]})

    with Ledger(ledger.path, read_only=True) as reader:
        with pytest.raises(LedgerUnusable, match="readonly"), reader.transaction() as db:
            db.execute("INSERT INTO rows VALUES (?,?,?,?,?,?,?,?,?)", ROW)

    assert {"u2"} == keys_of(ledger, "user")


def test_a_failed_transaction_leaves_nothing(ledger):
    """Everything written in a transaction that raises is rolled back, in this connection and in the file."""
    with pytest.raises(RuntimeError, match="boom"):  # noqa: PT012
        with ledger.transaction() as db:
            db.execute("INSERT INTO rows VALUES (?,?,?,?,?,?,?,?,?)", ROW)
            db.execute("INSERT INTO applied VALUES ('b1', 'now', '')")
            raise RuntimeError("boom")

    assert 0 == ledger.row_count("user")
    assert None is ledger.last_applied()
    with Ledger(ledger.path) as again:
        assert 0 == again.row_count("user")


def test_a_committed_transaction_is_in_the_file(ledger):
    """What a transaction wrote is there when the file is opened again."""
    with ledger.transaction() as db:
        db.execute("INSERT INTO rows VALUES (?,?,?,?,?,?,?,?,?)", ROW)
    ledger.close()

    with Ledger(ledger.path) as again:
        assert 1 == again.row_count("user")


def test_an_applied_batch_survives_reopening(batches: Batches, ledger, tmp_path):
    """A ledger reopened from its file previews the next batch against what was applied."""
    batches.send({"users.csv": [USERS, ("u1", "l1", "active")]})
    folder = write_files(tmp_path / "next", {"users.csv": [USERS, ("u1", "l1", "active")]})
    ledger.close()

    with Ledger(ledger.path) as again:
        changes = preview_folder(again, folder)

    assert TypeChanges(unchanged=1, ledger_rows=1) == changes.by_type["user"]


def test_a_sound_ledger_passes_its_check(ledger):
    """SQLite's quick check finds a new ledger sound."""
    ledger.check()


def test_an_sqlite_file_of_something_else_is_refused_even_writable(tmp_path):
    """Another program's SQLite file is not taken over as a ledger: it is named and left alone."""
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as other:
        other.execute("CREATE TABLE grades (student TEXT, grade TEXT)")

    with pytest.raises(LedgerUnusable, match="an SQLite file of something else") as caught:
        Ledger(path)

    assert str(path) in str(caught.value)
    with sqlite3.connect(path) as other:
        assert [("grades",)] == other.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
        ).fetchall()
