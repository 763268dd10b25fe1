r"""
The fast test: a whole chunk of clean rows checked by one regular expression, at C speed.

Most chunks of a nightly export hold no quotes, NUL bytes, bad UTF-8 or stray line breaks.
For those, one compiled pattern says whether *every* row has the header's number of fields,
a non-blank value in each required column (Ruby's strip: spaces and tabs do not count), and a
status Canvas accepts (its case-insensitive prefix rule). A chunk that matches is clean and only
its rows are counted; one that does not goes through the row loop, which finds and words each
problem. The pattern is an optimisation only: it never decides a problem, so it cannot disagree
with the row loop about what is wrong, only about how fast "nothing" is found.

A required group with two columns present (`course_id` or `section_id`) becomes an alternative
per column that may hold the value; beyond `MAX_ALTERNATIVES` the fast test is not built.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence

SPACE = rb"[ \t\x0b\x0c]"
ANY = rb"[^,\r\n]*"
FILLED = rb"[ \t\x0b\x0c]*[^, \t\x0b\x0c\r\n][^,\r\n]*"
MAX_ALTERNATIVES = 8
BLANK_OR_EMPTY_LINE = re.compile(rb"(?m)^[ \t\x0b\x0c,]*\r?\n")


def status_field(statuses: Sequence[str]) -> bytes:
    """Return the pattern of a status Canvas accepts: a known prefix, any case, spaces before."""
    choices = b"|".join(re.escape(status.encode()) for status in sorted(statuses, key=len, reverse=True))
    return SPACE + rb"*(?i:" + choices + rb")" + ANY


def line_pattern(width: int, *, filled: set[int], status_index: int, statuses: Sequence[str]) -> bytes:
    """Return the pattern of one row: `width` fields, those in `filled` non-blank, a valid status."""
    fields = []
    for index in range(width):
        if index == status_index and statuses:
            fields.append(status_field(statuses))
        elif index in filled:
            fields.append(FILLED)
        else:
            fields.append(ANY)
    return b",".join(fields)


def build_fast_test(
    width: int,
    *,
    groups: Sequence[tuple[int, ...]],
    status_index: int,
    statuses: Sequence[str],
    separator: str,
) -> re.Pattern[bytes] | None:
    r"""
    Return a pattern that fully matches a chunk exactly when all its rows pass the row loop clean.

    None when the file's shape does not allow one (no required columns, a `\r` separator, too
    many alternatives).
    """
    if not groups or separator not in ("\n", "\r\n") or width == 0:
        return None
    choices = list(itertools.product(*groups))
    if len(choices) > MAX_ALTERNATIVES:
        return None
    lines = [
        line_pattern(width, filled=set(choice), status_index=status_index, statuses=statuses)
        for choice in choices
    ]
    line = b"(?:" + b"|".join(lines) + b")" if len(lines) > 1 else lines[0]
    terminator = re.escape(separator.encode())
    return re.compile(b"(?:" + line + terminator + b")*+(?:" + line + b")?+")


def blank_or_empty_lines(raw: bytes) -> int:
    """Return the lines of a quote-free chunk that Canvas skips (blank, or only commas and spaces)."""
    count = len(BLANK_OR_EMPTY_LINE.findall(raw))
    last = raw[raw.rfind(b"\n") + 1 :]
    if last and not last.strip(b" \t\x0b\x0c,"):
        count += 1
    return count
