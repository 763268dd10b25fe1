"""`run_validate`: what `sis-watcher validate` prints and the exit code it returns."""

from __future__ import annotations

import io
import json

from sis_watcher.commands.validate import run_validate
from sis_watcher.validation.files import validate_file, validate_paths
from sis_watcher.validation.model import STORED_PER_KIND

USERS = b"user_id,login_id,status\nu1,l1,active\n"


def run(paths, *, as_json=False):
    """Run the command on `paths` and return (exit code, output)."""
    out = io.StringIO()
    code = run_validate(paths, as_json=as_json, out=out)
    return code, out.getvalue()


def test_clean_file_exits_0_with_its_type_and_rows(write_file):
    """A clean file is listed with its type and rows and the command exits 0."""
    path = write_file("users.csv", USERS)

    code, text = run([path])

    assert 0 == code
    assert f"{path}: user, 1 row, 37 bytes\n" in text
    assert text.endswith("1 file checked: 0 errors, 0 warnings. Canvas should import them cleanly.\n")


def test_errors_exit_1_with_one_line_per_problem(write_file):
    """Each problem is printed as SEVERITY, file, row and message, and errors exit 1."""
    path = write_file("users.csv", b"user_id,login_id,status\nu1,l1,active,y\nu2,l2,enabled\n")

    code, text = run([path])

    assert 1 == code
    assert f"  ERROR    {path} row 2: This row has 4 fields" in text
    assert f"  WARNING  {path} row 3, column status: status " in text
    assert "1 error, 1 warning. Canvas would fail or misread" in text


def test_warnings_alone_exit_0(write_file):
    """Problems Canvas only warns about do not fail the command."""
    code, text = run([write_file("users.csv", USERS + b"u2,,active\n")])

    assert 0 == code
    assert "0 errors, 1 warning. Canvas would import them and warn about some rows." in text


def test_missing_path_is_an_error_not_a_crash(tmp_path, write_file):
    """A path that does not exist is reported as that path's error; the others are still checked."""
    good = write_file("users.csv", USERS)

    code, text = run([tmp_path / "nope.csv", good])

    assert 1 == code
    assert f"ERROR    {tmp_path / 'nope.csv'}: No such file or folder" in text
    assert f"{good}: user, 1 row" in text


def test_folder_stands_for_its_top_level_csv_and_zip_files(tmp_path, make_zip):
    """A folder's top-level .csv and .zip files are checked in name order; nothing else is."""
    (tmp_path / "b_users.csv").write_bytes(USERS)
    (tmp_path / "A_TERMS.CSV").write_bytes(b"term_id,name,status\nT1,Fall,active\n")
    (tmp_path / "notes.txt").write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "users.csv").write_bytes(b"junk\n")
    make_zip([("users.csv", USERS)], name="c_batch.zip")

    reports = validate_paths([tmp_path])

    assert [f"{tmp_path}/A_TERMS.CSV", f"{tmp_path}/b_users.csv", f"{tmp_path}/c_batch.zip"] == [
        report.name for report in reports
    ]
    assert all(report.ok for report in reports)


def test_unreadable_file_is_an_error(tmp_path):
    """A CSV path that cannot be opened (here a folder) is reported, not raised."""
    folder = tmp_path / "users.csv"
    folder.mkdir()

    report = validate_file(folder)
    missing = validate_file(tmp_path / "gone.csv", display_name="drop/gone.csv")

    assert (["unreadable"], 0) == ([p.kind for p in report.problems], report.bytes)
    assert ("drop/gone.csv", ["unreadable"]) == (missing.name, [p.kind for p in missing.problems])


def test_path_that_cannot_even_be_inspected_is_an_error(tmp_path):
    """A path the system refuses to look at (here: a name over 255 bytes) is reported, not raised."""
    too_long = tmp_path / ("x" * 300)

    code, text = run([too_long])

    assert 1 == code
    assert f"ERROR    {too_long}: This path cannot be read (File name too long)" in text


def test_empty_folder_is_a_warning(tmp_path):
    """A folder with nothing to check says so, without failing."""
    code, text = run([tmp_path])

    assert 0 == code
    assert "The folder holds no .csv or .zip files to check." in text


def test_zip_members_are_listed_under_the_zip(make_zip):
    """A zip's heading counts its members, and each member gets its own indented heading."""
    path = make_zip([("users.csv", USERS), ("bad.csv", b"nonsense\n")])

    code, text = run([path])

    assert 1 == code
    assert f"{path}: zip of 2 CSV files, 1 row in all," in text
    assert f"\n  {path}:users.csv: user, 1 row, 37 bytes\n" in text
    assert f"\n    ERROR    {path}:bad.csv row 1: Canvas does not recognise" in text


def test_only_the_first_problems_of_a_kind_are_listed(write_file):
    """Past the stored problems of a kind, one line says how many more there are."""
    extra = 3
    path = write_file("users.csv", USERS + b"u,l,enabled\n" * (STORED_PER_KIND + extra))

    code, text = run([path])

    assert 0 == code
    assert STORED_PER_KIND == text.count("WARNING  ")
    assert f"... and {extra} more improper-status problems in {path} (not listed)" in text
    assert f"0 errors, {STORED_PER_KIND + extra} warnings." in text


def test_json_output_has_files_and_totals(write_file, make_zip):
    """--json prints the files with their problems and the error and warning totals."""
    users = write_file("users.csv", USERS + b"u2,l2,enabled\n")
    broken = write_file(
        "enrollments.csv", b"course_id,user_id,role,status,name,section_id\nC,u,r,active,n,S\n"
    )
    archive = make_zip([("users.csv", USERS)])

    code, text = run([users, broken, archive], as_json=True)

    document = json.loads(text)
    assert 1 == code
    assert (1, 1) == (document["errors"], document["warnings"])
    first, second, third = document["files"]
    assert ("user", 2, {"improper-status": 1}) == (first["csv_type"], first["rows"], first["problem_counts"])
    assert {"severity": "warning", "kind": "improper-status", "row": 3, "column": "status"}.items() <= first[
        "problems"
    ][0].items()
    assert (False, "section", "type-mismatch") == (
        second["ok"],
        second["csv_type"],
        second["problems"][0]["kind"],
    )
    assert ["user"] == [member["csv_type"] for member in third["members"]]


def test_output_with_undecodable_bytes_is_printable(write_file):
    """Latin-1 bytes in a file are shown as escapes, so the report itself is valid UTF-8."""
    path = write_file("users.csv", b"user_id,login_id,first_name,status\nu1,l1,Andr\xe9,active\n")

    code, text = run([path])
    _, as_json = run([path], as_json=True)

    assert 1 == code
    assert '"Andr\\xe9"' in text
    assert text.encode("utf-8")
    assert "first_name" == json.loads(as_json)["files"][0]["problems"][0]["column"]
