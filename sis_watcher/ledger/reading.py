"""
Reading a batch's rows the way Canvas reads them, one file (or zip member) at a time.

Each source yields `(number, cells)`: the row's number as Canvas counts it in its errors file
(the header is row 1) and its raw cells, in the order of the source's `columns` (header names
lowercased). `values_of` turns cells into values as Canvas reads them (`identity.clean`:
stripped, blank is absent); the preview does that only for rows it has to look at closely. The
CSV type is Canvas's own detection from the header (`canvas.csv_types.detect`); a file Canvas
would not recognise yields nothing. Rows are streamed, so a 2M-row file is read in constant
memory.
"""

from __future__ import annotations

import csv
import functools
import io
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from sis_watcher.canvas.csv_names import zip_member_is_ignored
from sis_watcher.canvas.csv_types import detect
from sis_watcher.ledger.identity import clean

FIELD_LIMIT = 1 << 24  # Canvas's CSVs may hold long fields (descriptions); the default is 128 KiB
FIRST_ROW = 2  # the header is row 1 in Canvas's errors file
BLOCK = 4 << 20


def is_row(cells: list[str]) -> bool:
    """Return True for a record Canvas reads as a row (not blank, not every value empty)."""
    return bool(cells) and (bool(cells[0].strip()) or any(cell.strip() for cell in cells))


@dataclass(frozen=True, slots=True, kw_only=True)
class Source:
    """
    One CSV of a batch, typed by its header.

    `name` is the name Canvas reports it by (a zip member's name); `origin` the batch file it is
    in (the CSV itself, or the zip).
    """

    name: str
    origin: str
    csv_type: str
    columns: tuple[str, ...]
    records: Iterator[list[str]]  # every record after the header, blank ones included
    opener: Callable[[], IO[bytes]]  # the same CSV again, as bytes
    header_lines: int = 1

    @contextmanager
    def lines(self) -> Iterator[Iterator[bytes]]:
        """Yield the raw data lines, line ends dropped (one per record if `is_line_safe`)."""
        with self.opener() as stream:
            for _ in range(self.header_lines):
                stream.readline()
            yield (line.rstrip(b"\r\n") for line in stream)

    @contextmanager
    def line_blocks(self) -> Iterator[Iterator[list[bytes]]]:
        """
        Yield the raw data lines as `lines()` does, a few megabytes of whole lines at a time.

        One `split` a block instead of a Python step a line: the preview's fast path reads 2M
        lines a night this way.
        """

        def blocks(stream: IO[bytes]) -> Iterator[list[bytes]]:
            while block := stream.read(BLOCK):
                block += stream.readline()  # whole lines only
                lines = block.split(b"\n")
                if block.endswith(b"\n"):
                    lines.pop()  # the empty piece after the last line end
                yield [line.rstrip(b"\r") for line in lines] if b"\r" in block else lines

        with self.opener() as stream:
            for _ in range(self.header_lines):
                stream.readline()
            yield blocks(stream)

    def is_line_safe(self) -> bool:
        """Return True when every record is one line: no line holds an odd number of quotes."""
        with self.opener() as stream:
            for _ in range(self.header_lines):
                stream.readline()
            while block := stream.read(BLOCK):
                block += stream.readline()  # whole lines only
                if b'"' in block and any(line.count(b'"') % 2 for line in block.split(b"\n") if b'"' in line):
                    return False
        return True

    @property
    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """Yield `(number, cells)` for every row Canvas reads (blank and all-empty rows skipped)."""
        for index, cells in enumerate(self.records):
            if is_row(cells):
                yield index + FIRST_ROW, cells

    def values_of(self, cells: list[str]) -> dict[str, str]:
        """Return a row's values as Canvas reads them: {column: stripped value}, blanks left out."""
        return {
            column: value
            for column, raw in zip(self.columns, cells, strict=False)
            if (value := clean(raw)) is not None
        }


def read_source(
    name: str, text: io.TextIOWrapper, *, origin: str, opener: Callable[[], IO[bytes]]
) -> Source | None:
    """Return the typed source of one CSV text stream, or None when Canvas would not recognise it."""
    csv.field_size_limit(FIELD_LIMIT)
    reader = csv.reader(text)
    header = next((row for row in reader if row), None)
    if header is None:
        return None
    csv_type = detect(header)
    if csv_type is None:
        return None
    columns = tuple(cell.lower() for cell in header)
    return Source(
        name=name,
        origin=origin,
        csv_type=csv_type.name,
        columns=columns,
        records=reader,
        opener=opener,
        header_lines=reader.line_num,
    )


def text_of(stream: IO[bytes]) -> io.TextIOWrapper:
    """Return the stream as text the way Canvas decodes it (UTF-8, a BOM dropped)."""
    return io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace", newline="")


@contextmanager
def sources_of(path: Path, *, display_name: str | None = None) -> Iterator[list[Source]]:
    """Open a CSV, or each CSV member of a zip, as typed sources (all closed on exit)."""
    with ExitStack() as stack:
        found: list[Source] = []
        if path.name.lower().endswith(".zip"):
            archive = stack.enter_context(zipfile.ZipFile(path))
            for info in archive.infolist():
                if info.is_dir() or zip_member_is_ignored(info.filename):
                    continue
                if not info.filename.lower().endswith(".csv"):
                    continue
                text = stack.enter_context(text_of(archive.open(info)))
                opener = functools.partial(archive.open, info)
                source = read_source(info.filename, text, origin=display_name or path.name, opener=opener)
                found += [source] if source is not None else []
        else:
            text = stack.enter_context(text_of(path.open("rb")))
            opener = functools.partial(path.open, "rb")
            source = read_source(
                display_name or path.name, text, origin=display_name or path.name, opener=opener
            )
            found += [source] if source is not None else []
        yield found


@contextmanager
def batch_sources(folder: Path, names: Iterable[str]) -> Iterator[list[Source]]:
    """Open every file of a batch (its names, in its folder) as typed sources, all closed on exit."""
    with ExitStack() as stack:
        yield [
            source
            for name in names
            for source in stack.enter_context(sources_of(folder / name, display_name=name))
        ]
