"""
Export freshness and the daily digest, as users run them: `sis-watcher run` in a subprocess.

The daemon runs in a time zone chosen so that its local time is near noon (the digest's date
cannot change during the test), with `expect_export_every_hours: 0.001` (3.6 s) and a
`digest_at` two seconds ahead of its local time, alerting a loopback webhook.
"""

from __future__ import annotations

import collections
import json
import signal
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest

from loopback_servers import Webhook
from support import USERS_CSV, child_env, drop_file, wait_until


@pytest.fixture
def webhook():
    hook = Webhook()
    yield hook
    hook.close()


def noon_zone() -> tuple[str, timezone]:
    """Return a POSIX TZ value whose local time is now between 11:00 and 13:00, and its offset."""
    hours = 12 - datetime.now(UTC).hour
    return f"TST{-hours:+d}", timezone(timedelta(hours=hours))


def kinds(hook):
    return [request.body["event"] for request in hook.requests]


def test_one_no_export_alert_one_resumed_one_digest_across_a_restart(tree, canvas, service, webhook):
    """
    Run 1: the digest comes at `digest_at`, and one no-export alert after 3.6 s of silence; kill -9.
    Run 2 (same folders): no digest and no alert again; a dropped export is sealed and alerts
    "resumed" once, and the metric shows when it was sealed.
    """
    tz, zone = noon_zone()
    digest_at = (datetime.now(zone) + timedelta(seconds=2)).strftime("%H:%M:%S")
    config = tree.write_config(
        canvas.url,
        alerts={"webhook": {"url": webhook.url}, "expect_export_every_hours": 0.001, "digest_at": digest_at},
        metrics={"enabled": True, "port": 0},
    )
    env = child_env(TZ=tz)

    first = service(config, env=env)
    wait_until(lambda: sorted(kinds(webhook)) == ["digest", "no_export"], timeout=20, what="digest and alert")
    first.signal(signal.SIGKILL)  # what it remembers is on disk already
    assert -signal.SIGKILL == first.wait()

    by_kind = {request.body["event"]: request.body for request in webhook.requests}
    digest = by_kind["digest"]
    assert digest["summary"].startswith(
        f"daily digest {datetime.now(zone).date().isoformat()}: 0 done, 0 failed"
    )
    assert digest["summary"].endswith("; no exports in 24 h")
    assert "Last export: none seen yet" in digest["text"]
    assert f" {datetime.now(zone).strftime('%z')}:" in digest["text"]  # "since <local time> <offset>:"
    assert by_kind["no_export"]["last_batch_id"] is None
    assert len(first.events("digest.sent")) == 1

    second = service(config, env=env)
    url = second.wait_for_event("metrics.listening")[0]["url"]
    drop_file(tree.drop, "users.csv", USERS_CSV)
    wait_until(lambda: "exports_resumed" in kinds(webhook), timeout=20, what="the resumed alert")
    wait_until(lambda: tree.batches("done"), timeout=20, what="the batch filed")
    metrics = httpx.get(f"{url}/metrics", timeout=5).text
    assert 0 == second.stop()

    [batch] = tree.batches("done")
    seen = kinds(webhook)
    upto = seen.index("exports_resumed") + 1  # one courier, in order: what came before the seal
    assert collections.Counter(seen[:upto]) == {"digest": 1, "no_export": 1, "exports_resumed": 1}
    later = [request.body for request in webhook.requests[upto:]]  # a slow stop: a new silence began
    assert [(body["event"], body["last_batch_id"]) for body in later] in ([], [("no_export", batch.name)])
    resumed = webhook.requests[upto - 1].body
    assert resumed["batch_id"] == batch.name
    sealed = tree.manifest(batch)["sealed_at"]
    line = next(
        line for line in metrics.splitlines() if line.startswith("sis_watcher_last_sealed_timestamp_seconds")
    )
    assert float(line.split()[1]) == pytest.approx(datetime.fromisoformat(sealed).timestamp(), abs=0.001)
    assert second.events("digest.sent") == []


def test_a_corrupt_state_file_is_named_and_the_daemon_keeps_running(tree, canvas, service, webhook):
    """
    `.alerts-state.json` nested too deep for the JSON parser: `run` logs the file's name once,
    rebuilds the state (a fresh silence alerts after 3.6 s), imports a dropped export, and stops cleanly.
    """
    config = tree.write_config(
        canvas.url, alerts={"webhook": {"url": webhook.url}, "expect_export_every_hours": 0.001}
    )
    tree.queue.mkdir(parents=True, exist_ok=True)
    state = tree.queue / ".alerts-state.json"
    state.write_text("[" * 100_000, encoding="utf-8")

    running = service(config)
    [problem] = running.wait_for_event("alerts_state.unreadable", timeout=20)
    assert problem["path"] == str(state)
    wait_until(lambda: "no_export" in kinds(webhook), timeout=20, what="the no_export alert")
    drop_file(tree.drop, "users.csv", USERS_CSV)
    wait_until(lambda: tree.batches("done"), timeout=20, what="the batch filed")
    assert running.process.poll() is None
    assert 0 == running.stop()

    assert running.events("timed_alerts.start_failed") == []
    [batch] = tree.batches("done")
    assert kinds(webhook)[:2] == ["no_export", "exports_resumed"]  # a stop writes the seal and sends first
    assert json.loads(state.read_text(encoding="utf-8"))["last_batch_id"] == batch.name
