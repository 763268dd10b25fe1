"""Property-based tests: the validator never crashes, and counts rows like a reference reader."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sis_watcher.commands.validate import describe, problem_line
from sis_watcher.validation.files import validate_file, validate_zip
from sis_watcher.validation.rows import RUBY_WHITESPACE

from unit.validation.helpers import check_bytes

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
CHUNK_SIZES = st.sampled_from([1, 2, 3, 5, 16, 64, 4096])

# Bytes that make CSV interesting: separators, quotes, line breaks, NUL, BOMs, bad UTF-8.
CSV_BYTES = st.lists(
    st.one_of(
        st.sampled_from(
            [b",", b'"', b"\n", b"\r", b"\r\n", b"\x00", b" ", b"\xef\xbb\xbf", b"\xff\xfe", b"\xe9"]
        ),
        st.sampled_from(
            [b"user_id", b"login_id", b"status", b"active", b"course_id", b"name", b"section_id"]
        ),
        st.binary(max_size=8),
    ),
    max_size=40,
).map(b"".join)
VALUES = st.one_of(
    st.text(st.characters(codec="utf-8"), max_size=12),
    st.sampled_from(
        ["", " ", "active", "deleted", "a,b", 'say "hi"', "line\nbreak", "cr\r\nlf", "\u2028", "\x1c"]
    ),
)


def assert_usable(report, *, size: int) -> None:
    """Assert the report is consistent and renders as text and JSON without error."""
    assert report.rows >= 0
    assert report.bytes == size
    assert report.error_count >= len(report.errors)
    text = "\n".join([describe(report), *(problem_line(problem) for problem in report.all_problems())])
    text.encode("utf-8")
    json.dumps(report.to_dict(), ensure_ascii=False).encode("utf-8")


@FAST
@given(data=CSV_BYTES, chunk_bytes=CHUNK_SIZES, checks=st.booleans())
def test_arbitrary_bytes_never_crash_the_checker(data, chunk_bytes, checks):
    """Whatever the bytes, validation returns a usable report instead of raising."""
    report = check_bytes(data, chunk_bytes=chunk_bytes, checks=checks)

    assert_usable(report, size=len(data))


@FAST
@given(data=CSV_BYTES, chunk_bytes=CHUNK_SIZES)
def test_chunk_size_does_not_change_a_parseable_file_verdict(data, chunk_bytes):
    """Unless the file is malformed, reading it in tiny chunks gives the same report."""
    whole = check_bytes(data)
    chunked = check_bytes(data, chunk_bytes=chunk_bytes)
    kinds = {problem.kind for problem in [*whole.problems, *chunked.problems]}

    if "malformed-csv" not in kinds:
        assert (whole.csv_type, whole.rows, whole.problems) == (
            chunked.csv_type,
            chunked.rows,
            chunked.problems,
        )


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("properties")


@FAST
@given(data=CSV_BYTES)
def test_arbitrary_bytes_as_a_file_never_crash(scratch, data):
    """validate_file on any file content returns a report."""
    path = scratch / "users.csv"
    path.write_bytes(data)

    assert_usable(validate_file(path), size=len(data))


@FAST
@given(data=CSV_BYTES, member=st.sampled_from(["users.csv", "x/enrollments.CSV", "notes.txt", "../up.csv"]))
def test_arbitrary_bytes_as_a_zip_member_never_crash(scratch, data, member):
    """validate_zip on a zip holding any member content returns a report."""
    path = scratch / "batch.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(member, data)

    report = validate_zip(path)

    assert_usable(report, size=path.stat().st_size)
    assert all(m.bytes == len(data) for m in report.members)


@FAST
@given(data=st.binary(max_size=200))
def test_arbitrary_bytes_as_a_zip_never_crash(scratch, data):
    """validate_zip on bytes that are no zip reports them as unreadable."""
    path = scratch / "junk.zip"
    path.write_bytes(data)

    report = validate_zip(path)

    assert_usable(report, size=len(data))
    assert ["zip-unreadable"] == [problem.kind for problem in report.problems]


def write_csv(header: list[str], rows: list[list[str]], *, terminator: str, bom: bool) -> bytes:
    """
    Return `rows` under `header` as valid CSV with `terminator` line breaks.

    The csv module's minimal quoting only quotes line breaks that are in its terminator, which
    would leave a bare LF in a CR file: so everything is quoted unless the terminator is CRLF.
    """
    out = io.StringIO()
    if terminator == "\r\n":
        writer = csv.writer(out, lineterminator=terminator)
    else:
        writer = csv.writer(out, lineterminator=terminator, quoting=csv.QUOTE_ALL)
    writer.writerow(header)
    writer.writerows(rows)
    return ("\ufeff" if bom else "").encode() + out.getvalue().encode("utf-8")


@FAST
@given(
    rows=st.lists(st.lists(VALUES, min_size=4, max_size=4), max_size=25),
    terminator=st.sampled_from(["\n", "\r\n", "\r"]),
    bom=st.booleans(),
    chunk_bytes=CHUNK_SIZES,
    checks=st.booleans(),
)
def test_row_count_matches_a_reference_on_well_formed_csv(rows, terminator, bom, chunk_bytes, checks):
    """On well-formed CSV, rows are the records with a non-blank value, however it is chunked."""
    data = write_csv(["user_id", "login_id", "status", "notes"], rows, terminator=terminator, bom=bom)
    expected = sum(1 for row in rows if any(value.strip(RUBY_WHITESPACE) for value in row))

    report = check_bytes(data, chunk_bytes=chunk_bytes, checks=checks)

    assert ("user", expected) == (report.csv_type, report.rows)
    assert not {"malformed-csv", "extra-fields", "missing-fields", "invalid-utf8"} & set(
        report.problem_counts
    )
