"""The webhook channel against a real HTTP server on loopback: content, retries, timeouts, dedupe."""

from __future__ import annotations

import time
from pathlib import Path

from sis_watcher import __version__
from sis_watcher.core.logs import REDACTED, redactor

from support import wait_until
from unit.ops.alerts.conftest import BATCH_ID, done_manifest, failed_manifest

FOLDER = Path("/var/lib/sis-watcher/failed") / BATCH_ID


def named(events, name):
    return [event for event in events if event["event"] == name]


def test_failed_batch_posts_text_and_fields(webhook, alerter, events):
    """A failed batch posts one JSON body with a chat `text` and the structured facts."""
    hook = webhook()
    alerts = alerter({"webhook": {"url": hook.url}}, canvas_url="https://school.instructure.com")

    alerts.batch_filed(failed_manifest(), FOLDER)
    wait_until(lambda: named(events, "alert.sent"), timeout=5)

    [request] = hook.requests
    body = request.body
    assert body["event"] == "batch_failed"
    assert body["severity"] == "error"
    assert body["batch_id"] == BATCH_ID
    assert body["host"] == "host1"
    assert body["import_id"] == 4242
    assert body["workflow_state"] == "failed_with_messages"
    assert body["reason"] == "Canvas import 4242 ended failed_with_messages"
    assert body["folder"] == str(FOLDER)
    assert body["canvas_messages"] == {
        "users.csv": ["Invalid login_id"],
        "(whole import)": ["Too many deletions"],
    }
    assert [problem["file"] for problem in body["validation_problems"]] == ["courses.csv", "users.csv"]
    assert body["canvas_url"] == "https://school.instructure.com"
    text = body["text"]
    assert text.startswith(f"sis-watcher on host1: batch {BATCH_ID} failed\n")
    assert "Reason: Canvas import 4242 ended failed_with_messages" in text
    assert "Canvas import 4242: failed_with_messages (2 error(s), 0 warning(s))" in text
    assert "  users.csv: Invalid login_id" in text
    assert "  users.csv row 3 (email): odd email" in text
    assert "  courses.csv: no header" in text
    assert f"sis-watcher retry -c CONFIG {BATCH_ID}" in text
    assert text.endswith("Canvas: https://school.instructure.com")
    assert request.headers["User-Agent"] == f"sis-watcher/{__version__}"
    assert "Authorization" not in request.headers
    assert named(events, "alert.sent")[0] == {
        "event": "alert.sent",
        "log_level": "info",
        "alert": "batch_failed",
        "channel": "webhook",
        "batch_id": BATCH_ID,
        "attempts": 1,
    }


def test_messages_fall_back_to_processing_errors(webhook, alerter, events):
    """Without `messages_by_file` (a failure before the report), Canvas's raw errors are shown."""
    hook = webhook()
    alerts = alerter({"webhook": {"url": hook.url}})
    manifest = failed_manifest()
    manifest.canvas.messages_by_file = {}
    manifest.validation = None

    alerts.batch_filed(manifest, FOLDER)
    wait_until(lambda: hook.requests, timeout=5)

    body = hook.requests[0].body
    assert body["canvas_messages"] == {
        "users.csv": ["Invalid login_id"],
        "(whole import)": ["Too many deletions"],
    }
    assert body["validation_problems"] == []
    assert "Validation problems" not in body["text"]
    assert "Canvas: " not in body["text"]


def test_a_webhook_failing_twice_is_retried_until_it_succeeds(webhook, alerter, events):
    """Two 5xx answers, then 200: three requests, two scheduled retries, one `alert.sent`."""
    hook = webhook(statuses=[500, 503])
    alerts = alerter({"webhook": {"url": hook.url}})

    alerts.stage_died("worker")
    wait_until(lambda: named(events, "alert.sent"), timeout=5)

    assert len(hook.requests) == 3
    assert [event["retry_num"] for event in named(events, "alert.retry_scheduled")] == [1, 2]
    assert [event["wait_for"] for event in named(events, "alert.retry_scheduled")] == [0.01, 0.02]
    assert named(events, "alert.sent")[0]["attempts"] == 3
    assert (
        named(events, "alert.retry_scheduled")[0]["caused_by"]
        == "WebhookUnavailable: webhook answered 500: no_service"
    )


def test_retries_are_bounded(webhook, alerter, events):
    """A webhook that keeps answering 429 or 5xx gets three tries, then `alert.failed`."""
    hook = webhook(statuses=[429, 502, 500, 500])
    alerts = alerter({"webhook": {"url": hook.url}})

    alerts.stage_died("intake")
    wait_until(lambda: named(events, "alert.failed"), timeout=5)

    assert len(hook.requests) == 3
    assert named(events, "alert.failed")[0]["attempts"] == 3
    assert not named(events, "alert.sent")


def test_a_rejecting_webhook_is_not_retried_and_its_url_is_never_logged(webhook, alerter, events):
    """A 404 is permanent: one request, `alert.failed`, and the secret URL in no event."""
    hook = webhook(statuses=[404])
    alerts = alerter({"webhook": {"url": hook.url}})

    alerts.stage_died("worker")
    wait_until(lambda: named(events, "alert.failed"), timeout=5)

    assert len(hook.requests) == 1
    assert (
        named(events, "alert.failed")[0]["caused_by"] == "WebhookRejected: webhook answered 404: no_service"
    )
    assert all(hook.url not in str(event) for event in events)
    assert redactor.scrub(f"posting to {hook.url}") == f"posting to {REDACTED}"


def test_an_unreachable_webhook_is_retried_then_failed(webhook, alerter, events):
    """Connection refused is transient: three tries, then `alert.failed` naming the error class."""
    hook = webhook()
    url = hook.url
    hook.close()
    alerts = alerter({"webhook": {"url": url}})

    alerts.stage_died("worker")
    wait_until(lambda: named(events, "alert.failed"), timeout=5)

    failed = named(events, "alert.failed")[0]
    assert failed["attempts"] == 3
    assert failed["caused_by"].startswith("WebhookUnavailable: webhook request failed: ConnectError")


def test_listener_calls_return_at_once_while_the_webhook_hangs(webhook, alerter, events):
    """With a webhook that never answers, every listener call still returns within milliseconds."""
    hook = webhook(hang=True)
    alerts = alerter({"webhook": {"url": hook.url, "timeout_seconds": 0.1}}, attempts=2)

    started = time.monotonic()
    alerts.batch_filed(failed_manifest(), FOLDER)
    alerts.uploads_paused("Canvas answered 401")
    alerts.stage_died("worker")
    elapsed = time.monotonic() - started

    assert elapsed < 0.05
    wait_until(lambda: len(named(events, "alert.failed")) == 3, timeout=10)
    assert (
        named(events, "alert.failed")[0]["caused_by"]
        == "WebhookUnavailable: webhook request failed: ReadTimeout: timed out"
    )


def test_stop_gives_up_on_a_hanging_webhook_within_its_timeout(webhook, alerter, events):
    """`stop(timeout)` returns False in about `timeout` and drops what was still queued."""
    hook = webhook(hang=True)
    alerts = alerter({"webhook": {"url": hook.url, "timeout_seconds": 0.4}})
    alerts.stage_died("worker")
    wait_until(lambda: hook.requests, timeout=5)
    alerts.uploads_paused("Canvas answered 401")

    started = time.monotonic()
    flushed = alerts.stop(timeout=0.2)
    elapsed = time.monotonic() - started

    assert flushed is False
    assert elapsed < 0.5
    wait_until(lambda: not alerts.couriers[0].thread.is_alive(), timeout=5)
    dropped = named(events, "alert.dropped")
    assert [(event["alert"], event["reason"]) for event in dropped] == [
        ("stage_died", "shutdown"),
        ("uploads_paused", "shutdown"),
    ]


def test_stop_flushes_what_is_queued(webhook, alerter, events):
    """Alerts queued before `stop` are all sent when the webhook answers in time."""
    hook = webhook()
    alerts = alerter({"webhook": {"url": hook.url}})
    alerts.stage_died("intake")
    alerts.stage_died("worker")

    flushed = alerts.stop(timeout=5)

    assert flushed is True
    assert [request.body["stage"] for request in hook.requests] == ["intake", "worker"]
    alerts.stage_died("third")
    assert named(events, "alert.dropped")[0]["reason"] == "stopped"


def test_a_full_queue_drops_with_an_event(webhook, alerter, events):
    """With one alert in flight and one queued, a third is dropped and logged, never blocking."""
    hook = webhook(hang=True)
    alerts = alerter({"webhook": {"url": hook.url, "timeout_seconds": 0.2}}, queue_size=1, attempts=1)
    alerts.stage_died("one")
    wait_until(lambda: hook.requests, timeout=5)

    alerts.stage_died("two")
    alerts.stage_died("three")

    dropped = named(events, "alert.dropped")
    assert [(event["alert"], event["reason"]) for event in dropped] == [("stage_died", "queue full")]


def test_a_failed_batch_alerts_once_per_attempt(webhook, alerter, events):
    """The same failed batch filed twice alerts once; after `retry` (a new attempt) it alerts again."""
    hook = webhook()
    alerts = alerter({"webhook": {"url": hook.url}})
    manifest = failed_manifest()

    alerts.batch_filed(manifest, FOLDER)
    alerts.batch_filed(manifest, FOLDER)
    manifest.previous_attempts.append({"retried_at": "2026-11-28T00:00:00Z"})
    alerts.batch_filed(manifest, FOLDER)
    alerts.stop(timeout=5)

    assert [request.body["event"] for request in hook.requests] == ["batch_failed", "batch_failed"]


def test_warnings_alert_only_when_asked(webhook, alerter, events):
    """A batch done with warnings alerts with `on_warnings`; a clean one and the default never do."""
    quiet_hook, loud_hook = webhook(), webhook()
    quiet = alerter({"webhook": {"url": quiet_hook.url}})
    loud = alerter({"webhook": {"url": loud_hook.url}, "on_warnings": True})

    for alerts in (quiet, loud):
        alerts.batch_filed(done_manifest(), FOLDER)
        alerts.batch_filed(done_manifest(workflow_state="imported"), FOLDER)
        alerts.stop(timeout=5)

    assert quiet_hook.requests == []
    [request] = loud_hook.requests
    assert request.body["event"] == "batch_warnings"
    assert request.body["severity"] == "warning"
    assert request.body["text"].startswith(f"sis-watcher on host1: batch {BATCH_ID} imported with warnings\n")
    assert "  enrollments.csv: Unknown role" in request.body["text"]
    assert "sis-watcher retry" not in request.body["text"]
