"""How rows are read, counted and numbered, and the checks that hang on that."""

from __future__ import annotations

import pytest

from sis_watcher.validation.chunks import MAX_RECORD_BYTES, record_boundary, split_lines
from sis_watcher.validation.model import STORED_PER_KIND
from sis_watcher.validation.rows import MAX_REMEMBERED_STATUSES

from unit.validation.helpers import check_bytes, of_kind

USERS = b"user_id,login_id,status\n"


def test_blank_and_all_empty_rows_are_not_counted():
    """Blank lines and rows whose values are all blank are skipped, as Canvas skips them."""
    data = USERS + b"u1,l1,active\n\n,,\n \t, ,\nu2,l2,active\n\n"

    report = check_bytes(data)

    assert (2, ()) == (report.rows, report.problems)


def test_blank_lines_do_not_count_as_rows_but_empty_rows_do():
    """Row numbers skip blank lines (skip_blanks) but count all-empty records."""
    data = USERS + b"\n,,\nu1,,active\n"

    report = check_bytes(data)

    assert [3] == [problem.row for problem in of_kind(report, "empty-value")]


def test_leading_blank_lines_before_the_header_are_skipped():
    """Blank lines before the header are ignored and the header is still row 1."""
    report = check_bytes(b"\n\n" + USERS + b"u1,,active\n")

    assert ("user", 1) == (report.csv_type, report.rows)
    assert [2] == [problem.row for problem in report.problems]


def test_quoted_line_breaks_keep_one_record_one_row():
    """A value with line breaks in quotes is one row, for counting and numbering."""
    data = (
        b'course_id,short_name,long_name,status\r\nC1,A,"one\r\ntwo\rthree\nfour",active\r\nC2,B,,active\r\n'
    )

    report = check_bytes(data, name="courses.csv")

    assert 2 == report.rows
    assert [(3, "long_name")] == [(p.row, p.column) for p in report.problems]


@pytest.mark.parametrize("status", ["Active", "ACTIVE", " deleted ", "suspended_for_now", "active\t"])
def test_status_matches_like_canvas(status):
    """Status is matched case-insensitively by prefix after stripping, like Canvas's regex."""
    data = USERS + f"u1,l1,{status}\nu2,l2,{status}\n".encode()

    report = check_bytes(data)

    assert () == report.problems


@pytest.mark.parametrize("status", ["enabled", "inactive", "act", "1"])
def test_status_outside_the_type_is_improper(status):
    """A status that is no prefix match for the type's values is a warning on its row."""
    report = check_bytes(USERS + f"u1,l1,{status}\n".encode())

    assert [(2, "status")] == [(p.row, p.column) for p in of_kind(report, "improper-status")]


def test_types_without_statuses_skip_the_status_check():
    """A login file's status column is not checked, because Canvas forces logins active."""
    data = b"user_id,login_id,existing_user_id,status\nu1,l1,u0,whatever\n"

    report = check_bytes(data, name="logins.csv")

    assert ("login", ()) == (report.csv_type, report.problems)


def test_blank_allowed_columns_may_be_empty():
    """An account's parent_account_id may be blank (the column must still be there)."""
    data = b"account_id,parent_account_id,name,status\nA1,,Humanities,active\n"

    report = check_bytes(data, name="accounts.csv")

    assert ("account", ()) == (report.csv_type, report.problems)


def test_either_of_two_alternative_columns_satisfies_a_requirement():
    """An enrollment row needs course_id or section_id, not both."""
    data = b"course_id,section_id,user_id,user_integration_id,role,status\n,S1,,ui1,student,active\nC1,,u2,,ta,active\n"

    report = check_bytes(data, name="enrollments.csv")

    assert (2, ()) == (report.rows, report.problems)


def test_remembered_statuses_are_bounded():
    """Distinct valid spellings of a status are remembered up to a limit, then checked each time."""
    spellings = MAX_REMEMBERED_STATUSES + 50
    data = USERS + b"".join(b"u,l,active_%d\n" % n for n in range(spellings))

    report = check_bytes(data)

    assert (spellings, ()) == (report.rows, report.problems)


def test_unnamed_column_is_reported_once_when_a_value_appears():
    """A blank-named column is flagged at its first value, not on rows where it is empty."""
    data = b"user_id,login_id,,status\nu1,l1,,enabled\nu2,l2,x,active\nu3,l3,y,active\n"

    report = check_bytes(data)

    assert [("improper-status", 2), ("unnamed-column", 1)] == [(p.kind, p.row) for p in report.problems]
    assert "first in row 3" in of_kind(report, "unnamed-column")[0].message


def test_unnamed_column_without_values_is_fine():
    """A trailing comma on every line makes a blank, empty column, which Canvas accepts."""
    report = check_bytes(b"user_id,login_id,status,\nu1,l1,active,\n")

    assert () == report.problems


def test_short_row_is_padded_before_required_values_are_checked():
    """Fields missing from a short row read as empty, like Canvas's nil values."""
    report = check_bytes(USERS + b"u1\n")

    assert {("missing-fields", None), ("empty-value", "login_id"), ("empty-value", "status")} == {
        (p.kind, p.column) for p in report.problems
    }


def test_problems_are_capped_per_kind_but_all_counted():
    """A million bad rows cannot fill memory: the first of each kind are kept, all are counted."""
    bad_rows = 5 * STORED_PER_KIND
    data = USERS + b"u,l,enabled\n" * bad_rows + b"u,,active\n" * 3

    report = check_bytes(data)

    assert STORED_PER_KIND == len(of_kind(report, "improper-status"))
    assert {"improper-status": bad_rows, "empty-value": 3} == dict(report.problem_counts)
    assert bad_rows + 3 == report.warning_count


def test_only_the_first_parse_failure_is_reported():
    """Canvas drops the file at its first parse error, so later ones would only be noise."""
    data = USERS + b'u1,"l1"x,active\nu2,"l2"y,active\nu3,l3,nonsense\n'

    report = check_bytes(data)

    assert [("malformed-csv", 2)] == [(p.kind, p.row) for p in report.problems]


@pytest.mark.parametrize("checks", [True, False])
def test_values_of_only_line_breaks_count_as_blank(checks):
    """A quoted value holding only line breaks is blank to Canvas, even with no spaces in the file."""
    data = b'"user_id","login_id","status"\r\n"u1","\r\n","active"\r\n"\n","\r","\n"\r\n'

    report = check_bytes(data, checks=checks)

    assert 1 == report.rows
    assert ([(2, "login_id")] if checks else []) == [(p.row, p.column) for p in report.problems]


def test_quotes_escaped_properly_are_not_malformed():
    """Doubled quotes inside a quoted value, and spaces around it, are valid CSV."""
    data = USERS.replace(b"status", b"full_name,status") + b'u1,l1, "Ann ""Nan"" Lee" ,active\n'

    report = check_bytes(data)

    assert (1, ()) == (report.rows, report.problems)


def test_quote_never_closed_in_a_large_file_keeps_memory_bounded():
    """A quote opened and never closed stops chunk alignment at MAX_RECORD_BYTES and is reported."""
    filler = b"u2,l2,active\n" * (MAX_RECORD_BYTES // 13 + 1000)
    data = USERS + b'u1,"l1,active\n' + filler

    report = check_bytes(data, chunk_bytes=1 << 20)

    assert [("malformed-csv", 2)] == [(p.kind, p.row) for p in report.problems]


def test_invalid_utf8_inside_an_unparsable_record_is_still_reported():
    """Bad bytes the row checks never saw are reported for the file, with their offset."""
    data = USERS + b'u1,"l\xe91,active\n'

    report = check_bytes(data)

    assert [None] == [p.row for p in of_kind(report, "invalid-utf8")]
    assert "byte 30" == of_kind(report, "invalid-utf8")[0].column


def test_nul_inside_an_unparsable_record_is_still_reported():
    """A NUL the row checks never saw is reported for the file."""
    report = check_bytes(USERS + b'u1,"l\x001,active\n')

    assert [None] == [p.row for p in of_kind(report, "nul-byte")]


def test_exotic_line_boundaries_inside_values_do_not_split_rows():
    """Characters str.splitlines breaks on (U+2028, \\x1c, \\x85) are plain text in a CSV value."""
    data = USERS.replace(b"status", b"first_name,status") + "u1,l1,A\u2028B\x1cC\x85D,active\n".encode()

    report = check_bytes(data)

    assert (1, ()) == (report.rows, report.problems)


def test_utf16_file_in_cheap_mode_has_no_type_and_no_rows():
    """Without checks a UTF-16 file is still not read as CSV."""
    report = check_bytes("user_id,login_id,status\nu,l,active\n".encode("utf-16"), checks=False)

    assert (None, 0, ()) == (report.csv_type, report.rows, report.problems)


def test_cheap_mode_counts_rows_of_a_malformed_file_without_failing():
    """With checks off a file that breaks the csv module is still counted, not raised."""
    data = USERS + b'u1,"' + b"x" * 200_000 + b'",active\nu2,l2,active\n'

    report = check_bytes(data, checks=False)

    assert ("user", ()) == (report.csv_type, report.problems)
    assert report.rows >= 1


@pytest.mark.parametrize(
    ("buffer", "expected"),
    [
        (b"", 0),
        (b"no line break", 0),
        (b"a\nb", 2),
        (b"a\r\nb\r\n", 6),
        (b"a\r", 0),
        (b"a\rb\r", 2),
        (b'a\n"b\nc', 2),
        (b'a\n"b\nc"\nd', 8),
    ],
)
def test_record_boundary(buffer, expected):
    """A chunk ends after the last line break outside quotes, never between CR and LF."""
    assert expected == record_boundary(buffer)


def test_split_lines_falls_back_for_exotic_breaks():
    """Only CR, LF and CRLF end lines, whatever str.splitlines thinks."""
    assert ["a\x1cb\u2028c\r\n", "d\r", "e"] == split_lines("a\x1cb\u2028c\r\nd\re", exotic_breaks=True)
