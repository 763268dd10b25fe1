"""The fast test (one regex per clean chunk) never changes a report, only how fast it comes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sis_watcher.validation.fast import blank_or_empty_lines, build_fast_test, status_field

from unit.validation.helpers import check_bytes

PROPERTY = settings(max_examples=300, deadline=None)
VALUES = st.sampled_from(
    [
        "",
        " ",
        "\t",
        "x",
        " x ",
        "active",
        "Active",
        " deleted",
        "ACTIVE_ish",
        "enabled",
        "C1",
        "u1",
        "student",
    ]
)
HEADERS = {
    "users.csv": ["user_id", "login_id", "status", "email"],
    "enrollments.csv": ["course_id", "section_id", "user_id", "role", "status"],
    "sections.csv": ["section_id", "course_id", "name", "status"],
}


def plain_csv(header: list[str], rows: list[list[str]], terminator: str) -> bytes:
    """Join rows with commas, no quoting: the chunks the fast test is for."""
    lines = [",".join(header), *(",".join(row) for row in rows)]
    return (terminator.join(lines) + terminator).encode()


@PROPERTY
@given(
    name=st.sampled_from(sorted(HEADERS)),
    rows=st.lists(st.lists(VALUES, min_size=3, max_size=6), max_size=40),
    terminator=st.sampled_from(["\n", "\r\n"]),
    chunk_bytes=st.sampled_from([8, 64, 256, 4096]),
    checks=st.booleans(),
)
def test_the_fast_test_gives_the_same_report_as_the_row_loop(name, rows, terminator, chunk_bytes, checks):
    """Ragged rows, blank and spaced values, good and bad statuses: fast and slow agree exactly."""
    data = plain_csv(HEADERS[name], rows, terminator)

    fast = check_bytes(data, name=name, chunk_bytes=chunk_bytes, checks=checks)
    slow = check_bytes(data, name=name, chunk_bytes=chunk_bytes, checks=checks, fast=False)

    assert (slow.csv_type, slow.rows, slow.problems, dict(slow.problem_counts)) == (
        fast.csv_type,
        fast.rows,
        fast.problems,
        dict(fast.problem_counts),
    )


def test_a_clean_chunk_matches_and_a_bad_row_does_not():
    """The enrollments pattern accepts course or section, any-case status prefixes, and nothing else."""
    test = build_fast_test(
        5, groups=[(0, 1), (2,), (3,), (4,)], status_index=4, statuses=("active", "deleted"), separator="\n"
    )
    assert test is not None

    assert test.fullmatch(b"C1,,u1,student,Active\n,S1,u2,ta, deleted_x\n")
    assert test.fullmatch(b"C1,S1,u1,student,active")
    assert not test.fullmatch(b",,u1,student,active\n")
    assert not test.fullmatch(b"C1,S1, ,student,active\n")
    assert not test.fullmatch(b"C1,S1,u1,student,enabled\n")
    assert not test.fullmatch(b"C1,S1,u1,student,active,extra\n")
    assert not test.fullmatch(b"\n")


def test_no_fast_test_where_it_cannot_be_exact():
    """No required columns, a CR separator, or too many alternatives: the row loop does it all."""
    assert build_fast_test(3, groups=[], status_index=-1, statuses=(), separator="\n") is None
    assert build_fast_test(3, groups=[(0,)], status_index=-1, statuses=(), separator="\r") is None
    many = [(0, 1), (2, 3), (4, 5), (6, 7)]
    assert build_fast_test(8, groups=many, status_index=-1, statuses=(), separator="\n") is None


def test_status_field_prefers_longer_statuses_and_ignores_case():
    """A status pattern matches every accepted prefix in any case, after spaces."""
    pattern = status_field(("deleted", "deleted_last_completed"))

    assert pattern.startswith(b"[ \\t\\x0b\\x0c]*(?i:deleted_last_completed|deleted)")


def test_blank_or_empty_lines_counts_what_canvas_skips():
    """Blank lines and lines of only commas or spaces are counted, the last one even unterminated."""
    assert 3 == blank_or_empty_lines(b"a,b\n\n , ,\n c,d\r\n,,")
    assert 0 == blank_or_empty_lines(b"a,b\nc,d\n")
