"""
`sis-watcher abort`, `poll.abort_on_give_up` and `retry --remaster`, as users run them.

The real commands run as subprocesses against the simulator over loopback; a stuck import is
the simulator's `stuck_importing` fault, the remaster failure its `sis_diffing_max_skip` rule.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sis_watcher.simulator.canvas import CanvasSimulator, FaultKind, SimulatorSettings

from support import COURSES_CSV, TOKEN, USERS_CSV, Tree, drop_file, run_command, wait_until

RUN_INTAKE = {"settle_seconds": 0.1, "quiet_seconds": 0.2}
ONCE_INTAKE = {"settle_seconds": 0}
NOT_IN_FLIGHT = 2


def manifest_or_none(batch: Path) -> dict[str, Any] | None:
    try:
        document: dict[str, Any] = json.loads((batch / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return document


def importing_batch(tree: Tree) -> Path:
    """Wait for the batch whose import Canvas is processing; return its folder."""

    def found() -> Path | None:
        for batch in tree.batches("queue"):
            manifest = manifest_or_none(batch) or {}
            if manifest.get("state") == "importing" and manifest["canvas"]["workflow_state"] == "importing":
                return batch
        return None

    batch: Path = wait_until(found, what="a batch importing")
    return batch


def users_csv(count: int) -> bytes:
    return ("user_id,login_id,status\n" + "".join(f"u{n},l{n},active\n" for n in range(count))).encode()


class TestAbort:
    def test_aborting_a_stuck_import_files_it_failed_and_the_next_batch_goes(self, tree, canvas, service):
        """With the daemon running, abort files the stuck batch failed (`aborted by operator`); the next one is done."""
        canvas.faults.add(kind=FaultKind.STUCK_IMPORTING, count=1, method="POST")
        config = tree.write_config(canvas.url, intake=RUN_INTAKE, poll={"max_interval_seconds": 1.0})
        running = service(config)
        running.wait_for_event("daemon.started")
        drop_file(tree.drop, "users.csv", USERS_CSV)
        stuck = importing_batch(tree)
        drop_file(tree.drop, "courses.csv", COURSES_CSV)
        wait_until(lambda: len(tree.batches("queue")) == 2, what="the next batch queued behind")

        result = run_command("abort", "-c", str(config), stuck.name, cwd=tree.root)

        assert 0 == result.returncode, result.stderr
        [failed] = tree.batches("failed")  # filed by the daemon before the command returned
        reason = tree.manifest(failed)["outcome"]["reason"]
        assert (
            f"{stuck.name}: Canvas import 1 aborted; filed failed: {reason} (in {failed})\n" == result.stdout
        )
        assert failed.name == stuck.name
        assert reason.startswith("aborted by operator (")
        assert reason.endswith("): Canvas import 1 ended aborted")
        assert "aborted" == tree.manifest(failed)["canvas"]["workflow_state"]
        assert not (failed / ".abort.json").exists()
        wait_until(lambda: len(tree.batches("done")) == 1, what="the next batch done")
        assert "aborted" == canvas.import_json(1)["workflow_state"]
        assert 0 == running.stop()

    def test_without_a_daemon_abort_files_the_batch_itself_and_a_filed_batch_exits_2(
        self, tree, canvas, service
    ):
        """A batch left importing by a stopped daemon is aborted and filed by the command; again, it exits 2."""
        canvas.faults.add(kind=FaultKind.STUCK_IMPORTING, count=1, method="POST")
        config = tree.write_config(canvas.url, intake=RUN_INTAKE)
        running = service(config)
        drop_file(tree.drop, "users.csv", USERS_CSV)
        stuck = importing_batch(tree)
        running.signal(signal.SIGTERM)
        assert 0 == running.wait()

        result = run_command("abort", "-c", str(config), stuck.name, cwd=tree.root)
        again = run_command("abort", "-c", str(config), stuck.name, cwd=tree.root)

        assert 0 == result.returncode, result.stderr
        [failed] = tree.batches("failed")
        reason = tree.manifest(failed)["outcome"]["reason"]
        assert (
            f"{stuck.name}: Canvas import 1 aborted; filed failed: {reason} (in {failed})\n" == result.stdout
        )
        assert reason.startswith("aborted by operator (")
        assert not (failed / ".abort.json").exists()
        assert NOT_IN_FLIGHT == again.returncode
        assert f"{stuck.name} is already filed in failed/: its import is final" in again.stderr
        unknown = run_command("abort", "-c", str(config), "20260101T000000Z-000000", cwd=tree.root)
        assert NOT_IN_FLIGHT == unknown.returncode
        assert 1 == sum(1 for request in canvas.requests if request.path.endswith("/abort"))

    def test_abort_on_give_up_aborts_the_import_in_canvas(self, tree, canvas):
        """With poll.abort_on_give_up, giving up also aborts the import in Canvas, and the reason says so."""
        canvas.faults.add(kind=FaultKind.STUCK_IMPORTING, count=1, method="POST")
        poll = {"warn_after_seconds": 0.5, "give_up_after_seconds": 0.5, "abort_on_give_up": True}
        config = tree.write_config(canvas.url, intake=ONCE_INTAKE, poll=poll)
        drop_file(tree.drop, "users.csv", USERS_CSV)

        result = run_command("once", "-c", str(config), cwd=tree.root)

        assert 1 == result.returncode
        [failed] = tree.batches("failed")
        reason = tree.manifest(failed)["outcome"]["reason"]
        assert "and was aborted in Canvas (poll.abort_on_give_up)" in reason
        assert "aborted" == canvas.import_json(1)["workflow_state"]


@pytest.fixture
def strict_diffing() -> Iterator[CanvasSimulator]:
    """A simulator failing a data set's import after one over-threshold import (Canvas allows five)."""
    with CanvasSimulator(token=TOKEN, settings=SimulatorSettings(sis_diffing_max_skip=0)) as simulator:
        yield simulator


class TestRemaster:
    def test_the_remaster_failure_names_its_remedy_and_retry_remaster_ends_done(self, tree, strict_diffing):
        """Canvas's remaster failure gives the `retry --remaster` remedy; that retry is a remaster and ends done."""
        canvas = strict_diffing
        diffing = {"diffing_data_set_identifier": "users", "change_threshold": 10}
        config = tree.write_config(canvas.url, intake=ONCE_INTAKE, **{"import": diffing})
        for count in (2, 60, 61):  # the second night is far bigger: Canvas applies it whole
            drop_file(tree.drop, "users.csv", users_csv(count))
            run_command("once", "-c", str(config), cwd=tree.root)
        assert 2 == len(tree.batches("done"))
        assert tree.manifest(tree.batches("done")[1])["canvas"]["diffing_threshold_exceeded"] is True
        [failed] = tree.batches("failed")
        reason = tree.manifest(failed)["outcome"]["reason"]
        assert "A remaster is required." in reason
        assert reason.endswith(f"run `sis-watcher retry --remaster {failed.name}`")

        retried = run_command("retry", "-c", str(config), failed.name, "--remaster", cwd=tree.root)
        result = run_command("once", "-c", str(config), cwd=tree.root)

        assert 0 == retried.returncode, retried.stderr
        assert "is back in the queue as a remaster (diffing_remaster_data_set=true)" in retried.stdout
        assert 0 == result.returncode, result.stderr[-2000:]
        done = tree.manifest(tree.batches("done")[2])
        assert (failed.name, True) == (done["batch_id"], done["upload"]["remaster"])
        assert canvas.imports[-1]["diffing_remaster"] is True
        assert any("retried with --remaster" in (entry["note"] or "") for entry in done["history"])

    def test_retry_remaster_without_a_data_set_is_refused(self, tree, canvas):
        """`retry --remaster` with no import.diffing_data_set_identifier exits 2 and names the key."""
        config = tree.write_config(canvas.url)

        result = run_command(
            "retry", "-c", str(config), "20260101T000000Z-000000", "--remaster", cwd=tree.root
        )

        assert 2 == result.returncode
        assert "--remaster needs import.diffing_data_set_identifier" in result.stderr
