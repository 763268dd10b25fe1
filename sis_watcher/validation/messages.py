"""
The row- and file-level problems of a CSV, each logged with a message a registrar can act on.

Every message says what Canvas would do with the data and what to change. The checks that
decide *when* to log them are in `validation_csv`; header problems are in `validation_header`.
"""

from __future__ import annotations

from sis_watcher.canvas.csv_rules import CsvType
from sis_watcher.validation.header import shown
from sis_watcher.validation.model import Kind, ProblemLog

MALFORMED_HINTS = {
    "',' expected after '\"'": "text follows the closing quote of a quoted value",
    "unexpected end of data": "a quoted value is never closed",
    "field larger than field limit": "a value runs over 131,072 characters, usually a quote never closed",
}
# The only types batch mode deletes from (docs/canvas.md §5.0).
BATCH_MODE_TYPES = frozenset({"course", "section", "enrollment"})
BREAK_NAMES = {"\n": "LF (\\n)", "\r\n": "CRLF (\\r\\n)", "\r": "CR (\\r)"}
ILLEGAL_QUOTE = "a double quote appears inside a value that is not itself in quotes"


def log_malformed(log: ProblemLog, reason: str, *, row: int) -> None:
    """Log that Canvas's CSV parser fails at `row`; `reason` is the csv module's error, if any."""
    detail = next((hint for key, hint in MALFORMED_HINTS.items() if key in reason), ILLEGAL_QUOTE)
    log.add(
        Kind.MALFORMED_CSV,
        f"Canvas cannot parse this row ({detail}) and drops the whole file with "
        '"Malformed CSV". Put any value containing a quote, comma or line break in double '
        'quotes and double the quotes inside it ("5\'10"" tall").',
        row=row,
    )


def log_mixed_breaks(log: ProblemLog, *, separator: str, row: int) -> None:
    """Log a record ending with another line break than `separator`, the file's first one."""
    log.add(
        Kind.MALFORMED_CSV,
        f"This row ends with another kind of line break than the header, which ends with "
        f"{BREAK_NAMES[separator]}. Canvas's parser allows other line breaks only inside quoted "
        'values, so it drops the whole file with "Malformed CSV". Save the file with one kind '
        "of line break throughout.",
        row=row,
    )


def log_ragged(log: ProblemLog, *, fields: int, width: int, row: int) -> None:
    """Log a row whose field count is not the header's: extra fields are an error, missing a warning."""
    if fields > width:
        log.add(
            Kind.EXTRA_FIELDS,
            f"This row has {fields} fields but the header has {width} columns. Canvas silently "
            "drops the extra values, and an unquoted comma in a value shifts every later value "
            'into the wrong column. Put values containing commas in double quotes ("Smith, J").',
            row=row,
        )
    else:
        log.add(
            Kind.MISSING_FIELDS,
            f"This row has {fields} fields but the header has {width} columns; Canvas reads the "
            "missing ones as empty. Check that the row was not cut short.",
            row=row,
        )


def log_empty_value(log: ProblemLog, *, label: str, csv_type: CsvType, row: int) -> None:
    """Log a required value (`label`, such as `course_id or section_id`) left blank in `row`."""
    log.add(
        Kind.EMPTY_VALUE,
        f"{label} is empty, and Canvas needs it in every {csv_type.name} row; it would skip this "
        "row with a warning. Fill it in or remove the row.",
        row=row,
        column=label,
    )


def log_improper_status(log: ProblemLog, *, status: str, csv_type: CsvType, row: int) -> None:
    """Log a status value Canvas does not accept for `csv_type`."""
    log.add(
        Kind.IMPROPER_STATUS,
        f"status {shown(status)} is not one Canvas accepts for {csv_type.plural} "
        f'({", ".join(csv_type.statuses)}); Canvas would skip this row with "Improper status". '
        "Use one of those values.",
        row=row,
        column="status",
    )


def log_unnamed_column(log: ProblemLog, *, index: int, first_row: int) -> None:
    """Log a column with a blank header cell that holds values (first seen in `first_row`)."""
    log.add(
        Kind.UNNAMED_COLUMN,
        f"Column {index + 1} has no name in the header but holds values (first in row {first_row}); "
        "Canvas ignores them. Name the column or remove it.",
        row=1,
        column=f"field {index + 1}",
    )


def log_nul(log: ProblemLog, *, value: str | None, row: int | None, column: str | None) -> None:
    """Log a NUL byte in `value` (or, with no value, somewhere in the file)."""
    where = f"The value {shown(value)} contains" if value is not None else "The file contains"
    log.add(
        Kind.NUL_BYTE,
        f"{where} a NUL byte (\\x00). Canvas rejects such rows or fails the import. Remove the NUL "
        "bytes; they usually come from a binary column or a UTF-16 export.",
        row=row,
        column=column,
    )


def log_invalid_utf8(log: ProblemLog, *, value: str | None, row: int | None, column: str | None) -> None:
    """Log bytes that are not UTF-8 in `value` (or, with no value, at some place in the file)."""
    where = f"The value {shown(value)} is" if value is not None else "The file has bytes that are"
    log.add(
        Kind.INVALID_UTF8,
        f'{where} not valid UTF-8, so Canvas fails the whole file ("Invalid UTF-8"). Export the '
        'file as UTF-8 (in Excel: "CSV UTF-8"); this usually means it was saved as Latin-1 or '
        "Windows-1252.",
        row=row,
        column=column,
    )


def log_utf16(log: ProblemLog) -> None:
    """Log a file that starts with a UTF-16 byte-order mark."""
    log.add(
        Kind.INVALID_UTF8,
        "The file is UTF-16 (it starts with a UTF-16 byte-order mark), and Canvas reads only UTF-8: "
        'it fails the whole file ("Invalid UTF-8"). Save it as UTF-8 (in Excel: "CSV UTF-8").',
    )


def log_no_header(log: ProblemLog, *, size: int) -> None:
    """Log a file without a header row: empty, or only blank lines."""
    what = "is empty (0 bytes)" if size == 0 else "has no header row (only blank lines)"
    log.add(
        Kind.EMPTY_FILE,
        f'The file {what}; Canvas fails it ("Couldn\'t find Canvas CSV import headers"). Check that '
        "the SIS export finished.",
    )


def log_header_only(log: ProblemLog, *, csv_type: CsvType) -> None:
    """Log a file with a header but no data rows."""
    batch_mode = (
        f" (in batch mode it would delete every one of the term's {csv_type.plural})"
        if csv_type.name in BATCH_MODE_TYPES
        else ""
    )
    log.add(
        Kind.HEADER_ONLY,
        f"The file has a header but no data rows, so Canvas imports no {csv_type.plural}{batch_mode}. "
        "Check that the export is complete.",
    )
