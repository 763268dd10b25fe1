"""
What an upload holds, as Canvas opens it: the CSV itself, or the CSV members of a zip.

A zip over Canvas's limits (members, uncompressed bytes, expansion ratio) fails the batch
outright with Canvas's `error_message`; unsafe members (symlinks, absolute paths, `..`) are
skipped as CanvasUnzip skips them, and non-CSV members are warned about.
"""

from __future__ import annotations

import codecs
import csv
import functools
import hashlib
import io
import stat
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO

from sis_watcher.canvas.csv_names import zip_member_is_ignored
from sis_watcher.canvas.csv_rules import CsvType
from sis_watcher.canvas.csv_types import detect
from sis_watcher.simulator.model.outcome import ProcessingOutcome, SisMessage
from sis_watcher.simulator.model.settings import SimulatorSettings

READ_CHUNK = 1 << 20


HEADER_PREFIX = 256 * 1024

Opener = Callable[[], IO[bytes]]


@dataclass(frozen=True, slots=True)
class Source:
    path: str
    open: Opener


def unsafe(info: zipfile.ZipInfo) -> bool:
    """Return True for symlinks, absolute paths and `..` (CanvasUnzip skips them, docs/canvas.md §3.5)."""
    is_link = stat.S_ISLNK(info.external_attr >> 16)
    return is_link or info.filename.startswith("/") or ".." in info.filename.split("/")


def zip_sources(
    archive: zipfile.ZipFile, zip_size: int, settings: SimulatorSettings, outcome: ProcessingOutcome
) -> list[Source]:
    """Return the CSV members to read, warning about others; set `error_message` past the limits."""
    infos = archive.infolist()
    outcome.uncompressed_size = sum(info.file_size for info in infos)
    if len(infos) > settings.max_zip_members:
        outcome.error_message = "CanvasUnzip::FileLimitExceeded"  # docs/canvas.md §3.5
        return []
    byte_limit = min(settings.max_uncompressed_bytes, settings.max_expansion_ratio * zip_size)
    if outcome.uncompressed_size > byte_limit:
        outcome.error_message = "CanvasUnzip::SizeLimitExceeded"  # docs/canvas.md §3.5: 100x the zip
        return []
    sources = []
    for info in infos:
        if info.is_dir() or zip_member_is_ignored(info.filename) or unsafe(info):
            continue
        if not info.filename.lower().endswith(".csv"):
            outcome.add(SisMessage(file=info.filename, message="Skipping unknown file type"))
            continue
        sources.append(Source(info.filename, functools.partial(archive.open, info)))
    return sources


@dataclass(frozen=True, slots=True)
class Scan:
    source: Source
    size: int
    sha256: str
    csv_type: CsvType | None
    problem: str | None


def scan(source: Source) -> Scan:
    """Read a member once: size, sha256, UTF-8 validity (docs/canvas.md §3.4) and its type by header."""
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    prefix = bytearray()
    size = 0
    valid = True
    with source.open() as handle:
        for chunk in iter(lambda: handle.read(READ_CHUNK), b""):
            digest.update(chunk)
            size += len(chunk)
            if len(prefix) < HEADER_PREFIX:
                prefix.extend(chunk[: HEADER_PREFIX - len(prefix)])
            if valid:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    valid = False
    if valid:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            valid = False
    if size == 0:
        return Scan(source, 0, digest.hexdigest(), None, None)
    if not valid:
        return Scan(source, size, digest.hexdigest(), None, "Invalid UTF-8")
    text = bytes(prefix).decode("utf-8-sig", errors="ignore")
    try:
        header = next((row for row in csv.reader(io.StringIO(text, newline=""), strict=True) if row), [])
    except csv.Error:
        return Scan(source, size, digest.hexdigest(), None, "Malformed CSV")
    csv_type = detect(header)
    problem = None if csv_type else "Couldn't find Canvas CSV import headers"
    return Scan(source, size, digest.hexdigest(), csv_type, problem)


@contextmanager
def csv_rows(source: Source) -> Iterator[Iterator[list[str]]]:
    """Open a member as CSV rows (BOM stripped, RFC 4180 quoting enforced, blank lines skipped)."""
    with source.open() as raw, io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as text:
        yield csv.reader(text, strict=True)
