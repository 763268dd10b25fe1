"""
The preview's prediction against Canvas's own account, as users run sis-watcher: batch mode, nightly.

`sis-watcher run` is a subprocess against the simulator over loopback, with real folders. Term
T1 exists in Canvas before the first night (batch mode names it at create). Each night drops
the term's courses, sections, users and enrollments; a night lacking enrollments makes batch
mode delete them, which the preview predicts as `dropped` and Canvas reports as
`batch_enrollments_deleted` and in `data.statistics`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from sis_watcher.simulator.canvas import CanvasSimulator

from loopback_servers import Webhook
from support import TOKEN, Tree, drop_file, run_command, wait_until

BATCH_MODE = {"batch_mode": True, "batch_mode_term_id": "sis_term_id:T1"}
INTAKE = {"settle_seconds": 0.1, "quiet_seconds": 0.3}
USERS = 60
NIGHT_2 = "course unchanged; section unchanged; user unchanged; enrollment -30"


def seed_term(canvas: CanvasSimulator) -> None:
    """Create term T1 in Canvas the way an admin's earlier import did."""
    with httpx.Client(
        base_url=canvas.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
    ) as client:
        response = client.post(
            "/api/v1/accounts/self/sis_imports",
            params={"extension": "csv"},
            content=b"term_id,name,status\nT1,Fall,active\n",
        )
    assert 200 == response.status_code, response.text
    assert "imported" == canvas.wait_for_state(response.json()["id"])["workflow_state"]


def drop_night(tree: Tree, *, enrollments: int) -> None:
    """Drop one night of term T1: 3 courses with a section each, the users, the first `enrollments` enrollments."""
    courses = "".join(f"C{n},S-C{n},Course {n},T1,active\n" for n in range(3))
    sections = "".join(f"S{n},C{n},Section {n},active\n" for n in range(3))
    users = "".join(f"u{n},l{n},active\n" for n in range(USERS))
    rows = "".join(f"C{n % 3},S{n % 3},u{n},student,active\n" for n in range(enrollments))
    drop_file(tree.drop, "users.csv", ("user_id,login_id,status\n" + users).encode())
    drop_file(
        tree.drop, "courses.csv", ("course_id,short_name,long_name,term_id,status\n" + courses).encode()
    )
    drop_file(tree.drop, "sections.csv", ("section_id,course_id,name,status\n" + sections).encode())
    drop_file(tree.drop, "enrollments.csv", ("course_id,section_id,user_id,role,status\n" + rows).encode())


def status_json(config: Path, tree: Tree) -> dict[str, Any]:
    result = run_command("status", "-c", str(config), "--json", cwd=tree.root)
    assert 0 == result.returncode, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def held_in_queue(tree: Tree) -> list[Path]:
    """The batches in queue/ whose manifest says `held` (none while a manifest is being replaced)."""
    found = []
    for batch in tree.batches("queue"):
        try:
            state = json.loads((batch / "manifest.json").read_text(encoding="utf-8")).get("state")
        except (OSError, ValueError):
            continue
        if state == "held":
            found.append(batch)
    return found


class TestPrediction:
    def test_batch_mode_drops_are_predicted_as_canvas_deletes_them(self, tree, canvas, service):
        """A night lacking 5 enrollments: the manifest's prediction and Canvas's count are both 5."""
        seed_term(canvas)
        config = tree.write_config(canvas.url, intake=INTAKE, **{"import": BATCH_MODE})
        running = service(config)
        running.wait_for_event("daemon.started")

        drop_night(tree, enrollments=USERS)
        wait_until(lambda: len(tree.batches("done")) == 1, what="night 1 in done/")
        drop_night(tree, enrollments=USERS - 5)
        wait_until(lambda: len(tree.batches("done")) == 2, what="night 2 in done/")

        first, second = (tree.manifest(batch) for batch in tree.batches("done"))
        assert (5, 5) == (
            second["changes"]["enrollment"]["dropped"],
            second["canvas"]["counts"]["batch_enrollments_deleted"],
        )
        assert (0, 0) == (
            second["changes"]["course"]["dropped"],
            second["canvas"]["counts"]["batch_courses_deleted"],
        )
        assert {"created": 0, "restored": 0, "deleted": 5, "concluded": 0, "deactivated": 0} == second[
            "canvas"
        ]["statistics"]["Enrollment"]
        assert 5 == second["canvas"]["statistics"]["total_state_changes"]
        assert (USERS, USERS) == (
            first["changes"]["enrollment"]["added"],
            first["canvas"]["statistics"]["Enrollment"]["created"],
        )
        done = status_json(config, tree)["done"]
        assert "predicted 5 enrollments dropped; Canvas deleted 5" == done[0]["prediction"]
        assert (
            "predicted 3 courses added; Canvas created 3 | predicted 3 sections added; Canvas created 3 | "
            "predicted 60 users added; Canvas created 60 | predicted 60 enrollments added; Canvas created 60"
        ) == done[1]["prediction"]
        assert [True] * 5 == [item["agrees"] for batch in done for item in batch["prediction_details"]]
        assert 0 == running.stop()

    def test_a_held_night_alerts_once_shows_in_status_and_is_predicted_once_approved(
        self, tree, canvas, service
    ):
        """A night dropping half the enrollments is held: one alert, listed by `status`; approved, Canvas agrees."""
        seed_term(canvas)
        hook = Webhook()
        try:
            config = tree.write_config(
                canvas.url, intake=INTAKE, alerts={"webhook": {"url": hook.url}}, **{"import": BATCH_MODE}
            )
            running = service(config)
            running.wait_for_event("daemon.started")
            drop_night(tree, enrollments=USERS)
            wait_until(lambda: len(tree.batches("done")) == 1, what="night 1 in done/")
            drop_night(tree, enrollments=USERS // 2)
            [held] = wait_until(lambda: held_in_queue(tree), what="night 2 held in queue/")
            wait_until(lambda: hook.requests, what="the hold alert")
            status = status_json(config, tree)

            approved = run_command("approve", "-c", str(config), held.name, cwd=tree.root)
            assert 0 == approved.returncode, approved.stderr
            wait_until(lambda: len(tree.batches("done")) == 2, what="night 2 in done/")
            assert 0 == running.stop()
        finally:
            hook.close()

        [item] = status["held"]
        assert ("held", held.name, NIGHT_2) == (
            status["daemon"]["state"],
            item["batch_id"],
            item["changes"],
        )
        assert ["hold.max_delete_percent"] == [reason["rule"] for reason in item["hold"]["reasons"]]
        [alert] = hook.requests
        assert ("batch_held", held.name, NIGHT_2) == (
            alert.body["event"],
            alert.body["batch_id"],
            alert.body["changes"],
        )
        assert f"sis-watcher approve -c CONFIG {held.name}" in alert.body["text"]
        night = tree.manifest(tree.done / held.name)
        assert (30, 30) == (
            night["changes"]["enrollment"]["dropped"],
            night["canvas"]["counts"]["batch_enrollments_deleted"],
        )
