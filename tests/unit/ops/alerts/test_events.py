"""Which moments alert, with what text, and how often: one alert per event, one per episode."""

from __future__ import annotations

from pathlib import Path

import pytest

from sis_watcher.batch.manifest import CanvasRecord, Outcome
from sis_watcher.ops.alerts.courier import REMEMBERED_KEYS, OnceOnly

from unit.ops.alerts.conftest import BATCH_ID, failed_manifest


def sent(hook):
    return [(request.body["event"], request.body["text"]) for request in hook.requests]


@pytest.fixture
def hooked(webhook, alerter):
    """An alerter posting to a recording webhook; returns both."""
    hook = webhook()
    return alerter({"webhook": {"url": hook.url}}), hook


def test_paused_uploads_alert_once_per_pause(hooked):
    """Repeated pause reports alert once; resuming alerts once; a new pause alerts again."""
    alerts, hook = hooked

    alerts.uploads_resumed()
    for _ in range(3):
        alerts.uploads_paused("Canvas answered 401: Invalid access token")
    alerts.uploads_resumed()
    alerts.uploads_resumed()
    alerts.uploads_paused("Canvas answered 403: user not authorized")
    alerts.stop(timeout=5)

    assert sent(hook) == [
        (
            "uploads_paused",
            (
                "sis-watcher on host1: uploads paused: Canvas answered 401: Invalid access token\n"
                "Reason: Canvas answered 401: Invalid access token\n"
                "No batch fails for this; the token is re-read and tried every minute."
            ),
        ),
        ("uploads_resumed", "sis-watcher on host1: uploads resumed: Canvas accepts the token again"),
        (
            "uploads_paused",
            (
                "sis-watcher on host1: uploads paused: Canvas answered 403: user not authorized\n"
                "Reason: Canvas answered 403: user not authorized\n"
                "No batch fails for this; the token is re-read and tried every minute."
            ),
        ),
    ]
    assert hook.requests[0].body["severity"] == "error"
    assert hook.requests[1].body["severity"] == "info"


def test_a_stuck_import_alerts_once_with_its_state(hooked):
    """An import past `poll.warn_after_seconds` alerts once, with its state and progress."""
    alerts, hook = hooked
    manifest = failed_manifest()
    manifest.canvas.workflow_state = "importing"
    manifest.canvas.progress = 40

    alerts.import_stuck(manifest, 7300.0)
    alerts.import_stuck(manifest, 7400.0)
    alerts.stop(timeout=5)

    assert sent(hook) == [
        (
            "import_stuck",
            (
                f"sis-watcher on host1: import 4242 of batch {BATCH_ID} not finished after 2.0 h\n"
                "Canvas state: importing, 40%\n"
                "Polling goes on until poll.give_up_after_seconds, then the batch fails."
            ),
        )
    ]
    body = hook.requests[0].body
    assert (body["import_id"], body["progress"], body["seconds"]) == (4242, 40, 7300)


def test_retries_stuck_alert_once_per_episode_with_a_recovery(hooked):
    """A batch stuck in retries alerts once until it moves on; then a recovery; then anew."""
    alerts, hook = hooked
    manifest = failed_manifest()

    alerts.retries_recovered(manifest)
    alerts.retries_stuck(manifest, 1900.0, "Canvas unreachable: ConnectError")
    alerts.retries_stuck(manifest, 2500.0, "Canvas unreachable: ConnectError")
    alerts.retries_recovered(manifest)
    alerts.retries_stuck(manifest, 600.0, "local fault: [Errno 28] No space left on device")
    alerts.stop(timeout=5)

    assert sent(hook) == [
        (
            "retries_stuck",
            (
                f"sis-watcher on host1: batch {BATCH_ID} stuck in retries for 32 min\n"
                "Reason: Canvas unreachable: ConnectError\n"
                "The batch stays queued and is tried again; it is not failed for this."
            ),
        ),
        ("retries_recovered", f"sis-watcher on host1: batch {BATCH_ID} moved on after retries"),
        (
            "retries_stuck",
            (
                f"sis-watcher on host1: batch {BATCH_ID} stuck in retries for 10 min\n"
                "Reason: local fault: [Errno 28] No space left on device\n"
                "The batch stays queued and is tried again; it is not failed for this."
            ),
        ),
    ]


def test_intake_problems_alert_once_per_reason_and_episode(hooked):
    """Each distinct intake problem alerts once per episode; recovery ends the episode."""
    alerts, hook = hooked
    missing = "the drop folder /srv/sis/drop does not exist"

    alerts.intake_recovered()
    alerts.intake_problem(missing)
    alerts.intake_problem(missing)
    alerts.intake_problem("the observer died: inotify watch limit reached")
    alerts.intake_problem(missing)
    alerts.intake_recovered()
    alerts.intake_problem(missing)
    alerts.stop(timeout=5)

    assert [event for event, _ in sent(hook)] == [
        "intake_problem",
        "intake_problem",
        "intake_recovered",
        "intake_problem",
    ]
    assert sent(hook)[0][1] == (
        f"sis-watcher on host1: intake problem: {missing}\n"
        f"Reason: {missing}\n"
        "New files in the drop folder wait until this is fixed; intake keeps retrying."
    )
    assert sent(hook)[2][1] == "sis-watcher on host1: intake works again"


def test_a_dead_stage_alerts_once(hooked):
    """A stage that died alerts once per stage, naming it."""
    alerts, hook = hooked

    alerts.stage_died("worker")
    alerts.stage_died("worker")
    alerts.stop(timeout=5)

    assert sent(hook) == [
        (
            "stage_died",
            (
                "sis-watcher on host1: stage worker died; the daemon exits and systemd restarts it\n"
                "See the daemon.stage_crashed event in the journal for the traceback."
            ),
        )
    ]
    assert hook.requests[0].body["severity"] == "critical"


def test_long_reasons_are_clipped(hooked):
    """A very long reason is clipped in the title and the fields, so alerts stay readable."""
    alerts, hook = hooked
    reason = "x" * 1000

    alerts.intake_problem(reason)
    alerts.stop(timeout=5)

    body = hook.requests[0].body
    assert len(body["reason"]) == 600
    assert body["reason"].endswith("…")
    assert body["summary"] == "intake problem: " + "x" * 119 + "…"


def test_without_channels_nothing_happens(alerter, events):
    """With no webhook and no email, every moment is accepted and ignored."""
    alerts = alerter({})

    alerts.batch_filed(failed_manifest(), Path("/failed") / BATCH_ID)
    alerts.stage_died("worker")

    assert alerts.couriers == []
    assert alerts.stop(timeout=1) is True
    assert [event["event"] for event in events] == ["alert.channels_started"]


def test_stop_without_start_drops_what_was_queued(webhook, alerter, events):
    """Never started, `stop` reports queued alerts as dropped and closes the channel."""
    hook = webhook()
    idle = alerter({"webhook": {"url": hook.url}}, start=False)
    empty = alerter({"webhook": {"url": hook.url}}, start=False)
    idle.batch_filed(failed_manifest(), Path("/failed") / BATCH_ID)
    idle.stage_died("worker")

    assert idle.stop(timeout=1) is False
    assert empty.stop(timeout=1) is True
    assert hook.requests == []
    assert [(event["alert"], event["reason"]) for event in events] == [
        ("batch_failed", "shutdown"),
        ("stage_died", "shutdown"),
    ]
    assert idle.couriers[0].channel.client.is_closed


def test_dedupe_memory_is_bounded():
    """The dedupe memory keeps the newest keys only, so a months-long run does not grow without end."""
    once = OnceOnly()

    fresh = [once.claim(("batch_failed", str(number))) for number in range(REMEMBERED_KEYS + 1)]

    assert all(fresh)
    assert len(once.sent_keys) == REMEMBERED_KEYS
    assert once.claim(("batch_failed", "0")) is True
    assert once.claim(("batch_failed", str(REMEMBERED_KEYS))) is False


def test_a_batch_failed_before_upload_names_the_validation_problems(hooked):
    """A batch refused by validation has no Canvas import: the alert shows reason and problems only."""
    alerts, hook = hooked
    manifest = failed_manifest(
        canvas=CanvasRecord(),
        outcome=Outcome(result="failed", reason="validation: courses.csv has no header"),
    )

    alerts.batch_filed(manifest, Path("/failed") / BATCH_ID)
    alerts.stop(timeout=5)

    [(event, text)] = sent(hook)
    assert event == "batch_failed"
    assert text == (
        f"sis-watcher on host1: batch {BATCH_ID} failed\n"
        "Reason: validation: courses.csv has no header\n"
        "Validation problems:\n"
        "  courses.csv: no header\n"
        "  users.csv row 3 (email): odd email\n"
        f"Files: /failed/{BATCH_ID}\n"
        f"To send it again after a fix: sis-watcher retry -c CONFIG {BATCH_ID}"
    )
    assert hook.requests[0].body["import_id"] is None
    assert hook.requests[0].body["canvas_messages"] == {}
