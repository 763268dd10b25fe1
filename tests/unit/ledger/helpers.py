"""Helpers for the ledger tests: batches written as real CSV files, previewed and applied for real."""

from __future__ import annotations

import csv
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from sis_watcher.ledger.apply import apply_batch
from sis_watcher.ledger.changes import ChangeSet
from sis_watcher.ledger.identity import readable_key
from sis_watcher.ledger.preview import preview
from sis_watcher.ledger.reading import sources_of
from sis_watcher.ledger.records import values_of
from sis_watcher.ledger.scope import ImportScope
from sis_watcher.ledger.store import Ledger

APPLIED_AT = "2026-11-27T02:30:00Z"
Table = Sequence[Sequence[str]]  # one CSV file: its header, then its rows
Files = Mapping[str, Table]  # a batch: file name -> table


def batch_id(number: int) -> str:
    """Return the id of the `number`th batch (ids sort in the order they are numbered)."""
    return f"20261127T0200{number:02d}Z-{number:06x}"


def csv_text(table: Table) -> str:
    lines: list[str] = []
    writer = csv.writer(Lines(lines), lineterminator="\n")
    writer.writerows(table)
    return "".join(lines)


class Lines:
    """A sink for csv.writer that keeps what it is given."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    def write(self, text: str) -> int:
        self.lines.append(text)
        return len(text)


def write_csv(path: Path, table: Table) -> Path:
    path.write_text(csv_text(table), encoding="utf-8", newline="")
    return path


def write_zip(path: Path, members: Mapping[str, str | Table]) -> Path:
    """Write a zip whose members are CSV tables (or raw text)."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content if isinstance(content, str) else csv_text(content))
    return path


def write_files(folder: Path, files: Files) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, table in files.items():
        write_csv(folder / name, table)
    return folder


def preview_folder(
    ledger: Ledger,
    folder: Path,
    *,
    scope: ImportScope | None = None,
    batch_id: str | None = None,
    changes_csv: Path | None = None,
) -> ChangeSet:
    """Preview every CSV and zip of `folder`, read through `reading.sources_of` as the pipeline does."""
    with ExitStack() as stack:
        sources = [
            source
            for path in sorted(folder.iterdir())
            if path.suffix.lower() in {".csv", ".zip"}
            for source in stack.enter_context(sources_of(path))
        ]
        return preview(
            ledger, sources, scope=scope or ImportScope(), batch_id=batch_id, changes_csv=changes_csv
        )


@dataclass(frozen=True, slots=True)
class Previewed:
    batch_id: str
    folder: Path
    changes: ChangeSet


@dataclass(slots=True)
class Batches:
    """The batches sent to one ledger, numbered in the order they are made."""

    ledger: Ledger
    root: Path
    made: int = 0

    def make(self, files: Files) -> tuple[str, Path]:
        """Write a batch folder with `files`; return its id and folder."""
        self.made += 1
        ident = batch_id(self.made)
        return ident, write_files(self.root / ident, files)

    def preview(self, files: Files, *, scope: ImportScope | None = None) -> Previewed:
        """Write a batch and preview it with its id (its changes kept as pending rows)."""
        ident, folder = self.make(files)
        changes = preview_folder(self.ledger, folder, scope=scope, batch_id=ident)
        return Previewed(batch_id=ident, folder=folder, changes=changes)

    def apply(self, previewed: Previewed, *, errored: Iterable[tuple[str, int]] = ()) -> bool:
        return apply_batch(
            self.ledger,
            previewed.batch_id,
            batch_dir=previewed.folder,
            errored=errored,
            applied_at=APPLIED_AT,
        )

    def send(
        self, files: Files, *, scope: ImportScope | None = None, errored: Iterable[tuple[str, int]] = ()
    ) -> ChangeSet:
        """Preview a batch and apply it as if Canvas imported it; return the preview."""
        previewed = self.preview(files, scope=scope)
        assert self.apply(previewed, errored=errored)
        return previewed.changes


def rows_of(ledger: Ledger, csv_type: str) -> dict[str, dict[str, str]]:
    """Return the ledger's rows of `csv_type`: {key as people read it: {column: value}}."""
    found = ledger.db.execute("SELECT key, columns, vals FROM rows WHERE csv_type = ?", (csv_type,))
    return {readable_key(str(key)): values_of(str(columns), str(vals)) for key, columns, vals in found}


def keys_of(ledger: Ledger, csv_type: str) -> set[str]:
    return set(rows_of(ledger, csv_type))


def terms_of(ledger: Ledger, csv_type: str) -> dict[str, str | None]:
    """Return {key: the batch-mode term recorded with the row}."""
    found = ledger.db.execute("SELECT key, term FROM rows WHERE csv_type = ?", (csv_type,))
    return {readable_key(str(key)): term for key, term in found}
