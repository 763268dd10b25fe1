"""
The shrink guard: stop a truncated export before it reaches Canvas.

A batch whose rows of one CSV type fell by more than `guard.max_shrink_percent` against the
last batch that ended in done/ with that type is failed before upload, both counts in the
reason. Rows are summed per type (an export may split enrollments over several files).
`retry --force` sends the batch anyway. The last good counts live in `queue/.shrink-guard.json`,
written when a batch is filed done; if that file is missing, done/ manifests are read once.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sis_watcher.batch.ids import batch_folders
from sis_watcher.batch.manifest import FileEntry, Manifest, ManifestUnreadable, load_manifest
from sis_watcher.core.durable import atomic_write_json

GUARD_FILE = ".shrink-guard.json"


@dataclass(frozen=True, slots=True, kw_only=True)
class Shrink:
    csv_type: str
    rows: int
    previous_rows: int
    previous_batch: str

    @property
    def percent(self) -> float:
        return 100.0 * (self.previous_rows - self.rows) / self.previous_rows


def rows_by_type(files: Iterable[FileEntry]) -> dict[str, int]:
    """Return data rows per CSV type across a batch's files (zip members included)."""
    totals: dict[str, int] = defaultdict(int)
    for entry in files:
        parts = entry.members if entry.members is not None else [entry]
        for part in parts:
            if part.csv_type and part.rows is not None:
                totals[part.csv_type] += part.rows
    return dict(totals)


def load_baseline(queue: Path, done: Path) -> dict[str, dict[str, object]]:
    """Return {csv_type: {"rows", "batch_id"}} of the last good batches."""
    path = queue / GUARD_FILE
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(document, dict) and all(isinstance(entry, dict) for entry in document.values()):
            return document
    except (OSError, ValueError):
        pass
    baseline: dict[str, dict[str, object]] = {}
    for batch_dir in reversed(batch_folders(done)):
        try:
            manifest = load_manifest(batch_dir)
        except ManifestUnreadable:
            continue
        for csv_type, rows in rows_by_type(manifest.files).items():
            baseline.setdefault(csv_type, {"rows": rows, "batch_id": manifest.batch_id})
    return baseline


def record_success(manifest: Manifest, *, queue: Path, done: Path) -> None:
    """Remember this done batch's rows per type as the new baseline."""
    baseline = load_baseline(queue, done)
    for csv_type, rows in rows_by_type(manifest.files).items():
        baseline[csv_type] = {"rows": rows, "batch_id": manifest.batch_id}
    atomic_write_json(queue / GUARD_FILE, baseline)


def find_shrinks(manifest: Manifest, *, max_shrink_percent: float, queue: Path, done: Path) -> list[Shrink]:
    """Return the CSV types of this batch that shrank more than allowed."""
    baseline = load_baseline(queue, done)
    shrinks = []
    for csv_type, rows in sorted(rows_by_type(manifest.files).items()):
        previous = baseline.get(csv_type)
        if not previous:
            continue
        previous_rows = previous.get("rows")
        if not isinstance(previous_rows, int) or previous_rows <= 0:
            continue
        shrink = Shrink(
            csv_type=csv_type,
            rows=rows,
            previous_rows=previous_rows,
            previous_batch=str(previous.get("batch_id")),
        )
        if shrink.percent > max_shrink_percent:
            shrinks.append(shrink)
    return shrinks


def describe(shrinks: Iterable[Shrink], *, max_shrink_percent: float, batch_id: str) -> str:
    """Return the failure reason naming both counts for every shrunk type."""
    parts = [
        f"{item.csv_type} rows fell from {item.previous_rows:,} (batch {item.previous_batch}) "
        f"to {item.rows:,} (-{item.percent:.1f}%)"
        for item in shrinks
    ]
    return (
        f"shrink guard: {'; '.join(parts)}, more than guard.max_shrink_percent={max_shrink_percent:g}; "
        f"if the export is right, send it with `sis-watcher retry --force {batch_id}`"
    )
