"""Every file in tests/data/broken/ is caught with the problem it is named after."""

from __future__ import annotations

import pytest

from sis_watcher.validation.files import validate_file
from sis_watcher.validation.model import Severity

E, W = Severity.ERROR, Severity.WARNING

# file, severity, kind, row (Canvas's numbering), column, a fragment of the message
CASES = [
    ("empty_file.csv", E, "empty-file", None, None, "empty (0 bytes)"),
    ("only_blank_lines.csv", E, "empty-file", None, None, "no header row"),
    ("bom_only.csv", E, "empty-file", None, None, "Couldn't find Canvas CSV import headers"),
    ("header_only_users.csv", W, "header-only", None, None, "no data rows"),
    ("header_only_enrollments.csv", W, "header-only", None, None, "batch mode"),
    ("all_rows_empty_users.csv", W, "header-only", None, None, "imports no users"),
    ("unknown_header.csv", E, "unknown-header", 1, None, "Couldn't find Canvas CSV import headers"),
    ("users_header_with_spaces.csv", E, "unknown-header", 1, None, "without the spaces Canvas would read"),
    ("users_header_with_spaces.csv", E, "spaced-column", 1, " login_id", "does not trim"),
    ("users_spaced_status_column.csv", E, "spaced-column", 1, "status ", "will not match"),
    ("users_spaced_unknown_column.csv", W, "spaced-unknown-column", 1, " notes", "not a column"),
    ("users_duplicate_status_column.csv", E, "duplicate-column", 1, "status", "reads only column 3"),
    ("users_duplicate_unknown_column.csv", W, "duplicate-unknown-column", 1, "notes", "distinct names"),
    ("users_unnamed_column_with_values.csv", W, "unnamed-column", 1, "field 3", "first in row 3"),
    ("users_missing_status_column.csv", E, "missing-column", 1, "status", "Add the column"),
    ("users_spaced_status_column.csv", E, "missing-column", 1, "status", '"status" column'),
    ("enrollments_missing_role_column.csv", E, "missing-column", 1, "role or role_id", '"role" or "role_id"'),
    (
        "accounts_without_parent_column.csv",
        E,
        "unknown-header",
        1,
        None,
        'need the column "parent_account_id"; add it',
    ),
    (
        "enrollments_with_name_column.csv",
        E,
        "type-mismatch",
        1,
        None,
        'reads it as sections because of the column(s) "name"',
    ),
    ("users_with_existing_user_id.csv", E, "type-mismatch", 1, None, '"existing_user_id"'),
    ("latin1_names_users.csv", E, "invalid-utf8", 3, "first_name", '"Andr\\xe9"'),
    ("windows1252_smart_quotes_courses.csv", E, "invalid-utf8", 2, "long_name", "CSV UTF-8"),
    ("latin1_header.csv", E, "invalid-utf8", 1, "pr\\xe9nom", "Invalid UTF-8"),
    ("utf16_users.csv", E, "invalid-utf8", None, None, "UTF-16"),
    ("garbage_binary.csv", E, "invalid-utf8", 1, "\\x89PNG", "not valid UTF-8"),
    ("nul_byte_in_value.csv", E, "nul-byte", 2, "login_id", "NUL byte"),
    ("unclosed_quote.csv", E, "malformed-csv", 2, None, "never closed"),
    ("text_after_closing_quote.csv", E, "malformed-csv", 3, None, "text follows the closing quote"),
    ("quote_inside_unquoted_value.csv", E, "malformed-csv", 2, None, "not itself in quotes"),
    ("malformed_header.csv", E, "malformed-csv", 1, None, "Malformed CSV"),
    ("mixed_line_endings_crlf_then_lf.csv", E, "malformed-csv", 3, None, "which ends with CRLF"),
    ("stray_carriage_return_in_value.csv", E, "malformed-csv", 2, None, "one kind of line break"),
    ("unquoted_comma_extra_field.csv", E, "extra-fields", 2, None, "5 fields but the header has 4"),
    ("short_row_missing_fields.csv", W, "missing-fields", 3, None, "3 fields but the header has 5"),
    ("truncated_last_row.csv", W, "missing-fields", 3, None, "cut short"),
    ("users_empty_required_value.csv", W, "empty-value", 2, "login_id", "login_id is empty"),
    ("whitespace_only_user_id.csv", W, "empty-value", 2, "user_id", "Fill it in"),
    ("empty_status.csv", W, "empty-value", 2, "status", "status is empty"),
    (
        "enrollments_no_course_or_section.csv",
        W,
        "empty-value",
        3,
        "course_id or section_id",
        "every enrollment row",
    ),
    ("improper_status_users.csv", W, "improper-status", 3, "status", "(active, suspended, deleted)"),
    ("groups_with_active_status.csv", W, "improper-status", 2, "status", "available"),
    ("blank_lines_shift_row_numbers.csv", W, "empty-value", 3, "login_id", "login_id is empty"),
    ("multiline_value_then_bad_status.csv", W, "improper-status", 3, "status", "Improper status"),
    ("crlf_empty_value_last_row.csv", W, "empty-value", 3, "name", "every term row"),
]


@pytest.mark.parametrize(
    ("file_name", "severity", "kind", "row", "column", "fragment"),
    CASES,
    ids=[f"{case[0]}-{case[2]}" for case in CASES],
)
def test_broken_file_is_caught(broken_dir, file_name, severity, kind, row, column, fragment):
    """The broken file is reported with the expected severity, kind, row, column and message."""
    report = validate_file(broken_dir / file_name)

    matching = [problem for problem in report.problems if problem.kind == kind]
    assert matching, [problem.kind for problem in report.problems]
    problem = matching[0]
    assert (severity, row, column) == (problem.severity, problem.row, problem.column)
    assert fragment in problem.message
    assert report.ok == (report.error_count == 0)


def test_corpus_and_table_agree(broken_dir):
    """The corpus holds at least 30 files and each of them is in the table, and nothing else."""
    on_disk = {path.name for path in broken_dir.glob("*.csv")}

    assert len(on_disk) >= 30
    assert on_disk == {case[0] for case in CASES}


@pytest.mark.parametrize("file_name", sorted({case[0] for case in CASES if case[1] is E}))
def test_files_with_errors_are_not_ok(broken_dir, file_name):
    """A file with an error-level problem is not ok, so strict mode would stop the batch."""
    report = validate_file(broken_dir / file_name)

    assert not report.ok
    assert report.errors


@pytest.mark.parametrize(
    "file_name", sorted({case[0] for case in CASES} - {case[0] for case in CASES if case[1] is E})
)
def test_files_with_only_warnings_are_ok(broken_dir, file_name):
    """A file whose problems Canvas only warns about is still ok, so it would be uploaded."""
    report = validate_file(broken_dir / file_name)

    assert report.ok
    assert report.warnings
