"""Unit tests of `changes.csv`: every key a batch adds, updates, deletes or drops, and the columns concerned."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from sis_watcher.ledger.changes import CHANGES_NAME
from sis_watcher.ledger.scope import ImportScope

from unit.ledger.helpers import Batches, Files, preview_folder

USERS = ("user_id", "login_id", "first_name", "email", "status")
ENROLLMENTS = ("course_id", "user_id", "role", "status")
HEADER = "csv_type,change,key,columns\n"


@pytest.fixture
def known(batches: Batches) -> Batches:
    """Users u1, u2, u3 and u1's enrollment in c1, sent with data set X."""
    batches.send(
        {
            "users.csv": [
                USERS,
                ("u1", "l1", "Ada", "ada@x.edu", "active"),
                ("u2", "l2", "Bo", "bo@x.edu", "active"),
                ("u3", "l3", "Cy", "cy@x.edu", "active"),
            ],
            "enrollments.csv": [ENROLLMENTS, ("c1", "u1", "student", "active")],
        },
        scope=ImportScope(data_set="X"),
    )
    return batches


def written(batches: Batches, files: Files, target: Path, *, scope: ImportScope | None = None) -> str:
    _ident, folder = batches.make(files)
    changes = preview_folder(batches.ledger, folder, scope=scope, changes_csv=target)
    assert target.name == changes.csv
    return target.read_text(encoding="utf-8")


def test_every_change_is_listed_with_its_columns(known, tmp_path):
    """Added rows name the columns they bring, updated rows the columns that change, removals none; unchanged rows are left out."""
    files: Files = {
        "users.csv": [
            USERS,
            ("u1", "l1", "Ann", "ann@x.edu", "active"),
            ("u2", "l2", "Bo", "bo@x.edu", "deleted"),
            ("u4", "l4", "Di", "", "active"),
        ],
        "enrollments.csv": [
            ENROLLMENTS,
            ("c1", "u1", "student", "active"),
            ("c1", "u4", "student", "active"),
        ],
        "courses.csv": [
            ("course_id", "short_name", "long_name", "status"),
            ("c1", "C1", "Course 1", "active"),
        ],
    }

    text = written(known, files, tmp_path / CHANGES_NAME, scope=ImportScope(data_set="X"))

    assert (
        HEADER
        + "course,added,*,1 rows: the ledger had no row of this type\n"
        + "enrollment,added,course:c1|u4|student,course_id;user_id;role;status\n"
        + "user,added,u4,user_id;login_id;first_name;email;status\n"
        + "user,deleted,u2,\n"
        + "user,dropped,u3,\n"
        + "user,updated,u1,first_name;email\n"
    ) == text


def test_a_batch_that_changes_nothing_writes_only_the_header(known, tmp_path):
    """With every row unchanged, changes.csv has its header and nothing else."""
    files: Files = {"enrollments.csv": [ENROLLMENTS, ("c1", "u1", "student", "active")]}

    assert HEADER == written(known, files, tmp_path / CHANGES_NAME)


def test_a_first_batch_has_one_line_per_type(batches, tmp_path):
    """Types new to the ledger get one line each, not one per row."""
    files: Files = {
        "users.csv": [USERS, *((f"u{n}", f"l{n}", "", "", "active") for n in range(50))],
        "enrollments.csv": [ENROLLMENTS, ("c1", "u1", "student", "active")],
    }

    rows = list(csv.reader(io.StringIO(written(batches, files, tmp_path / CHANGES_NAME))))

    assert [
        ["csv_type", "change", "key", "columns"],
        ["user", "added", "*", "50 rows: the ledger had no row of this type"],
        ["enrollment", "added", "*", "1 rows: the ledger had no row of this type"],
    ] == rows


def test_an_update_names_only_the_changed_columns(known, tmp_path):
    """A row whose email alone changes lists `email`, even from a file with fewer columns."""
    files: Files = {"users.csv": [("user_id", "login_id", "email"), ("u3", "l3", "cyrus@x.edu")]}

    assert HEADER + "user,updated,u3,email\n" == written(known, files, tmp_path / CHANGES_NAME)


def test_batch_mode_drops_are_listed(batches, tmp_path):
    """A course batch mode drops is a `dropped` line with no columns."""
    courses = ("course_id", "short_name", "long_name", "term_id", "status")
    batches.send(
        {"courses.csv": [courses, ("c1", "C1", "One", "T1", "active"), ("c2", "C2", "Two", "T1", "active")]}
    )
    scope = ImportScope(batch_mode=True, batch_mode_terms=frozenset({"T1"}))

    text = written(
        batches,
        {"courses.csv": [courses, ("c1", "C1", "One", "T1", "active")]},
        tmp_path / CHANGES_NAME,
        scope=scope,
    )

    assert HEADER + "course,dropped,c2,\n" == text


def test_a_key_with_a_comma_is_quoted(known, tmp_path):
    """Keys are written as CSV, so a comma in an id stays in its cell."""
    files: Files = {"users.csv": [USERS, ("u,9", "l9", "", "", "active")]}

    rows = list(csv.reader(io.StringIO(written(known, files, tmp_path / CHANGES_NAME))))

    assert ["user", "added", "u,9", "user_id;login_id;first_name;email;status"] == rows[1]


def test_the_preview_alone_keeps_no_pending_rows(known, ledger, tmp_path):
    """Writing changes.csv without a batch id keeps nothing in the ledger."""
    written(known, {"users.csv": [USERS, ("u9", "l9", "", "", "active")]}, tmp_path / CHANGES_NAME)

    assert [] == ledger.pending_batches()
