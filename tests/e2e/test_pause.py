"""
Pausing uploads on purpose: `sis-watcher pause` / `resume`, and `schedule.blackout` windows.

Every scenario runs the real `sis-watcher` command as subprocesses (the daemon, `pause`,
`resume`, `status`, `once`) against the simulator on loopback, with real folders.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from sis_watcher.simulator.model.faults import FaultKind

from loopback_servers import Webhook
from support import (
    COURSES_CSV,
    ENROLLMENTS_CSV,
    USERS_CSV,
    Tree,
    child_env,
    drop_file,
    run_command,
    wait_until,
)

PAUSED_TOO_LONG_HOURS = 0.0005  # 1.8 s


def state_at(manifest: dict[str, Any], state: str) -> str:
    [moment] = [entry["at"] for entry in manifest["history"] if entry["state"] == state]
    return str(moment)


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.close()


def manifest_state(batch: Path) -> str | None:
    try:
        return str(json.loads((batch / "manifest.json").read_text(encoding="utf-8"))["state"])
    except (OSError, ValueError, KeyError):
        return None


def status_json(config: Path, tree: Tree) -> dict[str, Any]:
    result = run_command("status", "-c", str(config), "--json", cwd=tree.root)
    assert 0 == result.returncode, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def command_ok(tree: Tree, *arguments: str) -> str:
    result = run_command(*arguments, cwd=tree.root)
    assert 0 == result.returncode, result.stdout + result.stderr
    return result.stdout


def at(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


class TestPauseAndResume:
    def test_pause_mid_import_holds_the_next_batch_across_a_restart_and_resume_sends_the_queue_in_order(
        self, tree, canvas, service, webhook
    ):
        """The import in flight finishes; later batches wait zipped, even after a restart; one alert."""
        config = tree.write_config(
            canvas.url,
            alerts={"webhook": {"url": webhook.url}, "paused_too_long_hours": PAUSED_TOO_LONG_HOURS},
            metrics={"enabled": True, "port": 0},
        )
        # The import stays in flight for the daemon until the test lets its polls through.
        canvas.faults.add(kind=FaultKind.STATUS, count=None, method="GET", path=r"/sis_imports/\d+")
        first = service(config)
        drop_file(tree.drop, "users.csv", USERS_CSV)
        wait_until(
            lambda: [manifest_state(batch) for batch in tree.batches("queue")] == ["importing"],
            what="the first batch importing",
        )

        output = command_ok(tree, "pause", "-c", str(config), "--reason", "term rollover")
        assert "Uploads paused: term rollover" in output
        assert "filed under failed/ now" in output
        since = json.loads((tree.queue / ".pause.json").read_text(encoding="utf-8"))["since"]
        drop_file(tree.drop, "courses.csv", COURSES_CSV)
        wait_until(lambda: len(tree.batches("queue")) == 2, what="the second batch sealed")
        canvas.faults.clear()

        wait_until(lambda: tree.batches("done"), what="the import in flight filed under done/")
        first_batch = tree.manifest(tree.batches("done")[0])
        assert state_at(first_batch, "importing") < since < state_at(first_batch, "done")  # paused mid-import
        [waiting] = first.wait_for_event("batch.waiting_for_resume")
        [held] = tree.batches("queue")
        assert held.name == waiting["batch_id"]
        assert "zipped" == manifest_state(held)
        assert 1 == len(canvas.uploads)
        [paused] = first.events("uploads.paused_by_operator")
        assert "term rollover" == paused["reason"]

        url = first.wait_for_event("metrics.listening")[0]["url"]
        health = httpx.get(f"{url}/healthz", timeout=5)
        assert 200 == health.status_code
        assert "term rollover" == health.json()["paused"]["reason"]
        metrics = httpx.get(f"{url}/metrics", timeout=5).text
        assert "sis_watcher_paused 1.0" in metrics
        assert "sis_watcher_uploads_paused 0.0" in metrics  # not Canvas refusing the token
        document = status_json(config, tree)
        assert "paused" == document["daemon"]["state"]
        assert {"source": "operator", "reason": "term rollover"}.items() <= document["pause"].items()
        assert "paused by operator" in document["daemon"]["activity"]
        wait_until(lambda: webhook.requests, what="the paused-too-long alert")
        first.wait_for_event("uploads.paused_too_long")
        assert 0 == first.stop()

        second = service(config)
        second.wait_for_event("uploads.paused_by_operator")
        drop_file(tree.drop, "enrollments.csv", ENROLLMENTS_CSV)
        wait_until(lambda: len(tree.batches("queue")) == 2, what="a third batch sealed behind the held one")
        second.wait_for_event("batch.waiting_for_resume")
        assert 1 == len(canvas.uploads)
        text = run_command("status", "-c", str(config), cwd=tree.root).stdout
        assert "uploads:  paused by operator" in text
        assert "term rollover" in text

        output = command_ok(tree, "resume", "-c", str(config))
        assert "Uploads resumed" in output
        wait_until(lambda: len(tree.batches("done")) == 3, timeout=30, what="every batch in done/")
        second.wait_for_event("uploads.resumed_by_operator")
        assert 0 == second.stop()

        done = tree.batches("done")
        import_ids = [tree.manifest(batch)["canvas"]["import_id"] for batch in done]
        assert sorted(import_ids) == import_ids  # uploaded in the order sealed
        assert [["users.csv"], ["courses.csv"], ["enrollments.csv"]] == [
            [entry["name"] for entry in tree.manifest(batch)["files"]] for batch in done
        ]
        assert 3 == len(canvas.uploads)
        texts = [request.body["text"] for request in webhook.requests]
        assert 1 == sum("uploads paused by an operator" in text for text in texts), texts
        assert not second.events("uploads.paused_too_long")  # alerted before the restart
        assert None is status_json(config, tree)["pause"]

    def test_a_pause_while_canvas_throttles_the_upload_stops_its_retries(self, tree, canvas, service):
        """A create being retried (429) is not sent once `pause` is in force; after `resume` it is."""
        config = tree.write_config(canvas.url, retry={"max_elapsed_seconds": 60})
        canvas.faults.add(kind=FaultKind.THROTTLE_429, count=None, method="POST")
        running = service(config)
        drop_file(tree.drop, "users.csv", USERS_CSV)
        running.wait_for_event("upload.started")
        command_ok(tree, "pause", "-c", str(config), "--reason", "term rollover")
        running.wait_for_event("batch.waiting_for_resume")
        canvas.faults.clear()  # Canvas would take it now; the pause still holds it
        [batch] = tree.batches("queue")
        assert "zipped" == manifest_state(batch)
        assert not canvas.uploads

        resumed = datetime.now(UTC)
        command_ok(tree, "resume", "-c", str(config))
        wait_until(lambda: tree.batches("done"), what="the batch in done/ after resume")
        assert 0 == running.stop()
        assert 1 == len(canvas.uploads)
        uploaded = datetime.fromisoformat(tree.manifest(tree.batches("done")[0])["upload"]["started_at"])
        assert uploaded >= resumed

    def test_once_while_paused_prepares_but_uploads_nothing(self, tree, canvas):
        """`once` during a pause zips the batch, sends nothing and exits 1; after `resume` it is sent."""
        config = tree.write_config(canvas.url, intake={"settle_seconds": 0})
        command_ok(tree, "pause", "-c", str(config))
        drop_file(tree.drop, "users.csv", USERS_CSV)

        result = run_command("once", "-c", str(config), cwd=tree.root)
        assert 1 == result.returncode
        assert "uploads are paused by operator" in result.stdout + result.stderr
        [batch] = tree.batches("queue")
        assert "zipped" == manifest_state(batch)
        assert not canvas.uploads

        command_ok(tree, "resume", "-c", str(config))
        assert 0 == run_command("once", "-c", str(config), cwd=tree.root).returncode
        assert [batch.name] == [path.name for path in tree.batches("done")]


class TestBlackout:
    def test_a_blackout_window_pauses_and_resumes_by_itself(self, tree, canvas, service, notify_socket):
        """A batch sealed during a blackout waits zipped and is uploaded once the window ends."""
        starts = datetime.now(UTC).replace(microsecond=0)
        # In force when the daemon starts; 10 s leave room to start, seal and zip on a loaded machine.
        ends = starts + timedelta(seconds=10)
        window = {"from": at(starts), "to": at(ends), "reason": "term rollover"}
        config = tree.write_config(canvas.url, schedule={"blackout": [window]})
        address, drain = notify_socket
        drop_file(tree.drop, "users.csv", USERS_CSV)
        running = service(config, env=child_env(NOTIFY_SOCKET=address))

        [started] = running.wait_for_event("uploads.blackout_started", timeout=20)
        assert "term rollover" == started["reason"]
        wait_until(
            lambda: any(message.startswith("STATUS=paused by blackout since") for message in drain()),
            what="systemd's STATUS= line saying the blackout",
        )
        document = status_json(config, tree)
        until = ends.strftime("%Y-%m-%dT%H:%M:%S.000000Z")
        assert {"source": "blackout", "until": until}.items() <= document["pause"].items()
        [waiting] = running.wait_for_event("batch.waiting_for_resume")
        assert datetime.fromisoformat(waiting["timestamp"]) < ends, "sealed and zipped after the window"
        assert not canvas.uploads

        running.wait_for_event("uploads.blackout_ended", timeout=20)
        wait_until(lambda: tree.batches("done"), what="the batch in done/ after the window")
        assert 0 == running.stop()
        [batch] = tree.batches("done")
        uploaded = datetime.fromisoformat(tree.manifest(batch)["upload"]["started_at"])
        assert uploaded >= ends


class TestPauseSurvivesSigkill:
    def test_a_pause_survives_sigkill_twice_and_resume_sends_the_waiting_batch_exactly_once(
        self, tree, canvas, service
    ):
        """kill -9 while a batch waits for the pause, and again right after the restart: still paused, one upload."""
        config = tree.write_config(canvas.url)
        command_ok(tree, "pause", "-c", str(config), "--reason", "term rollover")
        first = service(config)
        drop_file(tree.drop, "users.csv", USERS_CSV)
        first.wait_for_event("batch.waiting_for_resume")
        first.signal(9)
        assert -9 == first.wait()

        second = service(config)
        second.wait_for_event("uploads.paused_by_operator")
        second.signal(9)  # as soon as it has read the pause again
        assert -9 == second.wait()
        [waiting] = tree.batches("queue")
        assert "zipped" == manifest_state(waiting)
        assert [] == canvas.uploads

        third = service(config)
        third.wait_for_event("batch.waiting_for_resume")
        assert [] == canvas.uploads
        assert "paused" == status_json(config, tree)["daemon"]["state"]
        command_ok(tree, "resume", "-c", str(config))
        wait_until(lambda: tree.batches("done"), timeout=30, what="the waiting batch filed under done/")
        assert [waiting.name] == [batch.name for batch in tree.batches("done")]
        assert 1 == len(canvas.uploads)
        assert [] == tree.batches("queue")
        assert 0 == third.stop()
