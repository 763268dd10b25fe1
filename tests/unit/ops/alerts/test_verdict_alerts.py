"""The alert for Canvas applying a diffed file whole (`diffing_threshold_exceeded`, docs/canvas.md §A4)."""

from __future__ import annotations

from pathlib import Path

from unit.ops.alerts.conftest import BATCH_ID, done_manifest

FOLDER = Path("/var/lib/sis-watcher/done") / BATCH_ID


def test_a_whole_file_applied_alerts_once_per_attempt(webhook, alerter):
    """A batch Canvas applied whole alerts once, naming the import and the remaster rule; others do not."""
    hook = webhook()
    alerts = alerter({"webhook": {"url": hook.url}})
    manifest = done_manifest(workflow_state="imported_with_messages")
    manifest.canvas.diffing_threshold_exceeded = True
    plain = done_manifest(workflow_state="imported")
    plain.canvas.diffing_threshold_exceeded = False

    alerts.batch_filed(manifest, FOLDER)
    alerts.batch_filed(manifest, FOLDER)
    alerts.batch_filed(plain, FOLDER)
    alerts.stop(timeout=5)

    [request] = hook.requests
    body = request.body
    assert ("diffing_whole_file", "warning", BATCH_ID) == (body["event"], body["severity"], body["batch_id"])
    assert f"batch {BATCH_ID}: Canvas applied the whole file (diffing threshold exceeded)" == body["summary"]
    assert f"Canvas import {manifest.canvas.import_id} exceeded the diffing threshold" in body["text"]
    assert "sis-watcher retry --remaster" in body["text"]
    assert str(FOLDER) == body["folder"]
