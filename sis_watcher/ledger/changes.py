"""
What a batch will change in Canvas, as counts per CSV type: the preview's result.

`ChangeSet.to_json()` is the manifest's `changes` object (README "The change preview"): one
entry per CSV type with `added`, `updated`, `unchanged`, `deleted`, `dropped` and `ledger_rows`,
plus `baseline` (the last batch applied to the ledger), `csv` (the file listing every changed key)
and `summary` (one line for logs, status and alerts: `user +120 ~300; enrollment +2,001 -45`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

COUNTS = ("added", "updated", "unchanged", "deleted", "dropped", "ledger_rows")
CHANGES_NAME = "changes.csv"
NOT_TYPES = frozenset({"options"})  # the other objects under `changes`


@dataclass(slots=True, kw_only=True)
class TypeChanges:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    dropped: int = 0
    ledger_rows: int = 0

    @property
    def removed(self) -> int:
        """Rows Canvas will remove: deleted by their status, or dropped by batch mode or diffing."""
        return self.deleted + self.dropped

    @property
    def changes_anything(self) -> bool:
        return bool(self.added or self.updated or self.deleted or self.dropped)

    def summary(self) -> str:
        parts = [f"+{self.added:,}"] if self.added else []
        parts += [f"~{self.updated:,}"] if self.updated else []
        parts += [f"-{self.removed:,}"] if self.removed else []
        return " ".join(parts) or "unchanged"


@dataclass(slots=True, kw_only=True)
class ChangeSet:
    by_type: dict[str, TypeChanges] = field(default_factory=dict)
    baseline: str | None = None
    notes: list[str] = field(default_factory=list)
    csv: str | None = None

    @property
    def changes_anything(self) -> bool:
        return any(changes.changes_anything for changes in self.by_type.values())

    def summary(self) -> str:
        """Return `user +120 ~300; enrollment +2,001 -45` (types in the batch's order)."""
        if not self.by_type:
            return "no rows"
        return "; ".join(f"{name} {changes.summary()}" for name, changes in self.by_type.items())

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {name: asdict(changes) for name, changes in self.by_type.items()}
        document["baseline"] = self.baseline
        document["csv"] = self.csv
        document["summary"] = self.summary()
        if self.notes:
            document["notes"] = list(self.notes)
        return document

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> ChangeSet:
        """Read the manifest's `changes` back (unknown keys are ignored)."""
        by_type = {
            name: TypeChanges(**{count: int(value.get(count, 0)) for count in COUNTS})
            for name, value in document.items()
            if isinstance(value, dict) and name not in NOT_TYPES
        }
        notes = document.get("notes")
        baseline = document.get("baseline")
        csv = document.get("csv")
        return cls(
            by_type=by_type,
            baseline=baseline if isinstance(baseline, str) else None,
            notes=[str(note) for note in notes] if isinstance(notes, list) else [],
            csv=csv if isinstance(csv, str) else None,
        )
