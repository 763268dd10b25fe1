"""Zips as Canvas unpacks them: members checked like files, plus Canvas's archive limits."""

from __future__ import annotations

import stat
import zipfile

import pytest

from sis_watcher.validation.files import validate_zip
from sis_watcher.validation.model import Severity
from sis_watcher.validation.zips import ZipLimits, check_zip

from unit.validation.helpers import of_kind

USERS = b"user_id,login_id,status\nu1,l1,active\nu2,l2,active\n"
ENROLLMENTS = b"course_id,user_id,role,status\nC1,u1,student,active\n"


def symlink(name: str) -> zipfile.ZipInfo:
    """Return a ZipInfo that a Unix unzip would create as a symlink."""
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def test_clean_zip_reports_each_member(make_zip):
    """A zip of good CSVs is ok and lists each member with its type, rows and size."""
    path = make_zip([("users.csv", USERS), ("enrollments.csv", ENROLLMENTS)])

    report = validate_zip(path)

    assert report.ok
    assert (None, 3, path.stat().st_size) == (report.csv_type, report.rows, report.bytes)
    assert [
        ("batch.zip:users.csv", "user", 2, len(USERS)),
        ("batch.zip:enrollments.csv", "enrollment", 1, 51),
    ] == [(member.name, member.csv_type, member.rows, member.bytes) for member in report.members]


def test_member_problems_make_the_zip_fail(make_zip):
    """A broken member's errors count for the zip and name the member."""
    path = make_zip([("users.csv", USERS + b"u3,l3,enabled\n"), ("enrollments.csv", b"nonsense\n")])

    report = validate_zip(path, display_name="drop/batch.zip")

    assert not report.ok
    assert (1, 1) == (report.error_count, report.warning_count)
    assert ["drop/batch.zip:enrollments.csv"] == [problem.file for problem in report.errors]
    assert ["drop/batch.zip:users.csv"] == [problem.file for problem in report.warnings]


def test_members_canvas_ignores_are_skipped_silently(make_zip):
    """__MACOSX entries, dot-files, desktop.ini and folders are neither members nor problems."""
    path = make_zip(
        [
            ("__MACOSX/._users.csv", b"\x00\x05\x16\x07"),
            (".DS_Store", b"\x00\x00"),
            ("exports/desktop.ini", b"[x]"),
            ("exports/", b""),
            ("exports/users.csv", USERS),
        ]
    )

    report = validate_zip(path)

    assert ((), ["batch.zip:exports/users.csv"]) == (report.problems, [m.name for m in report.members])
    assert "user" == report.members[0].csv_type


def test_other_file_types_are_a_warning(make_zip):
    """A non-CSV member gets Canvas's "Skipping unknown file type" as a warning."""
    path = make_zip([("users.csv", USERS), ("READY", b""), ("notes.txt", b"hi")])

    report = validate_zip(path)

    assert report.ok
    assert ["READY", "notes.txt"] == [p.column for p in of_kind(report, "zip-unknown-file-type")]


@pytest.mark.parametrize(
    ("member", "kind", "severity"),
    [
        ("/etc/users.csv", "zip-unsafe-csv", Severity.ERROR),
        ("../users.csv", "zip-unsafe-csv", Severity.ERROR),
        ("exports/../../users.csv", "zip-unsafe-csv", Severity.ERROR),
        ("C:\\exports\\users.csv", "zip-unsafe-csv", Severity.ERROR),
        (symlink("users.csv"), "zip-unsafe-csv", Severity.ERROR),
        ("../notes.txt", "zip-unsafe-other", Severity.WARNING),
    ],
)
def test_unsafe_members_are_reported(make_zip, member, kind, severity):
    """Canvas skips absolute, '..' and symlink members: a CSV among them is an error."""
    path = make_zip([("enrollments.csv", ENROLLMENTS), (member, USERS)])

    report = validate_zip(path)

    assert [severity] == [p.severity for p in of_kind(report, kind)]
    assert ["batch.zip:enrollments.csv"] == [m.name for m in report.members]


def test_more_than_100000_members_fail_the_zip(make_zip):
    """Canvas refuses archives of more than 100,000 entries, and then members are not read."""
    path = make_zip(((f"f{i}.csv", b"") for i in range(100_001)), compression=zipfile.ZIP_STORED)

    report = validate_zip(path)

    assert [("zip-too-many-files", Severity.ERROR)] == [(p.kind, p.severity) for p in report.problems]
    assert () == report.members


def test_expanding_more_than_100_times_fails_the_zip(make_zip):
    """A zip that unpacks to more than 100 times its size is refused by Canvas."""
    path = make_zip([("users.csv", USERS + b"u,l,active\n" * 500_000)])

    report = validate_zip(path)

    assert ["zip-too-large"] == [p.kind for p in report.problems]
    assert "100 times" in report.problems[0].message


def test_the_50_gb_cap_applies_below_100_times(make_zip):
    """The uncompressed total is also capped in bytes (50 GB in Canvas; lowered here)."""
    path = make_zip([("users.csv", USERS)], compression=zipfile.ZIP_STORED)

    report = check_zip(path, display_name="batch.zip", checks=True, limits=ZipLimits(max_bytes=10))

    assert ["zip-too-large"] == [p.kind for p in report.problems]


def test_zip_without_csv_members_is_a_warning(make_zip):
    """An archive with nothing Canvas would import is flagged, but it is no Canvas failure."""
    path = make_zip([("__MACOSX/._x", b"")])

    report = validate_zip(path)

    assert (True, ["zip-no-csv"]) == (report.ok, [p.kind for p in report.problems])


@pytest.mark.parametrize("data", [b"", b"not a zip at all", b"PK\x03\x04" + b"\x00" * 40])
def test_unreadable_zip_is_an_error(write_file, data):
    """A file that is no readable zip is an error, not an exception."""
    path = write_file("batch.zip", data)

    report = validate_zip(path)

    assert (["zip-unreadable"], len(data)) == ([p.kind for p in report.problems], report.bytes)


def test_missing_zip_is_an_error(tmp_path):
    """A zip path that does not exist is reported as unreadable with no size."""
    report = validate_zip(tmp_path / "gone.zip")

    assert (["zip-unreadable"], 0) == ([p.kind for p in report.problems], report.bytes)


def test_truncated_zip_is_an_error(make_zip, write_file):
    """A zip cut short in transfer (no central directory) is unreadable."""
    whole = make_zip([("users.csv", USERS)]).read_bytes()

    report = validate_zip(write_file("cut.zip", whole[: len(whole) // 2]))

    assert ["zip-unreadable"] == [p.kind for p in report.problems]


def test_encrypted_member_is_an_error(make_zip, write_file):
    """A member flagged as encrypted cannot be read, by us or by Canvas."""
    data = bytearray(make_zip([("users.csv", USERS)], compression=zipfile.ZIP_STORED).read_bytes())
    flags = data.index(b"PK\x01\x02") + 8  # general purpose flags of the central directory entry
    data[flags] |= 0x1

    report = validate_zip(write_file("locked.zip", bytes(data)), display_name="batch.zip")

    assert [("batch.zip:users.csv", "unreadable")] == [(p.file, p.kind) for p in report.errors]


def test_corrupted_member_is_an_error(make_zip, write_file):
    """A member whose data no longer matches its CRC is reported, not raised."""
    data = bytearray(make_zip([("users.csv", USERS)], compression=zipfile.ZIP_STORED).read_bytes())
    position = data.index(b"u1,l1")
    data[position] = ord("X")

    report = validate_zip(write_file("bad.zip", bytes(data)))

    assert ["unreadable"] == [p.kind for p in report.errors]
    assert "CRC" in report.errors[0].message


def test_cheap_mode_lists_members_without_problems(make_zip):
    """With checks off only the CSV members' types, rows and sizes are worked out."""
    path = make_zip([("users.csv", USERS + b"u3,l3,enabled\n"), ("notes.txt", b"x"), ("../x.csv", b"")])

    report = validate_zip(path, checks=False)

    assert ((), 3) == (tuple(report.all_problems()), report.rows)
    assert ["user"] == [member.csv_type for member in report.members]
