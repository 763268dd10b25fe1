"""
Checks of a CSV's header row, with messages a registrar can act on.

Canvas decides a file's type from the header alone (csv_types.detect): cells lowercased, never
trimmed, first matching type wins. So the header decides everything else: a cell with a space
around it is a different column, a duplicate column is read only once (Ruby's CSV returns the
first), and an extra column can turn an enrollments file into a sections file. `RowPlan` is
what the header decides for the row loop: which columns must be non-blank, where status is.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from operator import itemgetter
from pathlib import PurePosixPath

from sis_watcher.canvas.csv_names import type_suggested_by_name
from sis_watcher.canvas.csv_rules import CsvType
from sis_watcher.canvas.csv_types import BY_NAME, KNOWN_COLUMNS, detect, normalise_header
from sis_watcher.validation.model import Kind, ProblemLog

SHOWN_CHARACTERS = 60
SHOWN_CELLS = 8


def shown(value: str) -> str:
    r"""Return `value` quoted for a message: shortened, with undecodable bytes as `\xe9` escapes."""
    text = value[:SHOWN_CHARACTERS].encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    if not text.isprintable():
        text = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)
    return f'"{text}..."' if len(value) > SHOWN_CHARACTERS else f'"{text}"'


def columns_text(names: list[str] | tuple[str, ...]) -> str:
    """Return header cells as `"a", "b", "c"`, shortened after `SHOWN_CELLS` cells."""
    cells = ", ".join(shown(name) for name in names[:SHOWN_CELLS])
    return cells + (", ..." if len(names) > SHOWN_CELLS else "")


Getter = Callable[[list[str]], tuple[str, ...]]


def tuple_getter(indexes: tuple[int, ...]) -> Getter | None:
    """Return a function giving a row's values at `indexes` as a tuple (None for no indexes)."""
    if not indexes:
        return None
    if len(indexes) == 1:
        (index,) = indexes
        return lambda row: (row[index],)
    getter: Getter = itemgetter(*indexes)
    return getter


@dataclass(frozen=True, slots=True)
class RowPlan:
    """What the row loop checks, derived once from the header."""

    csv_type: CsvType | None
    header: tuple[str, ...]
    status_index: int
    groups: tuple[tuple[str, tuple[int, ...]], ...]
    unnamed: tuple[int, ...]

    @classmethod
    def for_header(cls, header: list[str], csv_type: CsvType | None, *, checks: bool) -> RowPlan:
        """Return the plan for `header`; without `checks` or a type, rows are only counted."""
        lowered = normalise_header(header)
        if not checks or csv_type is None:
            return cls(None, tuple(header), -1, (), ())
        first: dict[str, int] = {}
        for index, name in enumerate(lowered):
            first.setdefault(name, index)
        groups = tuple(
            (" or ".join(group), indexes)
            for group in csv_type.required
            if (indexes := tuple(first[n] for n in group if n in first and n not in csv_type.blank_allowed))
        )
        status_index = first.get("status", -1) if csv_type.statuses else -1
        unnamed = tuple(i for i, cell in enumerate(header) if not cell.strip())
        return cls(csv_type, tuple(header), status_index, groups, unnamed)

    @property
    def width(self) -> int:
        return len(self.header)

    def column(self, index: int) -> str:
        """Return the header cell over field `index`, or `field N` past the header's end."""
        return self.header[index] if index < self.width and self.header[index] else f"field {index + 1}"


def check_header(log: ProblemLog, header: list[str], *, csv_type: CsvType | None, file_name: str) -> None:
    """Log the header's problems: unknown type, missing, spaced and duplicate columns, wrong type."""
    lowered = normalise_header(header)
    known = csv_type.known_columns if csv_type is not None else KNOWN_COLUMNS
    _check_spaced_cells(log, header, known=known)
    _check_duplicates(log, lowered, known=known)
    suggested = BY_NAME.get(type_suggested_by_name(PurePosixPath(file_name).name) or "")
    if csv_type is None:
        log.add(Kind.UNKNOWN_HEADER, _unknown_header_message(header, suggested), row=1)
        return
    for group in csv_type.missing_columns(lowered):
        log.add(
            Kind.MISSING_COLUMN,
            f"Canvas reads this file as {csv_type.plural}, which need a {_quoted_group(group)} column, "
            "and the header has none; Canvas would not import the rows. Add the column.",
            row=1,
            column=group,
        )
    if suggested is not None and suggested.name != csv_type.name:
        log.add(Kind.TYPE_MISMATCH, _mismatch_message(lowered, suggested, csv_type), row=1)


def _quoted_group(group: str) -> str:
    return " or ".join(f'"{name}"' for name in group.split(" or "))


def _check_spaced_cells(log: ProblemLog, header: list[str], *, known: frozenset[str]) -> None:
    for number, cell in enumerate(header, start=1):
        trimmed = cell.strip()
        if not trimmed or trimmed == cell:
            continue
        if trimmed.lower() in known:
            log.add(
                Kind.SPACED_COLUMN,
                f"Header cell {number} is {shown(cell)}, with spaces around it. Canvas does not trim "
                f'header cells, so it will not match it as the "{trimmed.lower()}" column and '
                "ignores its values. Remove the spaces.",
                row=1,
                column=cell,
            )
        else:
            log.add(
                Kind.SPACED_UNKNOWN_COLUMN,
                f"Header cell {number} is {shown(cell)}, with spaces around it. It is not a column "
                "Canvas reads anyway, but remove the spaces if it was meant to be one.",
                row=1,
                column=cell,
            )


def _check_duplicates(log: ProblemLog, lowered: list[str], *, known: frozenset[str]) -> None:
    positions: defaultdict[str, list[int]] = defaultdict(list)
    for number, name in enumerate(lowered, start=1):
        if name.strip():
            positions[name].append(number)
    for name, numbers in positions.items():
        if len(numbers) < 2:
            continue
        where = ", ".join(str(number) for number in numbers)
        if name in known:
            log.add(
                Kind.DUPLICATE_COLUMN,
                f"The column {shown(name)} appears {len(numbers)} times (columns {where}; Canvas "
                f"lowercases header cells). Canvas reads only column {numbers[0]} and ignores the "
                "others. Keep one column with that name.",
                row=1,
                column=name,
            )
        else:
            log.add(
                Kind.DUPLICATE_UNKNOWN_COLUMN,
                f"The column {shown(name)} appears {len(numbers)} times (columns {where}). Canvas "
                "does not read it, but give the columns distinct names if they matter.",
                row=1,
                column=name,
            )


def _unknown_header_message(header: list[str], suggested: CsvType | None) -> str:
    message = (
        f"Canvas does not recognise the header row ({columns_text(header)}) as any SIS CSV type, so "
        'it fails the file with "Couldn\'t find Canvas CSV import headers". '
    )
    trimmed_type = detect([cell.strip() for cell in header])
    if trimmed_type is not None:
        return message + (
            "Some header cells have spaces around them; without the spaces Canvas would read the "
            f"file as {trimmed_type.plural}. Remove the spaces."
        )
    missing = suggested.missing_columns(normalise_header(header)) if suggested is not None else []
    if suggested is not None and missing:
        noun, pronoun = ("columns", "them") if len(missing) > 1 else ("column", "it")
        return message + (
            f"The file name suggests {suggested.plural}, which need the {noun} "
            f"{', '.join(_quoted_group(group) for group in missing)}; add {pronoun} to the header."
        )
    return message + (
        "The first row must name Canvas columns, for example user_id,login_id,status for users. "
        "Check that the file has its header row and is a Canvas SIS CSV export."
    )


def _mismatch_message(lowered: list[str], suggested: CsvType, read_as: CsvType) -> str:
    culprits = [name for name in lowered if name in read_as.known_columns - suggested.known_columns]
    cause = f" because of the column(s) {columns_text(culprits)}" if culprits else ""
    fix = f"Remove the column(s) {columns_text(culprits)}, or" if culprits else "Fix the header, or"
    return (
        f"The file name suggests {suggested.plural}, but Canvas decides the type from the header "
        f"alone and reads it as {read_as.plural}{cause}, so its rows would be imported as "
        f"{read_as.plural}. {fix} rename the file if it really holds {read_as.plural}."
    )
