"""
What pre-flight validation reports: problems, one report per file, and the capped log behind them.

Every problem has a `kind` (a stable, greppable name such as `improper-status`) and each kind has
exactly one severity (`KIND_SEVERITY`), so totals per severity can be computed from the counts
even when most problems of a kind were counted but not stored:

- `error`: Canvas would fail the file or the batch, or silently read the data wrongly.
- `warning`: Canvas imports the file but warns about (and usually skips) some rows.

A million bad rows must not cost a million objects: `ProblemLog` stores the first
`STORED_PER_KIND` problems of each kind and only counts the rest.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

STORED_PER_KIND = 100
MAX_COLUMN_CHARACTERS = 200


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


class Kind(StrEnum):
    """The kinds of problem the validator finds; `KIND_SEVERITY` gives each one's severity."""

    NOT_FOUND = "not-found"
    UNREADABLE = "unreadable"
    EMPTY_FILE = "empty-file"
    INVALID_UTF8 = "invalid-utf8"
    NUL_BYTE = "nul-byte"
    MALFORMED_CSV = "malformed-csv"
    UNKNOWN_HEADER = "unknown-header"
    MISSING_COLUMN = "missing-column"
    SPACED_COLUMN = "spaced-column"
    DUPLICATE_COLUMN = "duplicate-column"
    TYPE_MISMATCH = "type-mismatch"
    EXTRA_FIELDS = "extra-fields"
    ZIP_UNREADABLE = "zip-unreadable"
    ZIP_TOO_MANY_FILES = "zip-too-many-files"
    ZIP_TOO_LARGE = "zip-too-large"
    ZIP_UNSAFE_CSV = "zip-unsafe-csv"
    HEADER_ONLY = "header-only"
    MISSING_FIELDS = "missing-fields"
    EMPTY_VALUE = "empty-value"
    IMPROPER_STATUS = "improper-status"
    UNNAMED_COLUMN = "unnamed-column"
    SPACED_UNKNOWN_COLUMN = "spaced-unknown-column"
    DUPLICATE_UNKNOWN_COLUMN = "duplicate-unknown-column"
    ZIP_UNKNOWN_FILE_TYPE = "zip-unknown-file-type"
    ZIP_UNSAFE_OTHER = "zip-unsafe-other"
    ZIP_NO_CSV = "zip-no-csv"
    NOTHING_TO_CHECK = "nothing-to-check"


_WARNING_KINDS = frozenset(
    {
        Kind.HEADER_ONLY,
        Kind.MISSING_FIELDS,
        Kind.EMPTY_VALUE,
        Kind.IMPROPER_STATUS,
        Kind.UNNAMED_COLUMN,
        Kind.SPACED_UNKNOWN_COLUMN,
        Kind.DUPLICATE_UNKNOWN_COLUMN,
        Kind.ZIP_UNKNOWN_FILE_TYPE,
        Kind.ZIP_UNSAFE_OTHER,
        Kind.ZIP_NO_CSV,
        Kind.NOTHING_TO_CHECK,
    }
)

KIND_SEVERITY: Mapping[str, Severity] = {
    kind: Severity.WARNING if kind in _WARNING_KINDS else Severity.ERROR for kind in Kind
}


@dataclass(frozen=True, slots=True)
class Problem:
    """
    One thing wrong with a file.

    `file` is the name shown to people (`archive.zip:users.csv` for a zip member); `row` counts
    like Canvas (the header is row 1, the first data row is row 2) and is None for problems of the
    whole file; `column` names the header cell concerned, when there is one.
    """

    severity: Severity
    file: str
    row: int | None
    message: str
    column: str | None = None
    kind: str = "other"

    @property
    def location(self) -> str:
        """Return where the problem is, as `users.csv row 17, column status`."""
        where = self.file if self.row is None else f"{self.file} row {self.row}"
        if self.column is None:
            return where
        column = self.column if self.column == self.column.strip() else f'"{self.column}"'
        return f"{where}, column {column}"

    def to_dict(self) -> dict[str, Any]:
        """Return the problem as plain JSON data."""
        return {
            "severity": str(self.severity),
            "kind": str(self.kind),
            "file": self.file,
            "row": self.row,
            "column": self.column,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class FileReport:
    """
    The verdict on one file: a CSV, a zip, or a zip member.

    `csv_type` is Canvas's singular importer name (`user`, `enrollment`, ...) or None; `rows` the
    data rows Canvas would read (header, blank lines and all-empty rows not counted); `bytes` the
    file's size (uncompressed for zip members). `problems` holds at most `STORED_PER_KIND` of each
    kind; `problem_counts` counts them all by kind. A zip's members are in `members`, and the
    aggregate properties (`errors`, `error_count`, `ok`, ...) include them.
    """

    name: str
    csv_type: str | None
    rows: int
    bytes: int
    problems: tuple[Problem, ...] = ()
    problem_counts: Mapping[str, int] = field(default_factory=dict)
    members: tuple[FileReport, ...] = ()

    def all_problems(self) -> Iterator[Problem]:
        """Yield the stored problems of this file, then those of each member."""
        yield from self.problems
        for member in self.members:
            yield from member.all_problems()

    @property
    def errors(self) -> tuple[Problem, ...]:
        """Stored problems of severity error, members included."""
        return tuple(p for p in self.all_problems() if p.severity is Severity.ERROR)

    @property
    def warnings(self) -> tuple[Problem, ...]:
        """Stored problems of severity warning, members included."""
        return tuple(p for p in self.all_problems() if p.severity is Severity.WARNING)

    @property
    def error_count(self) -> int:
        """Every error found, stored or only counted, members included."""
        return self._count(Severity.ERROR)

    @property
    def warning_count(self) -> int:
        """Every warning found, stored or only counted, members included."""
        return self._count(Severity.WARNING)

    @property
    def ok(self) -> bool:
        """True when neither the file nor any member has an error (warnings are fine)."""
        return self.error_count == 0

    def _count(self, severity: Severity) -> int:
        own = sum(n for kind, n in self.problem_counts.items() if self._severity_of(kind) is severity)
        return own + sum(member._count(severity) for member in self.members)  # noqa: SLF001

    def _severity_of(self, kind: str) -> Severity:
        if kind in KIND_SEVERITY:
            return KIND_SEVERITY[kind]
        stored = next((p.severity for p in self.problems if p.kind == kind), Severity.ERROR)
        return stored

    def to_dict(self) -> dict[str, Any]:
        """Return the report as plain JSON data (members nested)."""
        data: dict[str, Any] = {
            "name": self.name,
            "csv_type": self.csv_type,
            "rows": self.rows,
            "bytes": self.bytes,
            "ok": self.ok,
            "errors": self.error_count,
            "warnings": self.warning_count,
            "problem_counts": dict(self.problem_counts),
            "problems": [problem.to_dict() for problem in self.problems],
        }
        if self.members:
            data["members"] = [member.to_dict() for member in self.members]
        return data


def printable(text: str) -> str:
    r"""
    Return `text` safe to print and to encode as UTF-8.

    Bytes that were not UTF-8 reach us as lone surrogates (decoded with "surrogateescape"); they
    are shown as `\xe9` escapes, which is what a registrar can search for in a hex editor.
    """
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


class ProblemLog:
    """Collects the problems of one file: stores the first `cap` of each kind, counts them all."""

    def __init__(self, file: str, *, cap: int = STORED_PER_KIND) -> None:
        self.file = file
        self.cap = cap
        self._problems: list[Problem] = []
        self._counts: dict[str, int] = {}

    def add(self, kind: Kind, message: str, *, row: int | None = None, column: str | None = None) -> None:
        """Record one problem of `kind`, storing it only while fewer than `cap` of it are stored."""
        seen = self._counts.get(kind, 0)
        self._counts[kind] = seen + 1
        if seen < self.cap:
            column = None if column is None else printable(column[:MAX_COLUMN_CHARACTERS])
            self._problems.append(
                Problem(KIND_SEVERITY[kind], self.file, row, printable(message), column, kind)
            )

    def count(self, kind: Kind) -> int:
        """Return how many problems of `kind` were recorded."""
        return self._counts.get(kind, 0)

    def report(
        self, *, csv_type: str | None, rows: int, size: int, members: tuple[FileReport, ...] = ()
    ) -> FileReport:
        """Return the finished report for this file."""
        return FileReport(
            name=self.file,
            csv_type=csv_type,
            rows=rows,
            bytes=size,
            problems=tuple(self._problems),
            problem_counts=dict(self._counts),
            members=members,
        )
