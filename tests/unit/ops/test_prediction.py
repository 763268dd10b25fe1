"""Unit tests for `sis_watcher.ops.prediction`: the preview's numbers against the ones Canvas reports."""

from __future__ import annotations

from typing import Any

from sis_watcher.batch.manifest import BatchState, CanvasRecord, Manifest
from sis_watcher.ops.prediction import change_summary, compare, prediction_line, preview_details

BATCH_ID = "20261127T020000Z-3f9a1c"


def counts(**values: int) -> dict[str, int]:
    return {"added": 0, "updated": 0, "unchanged": 0, "deleted": 0, "dropped": 0, "ledger_rows": 0, **values}


def statistics(**models: dict[str, int]) -> dict[str, Any]:
    """Canvas's statistics with every model zero and some set."""
    names = ("Account", "EnrollmentTerm", "Course", "CourseSection", "Pseudonym", "Enrollment", "AccountUser")
    result: dict[str, Any] = {"total_state_changes": 0}
    for model in names:
        result[model] = {"created": 0, "restored": 0, "deleted": 0} | models.get(model, {})
    return result


def finished(
    changes: dict[str, Any] | None,
    *,
    batch_mode: bool = False,
    canvas_counts: dict[str, int] | None = None,
    stats: dict[str, Any] | None = None,
    workflow_state: str = "imported",
) -> Manifest:
    """A batch Canvas finished, previewed with `changes` (per type) in batch mode or not."""
    document = None
    if changes is not None:
        document = {**changes, "baseline": "B0", "csv": "changes.csv", "summary": "the summary"}
        document["options"] = {"batch_mode": batch_mode, "batch_mode_terms": ["T1"] if batch_mode else None}
    return Manifest(
        batch_id=BATCH_ID,
        state=BatchState.DONE,
        sealed_at="2026-11-27T02:00:00.000000Z",
        changes=document,
        canvas=CanvasRecord(
            import_id=77, workflow_state=workflow_state, counts=canvas_counts or {}, statistics=stats
        ),
    )


class TestBatchMode:
    def test_dropped_rows_are_compared_with_canvas_batch_counts(self):
        """In batch mode the dropped enrollments are compared with `batch_enrollments_deleted`."""
        manifest = finished(
            {"enrollment": counts(dropped=45, unchanged=400)},
            batch_mode=True,
            canvas_counts={"enrollments": 400, "batch_enrollments_deleted": 45},
            stats=statistics(Enrollment={"deleted": 45}),
        )

        assert "predicted 45 enrollments dropped; Canvas deleted 45" == prediction_line(manifest)
        assert [True] == [item.agrees for item in compare(manifest)]

    def test_a_cleanup_stopped_by_a_threshold_has_no_count(self):
        """Without Canvas's batch count (a threshold abort), the line says so and marks the mismatch."""
        manifest = finished(
            {"enrollment": counts(dropped=45)},
            batch_mode=True,
            stats=statistics(),
            workflow_state="aborted",
        )

        assert (
            "predicted 45 enrollments dropped; Canvas deleted none (no count) (mismatch)"
            == prediction_line(manifest)
        )

    def test_additions_are_compared_with_created_and_other_types_with_deleted(self):
        """Batch mode still compares additions, and users' deletions against Pseudonym."""
        manifest = finished(
            {"user": counts(added=1, deleted=2), "course": counts(added=3, dropped=1)},
            batch_mode=True,
            canvas_counts={"batch_courses_deleted": 1},
            stats=statistics(Pseudonym={"created": 1, "deleted": 2}, Course={"created": 3, "deleted": 1}),
        )

        assert (
            "predicted 1 user added; Canvas created 1 | predicted 2 users deleted; Canvas deleted 2 | "
            "predicted 1 course dropped; Canvas deleted 1 | predicted 3 courses added; Canvas created 3"
        ) == prediction_line(manifest)


class TestStatistics:
    def test_deleted_and_dropped_are_compared_with_the_models_deleted(self):
        """Outside batch mode, deleted plus dropped rows are compared with the model's `deleted`."""
        manifest = finished(
            {"enrollment": counts(deleted=3, dropped=2), "section": counts(added=2)},
            stats=statistics(Enrollment={"deleted": 4}, CourseSection={"created": 2}),
        )

        assert (
            "predicted 5 enrollments deleted or dropped; Canvas deleted 4 (mismatch) | "
            "predicted 2 sections added; Canvas created 2"
        ) == prediction_line(manifest)
        assert [
            {
                "csv_type": "enrollment",
                "predicted": 5,
                "predicted_as": "deleted or dropped",
                "canvas": 4,
                "canvas_as": "deleted",
                "agrees": False,
            },
            {
                "csv_type": "section",
                "predicted": 2,
                "predicted_as": "added",
                "canvas": 2,
                "canvas_as": "created",
                "agrees": True,
            },
        ] == [item.to_json() for item in compare(manifest)]

    def test_names_map_to_canvas_models(self):
        """Admins are AccountUser and terms EnrollmentTerm; types without a model are not compared."""
        manifest = finished(
            {
                "admin": counts(added=2),
                "term": counts(added=1),
                "xlist": counts(added=9),
                "login": counts(added=4),
            },
            stats=statistics(AccountUser={"created": 2}, EnrollmentTerm={"created": 1}),
        )

        assert "predicted 2 admins added; Canvas created 2 | predicted 1 term added; Canvas created 1" == (
            prediction_line(manifest)
        )

    def test_without_statistics_canvas_reported_none(self):
        """A finished import without statistics (failed outright) shows the prediction against none."""
        manifest = finished({"user": counts(added=2)}, workflow_state="failed")

        assert "predicted 2 users added; Canvas created none (no count) (mismatch)" == prediction_line(
            manifest
        )


class TestNothingToCompare:
    def test_no_line_without_changes_an_import_or_an_end(self):
        """No preview, no import yet, an import still running, or only zeroes: no line."""
        unchanged = finished({"user": counts(unchanged=5)}, stats=statistics())
        running = finished({"user": counts(added=1)}, workflow_state="importing")
        not_sent = finished({"user": counts(added=1)})
        not_sent.canvas.import_id = None

        assert [None, None, None, None] == [
            prediction_line(manifest) for manifest in (finished(None), running, not_sent, unchanged)
        ]

    def test_preview_details_give_alert_lines_and_fields(self):
        """The alert part: a `Changes:` and a `Prediction:` line, and the same as fields."""
        manifest = finished({"user": counts(added=1)}, stats=statistics(Pseudonym={"created": 1}))

        lines, fields = preview_details(manifest)

        assert ["Changes: the summary", "Prediction: predicted 1 user added; Canvas created 1"] == lines
        assert {
            "changes": "the summary",
            "prediction": "predicted 1 user added; Canvas created 1",
            "prediction_details": [
                {
                    "csv_type": "user",
                    "predicted": 1,
                    "predicted_as": "added",
                    "canvas": 1,
                    "canvas_as": "created",
                    "agrees": True,
                }
            ],
        } == fields
        assert (None, ([], {"changes": None, "prediction": None, "prediction_details": []})) == (
            change_summary(finished(None)),
            preview_details(finished(None)),
        )
