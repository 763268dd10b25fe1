"""
Streaming validation of one CSV, in constant memory, at the speed of the csv module.

The stream is read in chunks of whole records (validation_chunks). Each row passes a cheap test
built for the file's header: right number of fields, status among those already seen to be
valid, required values non-blank, and, only in chunks holding quotes, NUL bytes or invalid UTF-8,
a look at its characters. Rows that fail the test are inspected closely (`_inspect`), which is
where every row-level problem is found; clean rows cost a few comparisons.

Rows are counted the way Canvas reads them (docs/canvas.md §3.4, `skip_blanks: true` and all-empty
rows skipped): `rows` is the number of records after the header minus blank lines and minus
records whose values are all empty after Ruby's `strip`. Row numbers count like Canvas's errors:
the header is row 1, blank lines are not counted, every other record (a quoted value with line
breaks included) is one row.

Severities (docs/canvas.md §3.3-§3.5, §5.0). Errors: Canvas fails or drops the file, or silently
reads it wrongly. Warnings: Canvas imports the file and warns about, or skips, single rows.
Ragged rows are split: a row with *more* fields than the header is an error, because Ruby's CSV
drops the extra values without a word and the usual cause (an unquoted comma) shifts every later
value into the wrong column; a row with *fewer* fields is a warning, because Canvas reads the
missing trailing fields as empty, exactly as if they were blank, and warns if one is required.
"""

from __future__ import annotations

import csv
import re
from typing import IO, TYPE_CHECKING

from sis_watcher.canvas.csv_rules import CsvType
from sis_watcher.canvas.csv_types import detect
from sis_watcher.validation.chunks import (
    CHUNK_BYTES,
    NOT_UTF8,
    RUBY_RECORD,
    Chunk,
    first_foreign_break,
    raw_record,
    record_chunks,
)
from sis_watcher.validation.fast import blank_or_empty_lines, build_fast_test
from sis_watcher.validation.header import RowPlan, check_header, tuple_getter
from sis_watcher.validation.messages import (
    log_empty_value,
    log_header_only,
    log_improper_status,
    log_invalid_utf8,
    log_malformed,
    log_mixed_breaks,
    log_no_header,
    log_nul,
    log_ragged,
    log_unnamed_column,
    log_utf16,
)
from sis_watcher.validation.model import FileReport, Kind, ProblemLog

if TYPE_CHECKING:
    import _csv

# Ruby's String#strip, which Canvas applies to every field: ASCII whitespace and NUL only.
RUBY_WHITESPACE = " \t\n\v\f\r\x00"
MAX_REMEMBERED_STATUSES = 1000


class CsvCheck:
    """Validates one CSV stream; `run` reads it and returns the FileReport."""

    def __init__(self, name: str, *, type_hint_name: str, checks: bool, fast: bool = True) -> None:
        self.log = ProblemLog(name)
        self.type_hint_name = type_hint_name
        self.checks = checks
        self.plan: RowPlan | None = None
        self.csv_type: CsvType | None = None
        self.records = self.blank_lines = self.empty_rows = 0
        self.malformed = False
        self.utf16 = self.nul_seen = False
        self.bad_utf8_at: int | None = None
        self.good_statuses: set[str] = set()
        self.unnamed_pending: set[int] = set()
        self.fast_test: re.Pattern[bytes] | None = None
        self.fast = fast  # False: every chunk through the row loop (tests compare the two)

    def run(self, stream: IO[bytes], *, size: int, chunk_bytes: int = CHUNK_BYTES) -> FileReport:
        """Read `stream` to its end (`size` bytes) and return the report; read errors escape."""
        for chunk in record_chunks(stream, chunk_bytes=chunk_bytes):
            if chunk.utf16:
                self.utf16 = True
                break
            self._take(chunk)
        rows = self.records - self.blank_lines - self.empty_rows
        if self.checks:
            self._finish(rows=rows, size=size)
        name = self.csv_type.name if self.csv_type is not None else None
        return self.log.report(csv_type=name, rows=rows, size=size)

    def _take(self, chunk: Chunk) -> None:
        """Read one chunk: the fast test if it can vouch for it, else the header and row loops."""
        if self.bad_utf8_at is None:
            self.bad_utf8_at = chunk.bad_utf8_at
        self.nul_seen = self.nul_seen or chunk.has_nul
        if self._clean_at_once(chunk):
            return
        reader = csv.reader(chunk.lines, strict=self.checks)
        careful = self.checks and chunk.needs_care
        if self.plan is None and not self._read_header(reader, chunk, careful=careful):
            return
        if not self.checks:
            while not self._count_rows(reader, padded=chunk.has_whitespace or chunk.has_quotes):
                pass
            return
        if chunk.mixed_breaks and not self.malformed:
            self._check_line_breaks(chunk, start=reader.line_num)
        while not self._scan(reader, chunk, careful=careful):
            pass

    def _clean_at_once(self, chunk: Chunk) -> bool:
        """
        Count a plain chunk's rows without a row loop, when the fast test shows none needs one.

        Plain: after the header, no quotes, NUL, bad UTF-8 or foreign line breaks. With checks
        off only the skipped lines must be found; with checks on the whole chunk must match
        the fast test (validation_fast), else False and the row loop takes it.
        """
        plain = (
            self.plan is not None
            and not chunk.needs_care
            and not chunk.mixed_breaks
            and not chunk.exotic_breaks
            and chunk.separator in ("\n", "\r\n")
        )
        if not plain:
            return False
        if not self.checks:
            self.records += chunk.lines_count
            self.empty_rows += blank_or_empty_lines(chunk.raw)
            return True
        test = self.fast_test if self.fast else None
        if test is None or self.malformed or self.unnamed_pending or test.fullmatch(chunk.raw) is None:
            return False
        self.records += chunk.lines_count
        return True

    def _read_header(self, reader: _csv.Reader, chunk: Chunk, *, careful: bool) -> bool:
        try:
            header = next((row for row in reader if row), None)
        except csv.Error as error:
            self._note_malformed(reason=str(error), number=1)
            self.plan = RowPlan(None, (), -1, (), ())
            return True
        if header is None:
            return False
        csv_type = self.csv_type = detect(header)
        if self.checks:
            self.plan = RowPlan(None, tuple(header), -1, (), ())
            if careful:
                self._check_bytes(header, 1, end_line=reader.line_num, chunk=chunk)
            check_header(self.log, header, csv_type=csv_type, file_name=self.type_hint_name)
        self.plan = RowPlan.for_header(header, csv_type, checks=self.checks and not self.malformed)
        self.good_statuses = set(csv_type.statuses) if csv_type else set()
        plan = self.plan
        self.fast_test = build_fast_test(
            plan.width,
            groups=[indexes for _, indexes in plan.groups],
            status_index=plan.status_index,
            statuses=plan.csv_type.statuses if plan.csv_type else (),
            separator=chunk.separator,
        )
        self.unnamed_pending = set(self.plan.unnamed)
        return True

    def _count_rows(self, reader: _csv.Reader, *, padded: bool) -> bool:
        """Count the rest of `reader`'s records (no checks); False when a csv.Error interrupted it."""
        join, blank, empty, finished = "".join, 0, 0, False
        index = self.records - 1
        try:
            for index, row in enumerate(reader, self.records):  # noqa: B007 (index is read after the loop)
                if not (join(row).strip(RUBY_WHITESPACE) if padded else join(row)):
                    blank += not row
                    empty += bool(row)
            finished = True
        except csv.Error:
            index += 1
        self.records = index + 1
        self.blank_lines += blank
        self.empty_rows += empty
        return finished

    def _scan(self, reader: _csv.Reader, chunk: Chunk, *, careful: bool) -> bool:
        """Run the row loop over the rest of `reader`; False when a csv.Error interrupted it."""
        assert self.plan is not None  # noqa: S101 (set by _read_header before any row)
        plan = self.plan
        width, status_index, good = plan.width, plan.status_index, self.good_statuses
        required = tuple_getter(tuple(i for _, indexes in plan.groups for i in indexes))
        # Without spaces or tabs in the chunk, a blank value can only be line breaks in quotes,
        # which the quoted-row test below sends to _inspect: no need to strip every value.
        padded = chunk.has_whitespace
        quoted = careful and chunk.has_quotes
        other_trouble = careful and (chunk.has_nul or chunk.bad_utf8_at is not None)
        unnamed = tuple_getter(tuple(sorted(self.unnamed_pending)))
        strip, join, inspect, troubled, lacks = (
            str.strip,
            "".join,
            self._inspect,
            self._has_byte_trouble,
            self._lacks_value,
        )
        index = self.records - 1
        try:
            for index, row in enumerate(reader, self.records):
                if (
                    len(row) != width
                    or (status_index >= 0 and row[status_index] not in good)
                    or (
                        required is not None
                        and "" in (map(strip, required(row)) if padded else required(row))
                        and lacks(row)
                    )
                    or (required is None and not strip(join(row)))
                    or (unnamed is not None and any(map(strip, unnamed(row))))
                    or (quoted and ('"' in (joined := join(row)) or "\n" in joined or "\r" in joined))
                    or (other_trouble and troubled(row, chunk))
                ):
                    inspect(row, index, end_line=reader.line_num, chunk=chunk, careful=careful)
        except csv.Error as error:
            self.records = index + 2
            self._note_malformed(reason=str(error), number=index + 3 - self.blank_lines)
            return False
        self.records = index + 1
        return True

    def _lacks_value(self, row: list[str]) -> bool:
        """Return True when a required column group of `row` is all blank (as Python strips)."""
        assert self.plan is not None  # noqa: S101 (only called with a plan)
        return any(not any(row[i].strip() for i in indexes) for _, indexes in self.plan.groups)

    @staticmethod
    def _has_byte_trouble(row: list[str], chunk: Chunk) -> bool:
        """Return True when `row` may hold a NUL or undecodable bytes (quotes are tested inline)."""
        joined = "".join(row)
        return "\x00" in joined or (chunk.bad_utf8_at is not None and NOT_UTF8.search(joined) is not None)

    def _inspect(self, row: list[str], index: int, *, end_line: int, chunk: Chunk, careful: bool) -> None:
        """Look closely at a row the fast test flagged: count it, then log what is wrong with it."""
        if not row:
            self.blank_lines += 1
            return
        number = index + 2 - self.blank_lines
        if careful:
            self._check_bytes(row, number, end_line=end_line, chunk=chunk)
        values = [value.strip(RUBY_WHITESPACE) for value in row]
        if not any(values):
            self.empty_rows += 1
        elif not self.malformed:
            self._check_values(row, values, number)

    def _check_values(self, row: list[str], values: list[str], number: int) -> None:
        plan, log = self.plan, self.log
        if plan is None or plan.csv_type is None:
            return
        if len(values) != plan.width:
            log_ragged(log, fields=len(values), width=plan.width, row=number)
            values = (values + [""] * plan.width)[: plan.width]
        for label, indexes in plan.groups:
            if not any(values[i] for i in indexes):
                log_empty_value(log, label=label, csv_type=plan.csv_type, row=number)
        status = values[plan.status_index] if plan.status_index >= 0 else ""
        if status and plan.csv_type.status_is_valid(status):
            if len(self.good_statuses) < MAX_REMEMBERED_STATUSES:
                self.good_statuses.add(row[plan.status_index])
        elif status:
            log_improper_status(log, status=status, csv_type=plan.csv_type, row=number)
        for unnamed in sorted(self.unnamed_pending):
            if values[unnamed]:
                self.unnamed_pending.discard(unnamed)
                log_unnamed_column(log, index=unnamed, first_row=number)

    def _check_bytes(self, row: list[str], number: int, *, end_line: int, chunk: Chunk) -> None:
        """Log NUL bytes, invalid UTF-8 and quoting Canvas's parser rejects in `row`."""
        assert self.plan is not None  # noqa: S101 (set before any row is read)
        column = self.plan.column
        nul = next((i for i, value in enumerate(row) if "\x00" in value), None)
        if nul is not None:
            log_nul(self.log, value=row[nul], row=number, column=column(nul))
        if chunk.bad_utf8_at is not None:
            bad = next((i for i, value in enumerate(row) if NOT_UTF8.search(value)), None)
            if bad is not None:
                log_invalid_utf8(self.log, value=row[bad], row=number, column=column(bad))
        if not self.malformed and '"' in "".join(row):
            source = raw_record(row, lines=chunk.lines, end_line=end_line)
            if RUBY_RECORD.fullmatch(source) is None:
                self._note_malformed(number=number)

    def _check_line_breaks(self, chunk: Chunk, *, start: int) -> None:
        """Log the first record ending with another line break than the file's first one."""
        found = first_foreign_break(chunk.lines, separator=chunk.separator, start=start)
        if found is not None:
            records, blanks = found
            number = self.records + records - self.blank_lines - blanks + 2
            self._note_malformed(number=number, separator=chunk.separator)

    def _note_malformed(self, *, number: int, reason: str = "", separator: str = "") -> None:
        """Log the first parse failure only: Canvas drops the file there, later rows are noise."""
        if self.malformed:
            return
        self.malformed = True
        if separator:
            log_mixed_breaks(self.log, separator=separator, row=number)
        else:
            log_malformed(self.log, reason, row=number)

    def _finish(self, *, rows: int, size: int) -> None:
        log = self.log
        if self.utf16:
            log_utf16(log)
            return
        if self.plan is None:
            log_no_header(log, size=size)
        elif self.csv_type is not None and rows == 0 and not self.malformed:
            log_header_only(log, csv_type=self.csv_type)
        # Bytes inside a record the csv module gave up on reach no row check: report them here.
        if self.bad_utf8_at is not None and log.count(Kind.INVALID_UTF8) == 0:
            log_invalid_utf8(log, value=None, row=None, column=f"byte {self.bad_utf8_at + 1}")
        if self.nul_seen and log.count(Kind.NUL_BYTE) == 0:
            log_nul(log, value=None, row=None, column=None)
