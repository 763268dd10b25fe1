"""Alerts about the change preview: held batches, and the prediction against Canvas in batch alerts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sis_watcher.batch.manifest import BatchState, HoldReason, HoldRecord, Manifest

from unit.ops.alerts.conftest import BATCH_ID, done_manifest, failed_manifest

FOLDER = Path("/var/lib/sis-watcher/done") / BATCH_ID
SUMMARY = "user +120 ~300; enrollment +2,001 -45"
REASON = HoldReason(
    csv_type="enrollment",
    rule="hold.max_delete_percent",
    value=15.0,
    limit=10.0,
    text="enrollment: 15.0% deleted or dropped of 300 in the ledger (hold.max_delete_percent is 10)",
)


def changes(**extra: Any) -> dict[str, Any]:
    """A preview of 45 enrollments dropped in batch mode, and 120 users added."""
    counts = {"updated": 0, "unchanged": 0, "deleted": 0, "ledger_rows": 300}
    return {
        "user": {**counts, "added": 120, "dropped": 0},
        "enrollment": {**counts, "added": 0, "dropped": 45},
        "baseline": "B0",
        "csv": "changes.csv",
        "summary": SUMMARY,
        "options": {"batch_mode": True},
        **extra,
    }


def held_manifest() -> Manifest:
    """A batch held by the delete rule, before any request."""
    return Manifest(
        batch_id=BATCH_ID,
        state=BatchState.HELD,
        sealed_at="2026-11-27T02:00:00.000000Z",
        changes=changes(),
        hold=HoldRecord(reasons=[REASON], held_at="2026-11-27T02:01:00.000000Z"),
    )


@pytest.fixture
def hooked(webhook, alerter):
    """An alerter posting to a recording webhook, with warnings alerts on; returns both."""
    hook = webhook()
    return alerter({"webhook": {"url": hook.url}, "on_warnings": True}), hook


def test_a_held_batch_alerts_once_per_attempt_with_reasons_changes_and_commands(hooked):
    """A held batch alerts once (again after a new attempt), naming reasons, changes and what to run."""
    alerts, hook = hooked
    manifest = held_manifest()

    alerts.batch_held(manifest)
    alerts.batch_held(manifest)
    manifest.previous_attempts.append({"retried_at": "2026-11-28T00:00:00Z"})
    alerts.batch_held(manifest)
    alerts.stop(timeout=5)

    assert ["batch_held", "batch_held"] == [request.body["event"] for request in hook.requests]
    body = hook.requests[0].body
    assert (
        f"sis-watcher on host1: batch {BATCH_ID} held: it would change too much\n"
        "Nothing was sent to Canvas; later batches wait behind it.\n"
        "Hold reasons:\n"
        f"  {REASON.text}\n"
        f"Changes: {SUMMARY}\n"
        f"To send it as it is: sis-watcher approve -c CONFIG {BATCH_ID}\n"
        f"To drop it (filed in failed/): sis-watcher discard -c CONFIG {BATCH_ID}"
    ) == body["text"]
    assert ("warning", BATCH_ID, SUMMARY, "2026-11-27T02:01:00.000000Z") == (
        body["severity"],
        body["batch_id"],
        body["changes"],
        body["held_at"],
    )
    assert [
        {
            "csv_type": "enrollment",
            "rule": "hold.max_delete_percent",
            "value": 15.0,
            "limit": 10.0,
            "text": REASON.text,
        }
    ] == body["reasons"]


def test_a_batch_alert_carries_the_changes_and_the_prediction(hooked):
    """A batch done with warnings shows its change summary and the prediction against Canvas's counts."""
    alerts, hook = hooked
    manifest = done_manifest()
    manifest.changes = changes()
    manifest.canvas.counts = {"batch_enrollments_deleted": 44}
    manifest.canvas.statistics = {"total_state_changes": 164, "Pseudonym": {"created": 120}}

    alerts.batch_filed(manifest, FOLDER)
    alerts.stop(timeout=5)

    [request] = hook.requests
    prediction = (
        "predicted 120 users added; Canvas created 120 | "
        "predicted 45 enrollments dropped; Canvas deleted 44 (mismatch)"
    )
    assert f"Changes: {SUMMARY}\nPrediction: {prediction}\n" in request.body["text"]
    assert (SUMMARY, prediction) == (request.body["changes"], request.body["prediction"])
    assert [True, False] == [item["agrees"] for item in request.body["prediction_details"]]


def test_a_failed_batch_without_a_preview_has_no_such_lines(hooked):
    """Without a ledger there is no preview: no `Changes:` or `Prediction:`, the fields are empty."""
    alerts, hook = hooked

    alerts.batch_filed(failed_manifest(), FOLDER)
    alerts.stop(timeout=5)

    [request] = hook.requests
    assert ("Changes:" in request.body["text"], "Prediction:" in request.body["text"]) == (False, False)
    assert (None, None, []) == (
        request.body["changes"],
        request.body["prediction"],
        request.body["prediction_details"],
    )
