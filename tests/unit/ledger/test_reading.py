"""Unit tests for `sis_watcher.ledger.reading`: CSV files and zip members read as typed sources, as Canvas reads them."""

from __future__ import annotations

from sis_watcher.ledger.changes import TypeChanges
from sis_watcher.ledger.reading import sources_of

from unit.ledger.helpers import (
    Batches,
    Previewed,
    Table,
    keys_of,
    preview_folder,
    rows_of,
    write_csv,
    write_zip,
)

USERS = ("user_id", "login_id", "first_name", "status")
COURSES = ("course_id", "short_name", "long_name", "status")
MEMBERS = {
    "users.csv": [USERS, ("u1", "l1", "Ada", "active"), ("u2", "l2", "Bo", "active")],
    "sis/courses.csv": [COURSES, ("c1", "C1", "Course 1", "active")],
    "__MACOSX/._users.csv": "user_id,login_id,status\nmac,mac,active\n",
    ".hidden.csv": "user_id,login_id,status\nhidden,hidden,active\n",
    "readme.txt": "user_id,login_id,status\ntext,text,active\n",
    "unknown.csv": "foo,bar\n1,2\n",
    "folder/": "",
}


def test_a_zip_is_read_as_its_csv_members(tmp_path):
    """Each recognised CSV member of a zip is a source named by its member name; skipped and unknown members are not."""
    path = write_zip(tmp_path / "batch.zip", MEMBERS)

    with sources_of(path) as sources:
        found = [
            (source.name, source.origin, source.csv_type, [cells for _number, cells in source.rows])
            for source in sources
        ]

    assert [
        ("users.csv", "batch.zip", "user", [["u1", "l1", "Ada", "active"], ["u2", "l2", "Bo", "active"]]),
        ("sis/courses.csv", "batch.zip", "course", [["c1", "C1", "Course 1", "active"]]),
    ] == found


def test_a_zip_read_under_a_display_name_reports_that_origin(tmp_path):
    """`display_name` is the origin the zip's sources report."""
    path = write_zip(tmp_path / "upload.zip", {"users.csv": MEMBERS["users.csv"]})

    with sources_of(path, display_name="nightly.zip") as sources:
        assert [("users.csv", "nightly.zip")] == [(source.name, source.origin) for source in sources]


def zip_batch(batches: Batches, members: dict[str, str | Table]) -> Previewed:
    """Write a batch of one zip and preview it with its id."""
    ident, folder = batches.make({})
    write_zip(folder / "batch.zip", members)
    return Previewed(
        batch_id=ident, folder=folder, changes=preview_folder(batches.ledger, folder, batch_id=ident)
    )


def test_a_first_zip_batch_is_counted_and_recorded_from_its_members(batches: Batches, ledger):
    """A first batch as a zip is counted from its members, and the apply reads them again (an errored member row left out)."""
    previewed = zip_batch(batches, MEMBERS)

    assert batches.apply(previewed, errored=[("users.csv", 3)])
    assert {"course": TypeChanges(added=1), "user": TypeChanges(added=2)} == previewed.changes.by_type
    assert {"u1"} == keys_of(ledger, "user")
    assert {"c1"} == keys_of(ledger, "course")


def test_a_later_zip_batch_is_compared_with_the_ledger(batches: Batches, ledger):
    """A zip's members are matched against the ledger like CSV files, and errors name the member."""
    batches.apply(zip_batch(batches, MEMBERS))
    members: dict[str, str | Table] = {
        "users.csv": [
            USERS,
            ("u1", "l1", "Ann", "active"),
            ("u2", "l2", "Bea", "active"),
            ("u3", "l3", "Cy", "active"),
        ]
    }

    previewed = zip_batch(batches, members)
    batches.apply(previewed, errored=[("users.csv", 3)])

    assert TypeChanges(added=1, updated=2, ledger_rows=2) == previewed.changes.by_type["user"]
    assert {"u1": "Ann", "u2": "Bo", "u3": "Cy"} == {
        key: values["first_name"] for key, values in rows_of(ledger, "user").items()
    }


def test_a_bom_and_an_upper_case_header_are_read_as_canvas_reads_them(tmp_path):
    """A UTF-8 BOM is dropped and header names are lowercased."""
    path = tmp_path / "users.csv"
    path.write_bytes(b"\xef\xbb\xbfUSER_ID,Login_ID,STATUS\r\nu1,l1,active\r\n")

    with sources_of(path) as sources:
        assert [("user", ("user_id", "login_id", "status"))] == [
            (source.csv_type, source.columns) for source in sources
        ]


def test_a_file_canvas_would_not_recognise_yields_no_source(tmp_path):
    """A CSV whose header is no Canvas type, or an empty file, is not a source."""
    unknown = write_csv(tmp_path / "notes.csv", [("foo", "bar"), ("1", "2")])
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")

    with sources_of(unknown) as first, sources_of(empty) as second:
        assert ([], []) == (first, second)


def test_rows_are_numbered_as_canvass_errors_file_numbers_them(tmp_path):
    """The header is row 1; blank and all-empty records are skipped but still counted."""
    path = tmp_path / "users.csv"
    path.write_text("user_id,login_id,status\nu1,l1,active\n\n,,\nu2,l2,active\n", encoding="utf-8")

    with sources_of(path) as sources:
        assert [(2, ["u1", "l1", "active"]), (5, ["u2", "l2", "active"])] == list(sources[0].rows)


def test_values_are_stripped_and_blanks_left_out(tmp_path):
    """`values_of` reads a row's cells as Canvas does: stripped, blank cells absent."""
    path = write_csv(tmp_path / "users.csv", [USERS, (" u1 ", "l1", "  ", "active")])

    with sources_of(path) as sources:
        [(_number, cells)] = list(sources[0].rows)
        assert {"user_id": "u1", "login_id": "l1", "status": "active"} == sources[0].values_of(cells)
