"""
The preview's prediction against what Canvas reports it did, for `status` and the batch alerts.

A filed batch may hold both: `changes.<csv_type>` (what the preview predicted: `added`,
`deleted`, `dropped`) and Canvas's own numbers (`canvas.counts`, `canvas.statistics`). They are
compared per CSV type, each as "predicted 45 enrollments dropped; Canvas deleted 45":

- batch mode (`changes.options.batch_mode`): the `dropped` courses, sections and enrollments
  against `canvas.counts.batch_<plural>_deleted` (docs/canvas.md §A3; absent when a threshold
  stopped the cleanup: "Canvas deleted none (no count)");
- otherwise, for each type with a statistics model (`user` is `Pseudonym`, `section`
  `CourseSection`, ...), `deleted` plus `dropped` against the model's `deleted` in
  `canvas.statistics`;
- and for every type with a model, batch mode or not, `added` against the model's `created`.

A comparison where both sides are 0 is left out. A batch without `changes` (no ledger), one
Canvas has not finished, or one with nothing to compare has no prediction line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sis_watcher.batch.manifest import Manifest
from sis_watcher.canvas.verdict import is_terminal

BATCH_MODE_PLURALS = {"course": "courses", "section": "sections", "enrollment": "enrollments"}
STATISTICS_MODELS = {
    "user": "Pseudonym",
    "course": "Course",
    "section": "CourseSection",
    "enrollment": "Enrollment",
    "group": "Group",
    "group_membership": "GroupMembership",
    "account": "Account",
    "term": "EnrollmentTerm",
    "user_observer": "UserObserver",
    "admin": "AccountUser",
}
PLURAL_NAMES = {"user_observer": "user observers", "group_membership": "group memberships"}
NOT_TYPES = frozenset({"baseline", "csv", "summary", "options", "notes"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Comparison:
    """One predicted number and Canvas's (None: Canvas reported none)."""

    csv_type: str
    predicted: int
    predicted_as: str  # added | deleted | dropped | deleted or dropped
    canvas: int | None
    canvas_as: str  # created | deleted

    @property
    def agrees(self) -> bool:
        return self.predicted == self.canvas

    def text(self) -> str:
        name = self.csv_type.replace("_", " ")
        if self.predicted != 1:
            name = PLURAL_NAMES.get(self.csv_type, f"{name}s")
        canvas = f"{self.canvas:,}" if self.canvas is not None else "none (no count)"
        mismatch = "" if self.agrees else " (mismatch)"
        predicted = f"predicted {self.predicted:,} {name} {self.predicted_as}"
        return f"{predicted}; Canvas {self.canvas_as} {canvas}{mismatch}"

    def to_json(self) -> dict[str, Any]:
        return {
            "csv_type": self.csv_type,
            "predicted": self.predicted,
            "predicted_as": self.predicted_as,
            "canvas": self.canvas,
            "canvas_as": self.canvas_as,
            "agrees": self.agrees,
        }


def number(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def model_count(statistics: dict[str, Any] | None, model: str, name: str) -> int | None:
    """Return `statistics.<model>.<name>`, or None when Canvas sent no statistics."""
    if statistics is None:
        return None
    entry = statistics.get(model)
    return number(entry.get(name)) if isinstance(entry, dict) else 0


def type_changes(changes: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Return the per-type counts of the manifest's `changes`, in its order."""
    return {
        name: value for name, value in changes.items() if name not in NOT_TYPES and isinstance(value, dict)
    }


def compare(manifest: Manifest) -> list[Comparison]:
    """Return every comparison of the preview with Canvas's numbers for a batch Canvas finished."""
    changes = manifest.changes
    if not changes or manifest.canvas.import_id is None or not is_terminal(manifest.canvas.workflow_state):
        return []
    options = changes.get("options")
    batch_mode = isinstance(options, dict) and bool(options.get("batch_mode"))
    found: list[Comparison] = []
    for csv_type, counts in type_changes(changes).items():
        found += [
            item
            for item in type_comparisons(manifest, csv_type, counts, batch_mode)
            if item.predicted or item.canvas
        ]
    return found


def type_comparisons(
    manifest: Manifest, csv_type: str, counts: dict[str, Any], batch_mode: bool
) -> list[Comparison]:
    """Return one CSV type's comparisons (both sides 0 included)."""
    canvas = manifest.canvas
    added, deleted, dropped = (number(counts.get(name)) for name in ("added", "deleted", "dropped"))
    plural = BATCH_MODE_PLURALS.get(csv_type) if batch_mode else None
    model = STATISTICS_MODELS.get(csv_type)
    found = []
    if plural is not None:
        reported = canvas.counts.get(f"batch_{plural}_deleted")
        found.append(
            Comparison(
                csv_type=csv_type,
                predicted=dropped,
                predicted_as="dropped",
                canvas=reported,
                canvas_as="deleted",
            )
        )
    if model is None:
        return found
    created = model_count(canvas.statistics, model, "created")
    found.append(
        Comparison(
            csv_type=csv_type, predicted=added, predicted_as="added", canvas=created, canvas_as="created"
        )
    )
    if plural is None:
        removed = model_count(canvas.statistics, model, "deleted")
        removed_as = "deleted or dropped" if dropped else "deleted"
        found.append(
            Comparison(
                csv_type=csv_type,
                predicted=deleted + dropped,
                predicted_as=removed_as,
                canvas=removed,
                canvas_as="deleted",
            )
        )
    return found


def prediction_line(manifest: Manifest) -> str | None:
    """Return the one line comparing prediction and Canvas, or None when there is nothing to compare."""
    return line_of(compare(manifest))


def line_of(found: list[Comparison]) -> str | None:
    return " | ".join(item.text() for item in found) if found else None


def change_summary(manifest: Manifest) -> str | None:
    """Return the preview's one-line summary (`user +120 ~300; enrollment +2,001 -45`), if any."""
    summary = (manifest.changes or {}).get("summary")
    return summary if isinstance(summary, str) and summary else None


def preview_details(manifest: Manifest) -> tuple[list[str], dict[str, Any]]:
    """Return an alert's lines (`Changes:`, `Prediction:`) and fields about the preview and Canvas."""
    summary = change_summary(manifest)
    found = compare(manifest)
    prediction = line_of(found)
    lines = [f"Changes: {summary}"] if summary else []
    lines += [f"Prediction: {prediction}"] if prediction else []
    fields = {
        "changes": summary,
        "prediction": prediction,
        "prediction_details": [item.to_json() for item in found],
    }
    return lines, fields
