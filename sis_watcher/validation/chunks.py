r"""
Reading a CSV stream in large chunks of whole records, in constant memory.

Each chunk ends just after a line terminator that lies outside any quoted value (an even number
of `"` before it), so a quoted value with line breaks never straddles two chunks, and because
`\n` and `\r` never occur inside a UTF-8 multi-byte sequence, no character straddles two chunks
either: each chunk can be checked and decoded on its own. Cheap bytes-level facts (any `"`, any
NUL, the first invalid UTF-8 byte) travel with the chunk, so the row loop only looks closely at
chunks that need it.

A record longer than `MAX_RECORD_BYTES` (in practice a quote that is never closed) stops the
alignment: the chunk is cut at its last line break anyway, so memory stays bounded.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import IO

CHUNK_BYTES = 1 << 20
MAX_RECORD_BYTES = 16 << 20
BOM = "\ufeff"
LINE_BREAKS = ("\r\n", "\n", "\r")
UTF16_BOMS = ("\udcff\udcfe", "\udcfe\udcff")  # FF FE / FE FF as decoded with surrogateescape
# Bytes that were not UTF-8, as decoded with "surrogateescape": they can occur in no valid text.
NOT_UTF8 = re.compile("[\udc80-\udcff]")

# A record as Ruby's CSV parser (Canvas) accepts it: quoted values may hold anything with `"`
# doubled; unquoted values hold no `"` at all ("Illegal quoting"). Spaces around a quoted value
# are allowed because Canvas strips every field.
_FIELD = r'(?>[ \t]*"(?:[^"]|"")*+"[ \t]*|[^",\r\n]*+)'
RUBY_RECORD = re.compile(rf"{_FIELD}(?:,{_FIELD})*+(?:\r\n|\n|\r)?")


@dataclass(frozen=True, slots=True)
class Chunk:
    """
    Whole records decoded from `offset` on; `bad_utf8_at` is the first invalid byte's offset.

    `raw` is the chunk's bytes (BOM removed) for the bytes-level fast test; `lines` are split from
    `text` only when a row loop asks for them.
    """

    raw: bytes
    text: str
    exotic_breaks: bool
    offset: int
    size: int
    has_quotes: bool
    has_nul: bool
    bad_utf8_at: int | None
    utf16: bool
    has_whitespace: bool
    separator: str
    mixed_breaks: bool
    split: list[list[str]] = field(default_factory=list)

    @property
    def lines(self) -> list[str]:
        """The chunk's lines with their terminators, split on first use."""
        if not self.split:
            self.split.append(split_lines(self.text, exotic_breaks=self.exotic_breaks))
        return self.split[0]

    @property
    def lines_count(self) -> int:
        """The number of records in a chunk with only `separator` line breaks and no quotes."""
        ends = self.raw.count(self.separator.encode())
        return ends + (1 if self.raw and not self.raw.endswith(self.separator.encode()) else 0)

    @property
    def needs_care(self) -> bool:
        """True when rows of this chunk need the per-row byte checks (quotes, NUL, bad UTF-8)."""
        return self.has_quotes or self.has_nul or self.bad_utf8_at is not None


def record_chunks(stream: IO[bytes], *, chunk_bytes: int = CHUNK_BYTES) -> Iterator[Chunk]:
    """
    Yield `stream` as decoded chunks of whole records, about `chunk_bytes` each.

    The first chunk has its UTF-8 BOM removed. Invalid UTF-8 never raises: it is decoded with
    "surrogateescape" and reported through `Chunk.bad_utf8_at`. Read errors of `stream` escape.
    """
    carry = b""
    offset = 0
    separator = ""
    while True:
        data = stream.read(chunk_bytes)
        buffer = carry + data if carry else data
        separator = separator or row_separator(buffer, at_end=not data)
        if not data:
            if buffer:
                yield _decode(buffer, offset=offset, separator=separator or "\n")
            return
        cut = record_boundary(buffer)
        if cut == 0:
            if len(buffer) < MAX_RECORD_BYTES:
                carry = buffer
                continue
            cut = _last_line_break(buffer) or len(buffer)
        yield _decode(buffer[:cut], offset=offset, separator=separator or "\n")
        offset += cut
        carry = buffer[cut:]


def record_boundary(buffer: bytes) -> int:
    r"""
    Return the end of the last complete record in `buffer`, or 0 when there is none.

    A record ends after a line terminator with an even number of `"` before it. The search walks
    back from quote to quote, looking for a line break only between quotes where the count is
    even, so it stays linear however many line breaks a long quoted value holds. A `\r` as the
    very last byte is not trusted: the `\n` of a CRLF may follow in the next read.
    """
    end = len(buffer)
    search_to = end
    quotes = buffer.count(b'"') if b'"' in buffer else 0
    while True:
        last_quote = buffer.rfind(b'"', 0, search_to) if quotes else -1
        if quotes % 2 == 0:
            cut = _last_break_end(buffer, start=last_quote + 1, stop=search_to)
            if cut:
                return cut
        if last_quote < 0:
            return 0
        search_to = last_quote
        quotes -= 1


def _last_break_end(buffer: bytes, *, start: int, stop: int) -> int:
    """Return the position after the last line break in buffer[start:stop], or 0."""
    newline = buffer.rfind(b"\n", start, stop)
    position = max(newline, buffer.rfind(b"\r", max(start, newline + 1), stop))
    if 0 <= position == len(buffer) - 1 and buffer[position] == ord("\r"):
        return _last_break_end(buffer, start=start, stop=position)
    return position + 1


def _last_line_break(buffer: bytes) -> int:
    return max(buffer.rfind(b"\n"), buffer.rfind(b"\r")) + 1


def row_separator(buffer: bytes, *, at_end: bool) -> str:
    r"""
    Return the row separator Ruby's CSV would detect from the file's start, or "" if unknown yet.

    Ruby (row_sep: :auto) takes the first line break in the data: `\r\n`, `\n` or `\r`.
    """
    newline, carriage = buffer.find(b"\n"), buffer.find(b"\r")
    if carriage < 0 or 0 <= newline < carriage:
        return "\n" if newline >= 0 else ""
    if carriage + 1 < len(buffer):
        return "\r\n" if buffer[carriage + 1] == ord("\n") else "\r"
    return "\r" if at_end else ""


def _mixed_breaks(buffer: bytes, separator: str) -> bool:
    """Return True when `buffer` may hold a line break other than `separator` (even in quotes)."""
    if separator == "\n":
        return b"\r" in buffer
    if separator == "\r":
        return b"\n" in buffer
    return not buffer.count(b"\r") == buffer.count(b"\n") == buffer.count(b"\r\n")


def first_foreign_break(lines: list[str], *, separator: str, start: int) -> tuple[int, int] | None:
    """
    Find the first record of `lines[start:]` that ends with a line break other than `separator`.

    Ruby's CSV parser fails on such a break outside quotes ("Unquoted fields do not allow new
    line"); inside a quoted value any break is fine. Returns (records, blank lines) before it,
    or None when every record ends with `separator`.
    """
    quotes = records = blanks = 0
    for line in islice(lines, start, None):
        quotes += line.count('"')
        ending = "\r\n" if line.endswith("\r\n") else line[-1:]
        if quotes % 2 or ending not in LINE_BREAKS:
            continue
        if ending != separator:
            return records, blanks
        records += 1
        blanks += line == ending
    return None


def _decode(buffer: bytes, *, offset: int, separator: str) -> Chunk:
    bad_utf8_at = None
    try:
        text = buffer.decode("utf-8")
    except UnicodeDecodeError as error:
        bad_utf8_at = offset + error.start
        text = buffer.decode("utf-8", "surrogateescape")
    utf16 = offset == 0 and text.startswith(UTF16_BOMS)
    raw = buffer
    if offset == 0 and text.startswith(BOM):
        text = text[1:]
        raw = buffer[len(BOM.encode()) :]
    has_quotes = b'"' in buffer
    return Chunk(
        raw=raw,
        text=text,
        exotic_breaks=_has_exotic_breaks(buffer),
        offset=offset,
        size=len(buffer),
        has_quotes=has_quotes,
        has_nul=b"\x00" in buffer,
        bad_utf8_at=bad_utf8_at,
        utf16=utf16,
        has_whitespace=any(space in buffer for space in SPACE_BYTES),
        separator=separator,
        mixed_breaks=_mixed_breaks(buffer, separator),
    )


# What Ruby's strip removes, besides line breaks (which only a quoted value can hold).
SPACE_BYTES = (b" ", b"\t", b"\x0b", b"\x0c", b"\x00")
# Line boundaries of str.splitlines that are not CSV line breaks, as single bytes and as UTF-8.
EXOTIC_BREAK_BYTES = (b"\x0b", b"\x0c", b"\x1c", b"\x1d", b"\x1e")
EXOTIC_BREAK_SEQUENCES = ("\x85".encode(), "\u2028".encode(), "\u2029".encode())


def _has_exotic_breaks(buffer: bytes) -> bool:
    if any(byte in buffer for byte in EXOTIC_BREAK_BYTES):
        return True
    return not buffer.isascii() and any(sequence in buffer for sequence in EXOTIC_BREAK_SEQUENCES)


def split_lines(text: str, *, exotic_breaks: bool) -> list[str]:
    r"""
    Split `text` after each `\r\n`, `\n` or `\r`, keeping the terminators, like the csv module.

    `str.splitlines` is fast but also splits at `\x0b`, `\x1c`, U+2028 and others; when the text
    holds one of those (`exotic_breaks`), the slower but exact `io.StringIO` split is used.
    """
    if exotic_breaks:
        return io.StringIO(text, newline="").readlines()
    return text.splitlines(keepends=True)


def raw_record(row: list[str], *, lines: list[str], end_line: int) -> str:
    """Return the source text of `row`, the record that ended at line index `end_line` of `lines`."""
    breaks = sum(value.count("\n") + value.count("\r") - value.count("\r\n") for value in row)
    return "".join(lines[max(0, end_line - 1 - breaks) : end_line])
