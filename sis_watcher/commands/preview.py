"""
`sis-watcher preview [PATH...] [--json]`: what files would change in Canvas, before they are dropped.

Without PATHs it previews what is in the drop folder now (the files intake would take); a batch
folder stands for the export files its manifest lists. It reads the ledger without writing to it
(an empty ledger if there is none yet), with the import options of the config, and prints the
counts per CSV type, the baseline and the one-line summary; `--json` prints the manifest's
`changes` object. Exit 0; 1 when an input or the ledger cannot be read; 2 for config.
"""

from __future__ import annotations

import csv
import json
import sqlite3
import zipfile
from contextlib import ExitStack
from pathlib import Path
from typing import TextIO

from sis_watcher.batch.manifest import MANIFEST_NAME, ManifestUnreadable, load_manifest
from sis_watcher.config.settings import Config
from sis_watcher.core.exit_codes import EXIT_FAILURE, EXIT_OK
from sis_watcher.intake.readiness import scan
from sis_watcher.ledger.changes import COUNTS, ChangeSet
from sis_watcher.ledger.preview import preview
from sis_watcher.ledger.reading import sources_of
from sis_watcher.ledger.scope import scope_of
from sis_watcher.ledger.store import Ledger, LedgerUnusable

CSV_AND_ZIP = (".csv", ".zip")


def folder_inputs(folder: Path) -> list[Path]:
    """
    Return the files a folder stands for: a batch folder's export files, else its CSVs and zips.

    A batch folder (`queue/<id>`, `done/<id>`) also holds its own `batch.zip` of the same CSVs,
    `changes.csv` and Canvas's errors file: only the files its manifest lists are the export.
    """
    if (folder / MANIFEST_NAME).is_file():
        try:
            manifest = load_manifest(folder)
        except ManifestUnreadable:
            pass
        else:
            return [folder / entry.name for entry in manifest.files]
    return sorted(item for item in folder.iterdir() if item.suffix.lower() in CSV_AND_ZIP)


def inputs_of(config: Config, paths: list[Path]) -> list[Path]:
    """Return the files to preview: the PATHs (a folder stands for its CSVs and zips) or the drop folder's."""
    if not paths:
        snapshot = scan(config.folders.drop, config.intake)
        return [config.folders.drop / name for name in sorted(snapshot.files)]
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += folder_inputs(path)
        else:
            found.append(path)
    return found


def render(changes: ChangeSet, out: TextIO, *, ledger_path: Path) -> None:
    print(f"against the ledger {ledger_path} (baseline: {changes.baseline or 'empty'})", file=out)
    print(f"{'type':<24}" + "".join(f"{count:>13}" for count in COUNTS), file=out)
    for name, counts in changes.by_type.items():
        print(f"{name:<24}" + "".join(f"{getattr(counts, count):>13,}" for count in COUNTS), file=out)
    for note in changes.notes:
        print(f"note: {note}", file=out)
    print(f"summary: {changes.summary()}", file=out)
    print("The ledger is what sis-watcher sent; changes made in Canvas itself are not in it.", file=out)


def unreachable(path: Path) -> str | None:
    """
    Return why a ledger file that does not exist yet could not be made there, or None.

    A ledger not made yet is empty (the first night); one whose folder is a regular file is as
    unusable as it is for the daemon, and must not be shown as empty.
    """
    for folder in path.parents:
        if folder.exists():
            return None if folder.is_dir() else f"{folder} is not a folder"
    return None


def run_preview(config: Config, paths: list[Path], *, as_json: bool, out: TextIO, err: TextIO) -> int:
    """Preview `paths` (or the drop folder) against the ledger, read-only; return the exit code."""
    problem = unreachable(config.ledger_path) if not config.ledger_path.exists() else None
    if problem is not None:
        print(f"sis-watcher preview: {LedgerUnusable(config.ledger_path, problem)}", file=err)
        return EXIT_FAILURE
    try:
        files = inputs_of(config, paths)
        with Ledger(config.ledger_path, read_only=True) as ledger, ExitStack() as stack:
            sources = [source for path in files for source in stack.enter_context(sources_of(path))]
            try:
                changes = preview(ledger, sources, scope=scope_of(config.import_options))
            except sqlite3.Error as error:  # a file that opened as SQLite but is damaged inside
                raise LedgerUnusable(config.ledger_path, str(error)) from None
    except LedgerUnusable as error:
        print(f"sis-watcher preview: {error}", file=err)
        return EXIT_FAILURE
    except (OSError, UnicodeError, ValueError, csv.Error, zipfile.BadZipFile) as error:
        print(f"sis-watcher preview: cannot read the input: {error}", file=err)
        return EXIT_FAILURE
    if as_json:
        print(json.dumps(changes.to_json(), indent=2), file=out)
    else:
        render(changes, out, ledger_path=config.ledger_path)
    return EXIT_OK
