"""
`run_abort` in-process: the batches it refuses and the answers from Canvas the end-to-end tests do not reach.

A batch left importing is made by the real daemon against the simulator's `stuck_importing`
fault, then the daemon is stopped; the command runs against the same simulator over loopback.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sis_watcher.batch.filing import ABORT_NAME
from sis_watcher.batch.lock import FolderLock
from sis_watcher.batch.manifest import BatchState, Manifest
from sis_watcher.commands.abort import run_abort
from sis_watcher.config.load import load
from sis_watcher.config.settings import Config
from sis_watcher.pipeline.abort import read_request
from sis_watcher.simulator.canvas import CanvasSimulator, FaultKind

from support import TOKEN, USERS_CSV, Tree, drop_file, wait_until

INTAKE = {"settle_seconds": 0.1, "quiet_seconds": 0.2}
QUICK_RETRY = {"initial_backoff_seconds": 0.01, "max_backoff_seconds": 0.05, "max_elapsed_seconds": 0.3}


@pytest.fixture(autouse=True)
def token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CANVAS_TOKEN", TOKEN)


def state_of(batch: Path) -> tuple[str | None, str | None]:
    try:
        document = json.loads((batch / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None, None
    return document.get("state"), document["canvas"].get("workflow_state")


def left_importing(
    tree: Tree, run_daemon: Callable[..., Any], canvas: CanvasSimulator
) -> tuple[Config, Path]:
    """A batch whose import is stuck `importing`, left in the queue by a daemon that stopped."""
    canvas.faults.add(kind=FaultKind.STUCK_IMPORTING, count=1, method="POST")
    path = tree.write_config(canvas.url, intake=INTAKE, retry=QUICK_RETRY)
    running = run_daemon(path)
    drop_file(tree.drop, "users.csv", USERS_CSV)
    found: list[Path] = wait_until(
        lambda: [batch for batch in tree.batches("queue") if state_of(batch) == ("importing", "importing")],
        what="a batch importing",
    )
    assert 0 == running.stop()
    return load(path), found[0]


def reason_filed(config: Config, batch: Path) -> str:
    document = json.loads((config.folders.failed / batch.name / "manifest.json").read_text(encoding="utf-8"))
    reason: str = document["outcome"]["reason"]
    return reason


def abort(config: Config, batch_id: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_abort(config, batch_id, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


class TestRefused:
    def test_a_batch_without_an_import_in_flight_exits_2(self, tree, canvas):
        """A queued batch, one already final, a bad id and an unknown one: exit 2 and nothing is asked."""
        config = load(tree.write_config(canvas.url))
        queued = config.folders.queue / "20261201T020000Z-aaaaaa"
        queued.mkdir(parents=True)
        Manifest(batch_id=queued.name, state=BatchState.QUEUED, sealed_at="2026-12-01T02:00:00Z").save(queued)
        final = config.folders.queue / "20261201T020000Z-bbbbbb"
        final.mkdir()
        manifest = Manifest(batch_id=final.name, state=BatchState.IMPORTING, sealed_at="2026-12-01T02:00:00Z")
        manifest.canvas.import_id, manifest.canvas.workflow_state = 9, "imported"
        manifest.save(final)
        uploading = config.folders.queue / "20261201T020000Z-dddddd"
        uploading.mkdir()
        manifest = Manifest(
            batch_id=uploading.name, state=BatchState.UPLOADING, sealed_at="2026-12-01T02:00:00Z"
        )
        manifest.upload.pending_import_id = 8  # a pre_attachment create: `initializing`, waiting for its file
        manifest.save(uploading)
        names = (queued.name, final.name, "../x", "20261201T020000Z-cccccc", uploading.name)

        answers = [abort(config, name) for name in names]

        assert [2, 2, 2, 2, 2] == [code for code, _out, _err in answers]
        assert "has no import in flight (it is queued)" in answers[0][2]
        assert "Canvas import 9 of 20261201T020000Z-bbbbbb is already final (imported)" in answers[1][2]
        assert "'../x' is not a batch id" in answers[2][2]
        assert "is not a batch in" in answers[3][2]
        assert (
            f"{uploading.name} is uploading: its import is not in flight yet; pause or wait" in answers[4][2]
        )
        assert [] == canvas.requests
        assert not (uploading / ABORT_NAME).exists()

    def test_a_request_that_cannot_be_written_exits_1_before_asking_canvas(self, tree, canvas):
        """The request cannot be left beside the batch (here a folder is in its way): exit 1, Canvas not asked."""
        config = load(tree.write_config(canvas.url))
        folder = config.folders.queue / "20261201T020000Z-eeeeee"
        (folder / ABORT_NAME).mkdir(parents=True)
        manifest = Manifest(
            batch_id=folder.name, state=BatchState.IMPORTING, sealed_at="2026-12-01T02:00:00Z"
        )
        manifest.canvas.import_id, manifest.canvas.workflow_state = 7, "importing"
        manifest.save(folder)

        code, _out, err = abort(config, folder.name)

        assert 1 == code
        assert f"cannot leave the abort request beside {folder.name}" in err
        assert [] == canvas.requests


class TestCanvasAnswers:
    def test_an_import_that_finished_meanwhile_is_not_aborted(self, tree, run_daemon, canvas):
        """Canvas's 404 (already final): exit 2, the request withdrawn, the batch left for its verdict."""
        config, batch = left_importing(tree, run_daemon, canvas)
        canvas.queue.abort(1)  # it ended (aborted by someone else) before the command asked

        code, _out, err = abort(config, batch.name)

        assert 2 == code
        assert "Canvas import 1 had already finished (aborted); nothing aborted" in err
        assert not (batch / ABORT_NAME).exists()
        assert ("importing", "importing") == state_of(batch)

    def test_a_put_that_may_have_arrived_keeps_the_request_and_running_again_files_it(
        self, tree, run_daemon, canvas
    ):
        """Canvas aborts but every answer is lost (502): exit 1, request kept; run again: filed `aborted by operator`."""
        config, batch = left_importing(tree, run_daemon, canvas)
        lost = canvas.faults.add(
            kind=FaultKind.STATUS, status=502, count=None, path="/abort$", process_first=True
        )

        code, _out, err = abort(config, batch.name)
        canvas.faults.remove(lost)
        request = read_request(batch)
        again, out, _err = abort(config, batch.name)

        assert 1 == code
        assert "Canvas did not answer; the abort of import 1 may have happened; run again (HTTP 502" in err
        assert request is not None
        assert 1 == request.import_id
        assert "aborted" == (canvas.import_json(1) or {})["workflow_state"]
        assert 0 == again  # Canvas's 404 now: the import is final, and it is `aborted`
        reason = reason_filed(config, batch)
        assert reason.startswith(f"aborted by operator ({request.by} at {request.at}): Canvas import 1")
        assert f"filed failed: {reason} (in {config.folders.failed / batch.name})" in out

    def test_a_503_may_have_arrived_too(self, tree, run_daemon, canvas):
        """A 503 is a gateway's answer as well: the request stays, and the next run's PUT aborts and files it."""
        config, batch = left_importing(tree, run_daemon, canvas)
        canvas.faults.add(kind=FaultKind.STATUS, status=503, count=None, path="/abort$")

        code, _out, err = abort(config, batch.name)
        canvas.faults.clear()
        again, _out, _err = abort(config, batch.name)

        assert (1, 0) == (code, again)
        assert "may have happened; run again (HTTP 503" in err
        assert reason_filed(config, batch).startswith("aborted by operator (")

    @pytest.mark.parametrize(
        ("fault", "said"),
        [
            ({"kind": FaultKind.THROTTLE_429}, "throttled by Canvas"),
            ({"kind": FaultKind.STATUS, "status": 422}, "HTTP 422"),
        ],
    )
    def test_a_put_canvas_did_not_get_or_refused_withdraws_the_request(
        self, tree, run_daemon, canvas, fault, said
    ):
        """Throttled (never processed) or refused: exit 1, the request withdrawn, the import still running."""
        config, batch = left_importing(tree, run_daemon, canvas)
        canvas.faults.add(count=None, path="/abort$", **fault)
        stale = '{"by": "ops", "at": "then", "import_id": 99}'  # an earlier attempt's: no PUT of this import
        (batch / ABORT_NAME).write_text(stale, encoding="utf-8")

        code, _out, err = abort(config, batch.name)

        assert 1 == code
        assert f"Canvas did not abort import 1: {said}" in err
        assert not (batch / ABORT_NAME).exists()
        assert "importing" == (canvas.import_json(1) or {})["workflow_state"]

    def test_with_the_lock_held_and_nothing_filing_it_the_command_says_the_daemon_will(
        self, tree, run_daemon, canvas
    ):
        """The lock held (a daemon) but the batch not filed by the deadline: exit 0, and it says the daemon will."""
        config, batch = left_importing(tree, run_daemon, canvas)
        lock = FolderLock(config.folders.queue)
        lock.acquire()
        try:
            code, out, _err = abort(config, batch.name)
        finally:
            lock.release()

        assert 0 == code
        assert (
            f"{batch.name}: Canvas aborted import 1; the daemon will file it failed at its next poll\n" == out
        )
        assert (batch / ABORT_NAME).exists()
        assert ("importing", "importing") == state_of(batch)

    def test_no_token_exits_2(self, tree, run_daemon, canvas, monkeypatch):
        """Without a token the command exits 2 and withdraws its request."""
        config, batch = left_importing(tree, run_daemon, canvas)
        monkeypatch.delenv("CANVAS_TOKEN")

        code, _out, err = abort(config, batch.name)

        assert 2 == code
        assert "CANVAS_TOKEN" in err
        assert not (batch / ABORT_NAME).exists()

    def test_no_token_keeps_an_earlier_runs_request(self, tree, run_daemon, canvas, monkeypatch):
        """An earlier run's request (its PUT may have arrived) stays when this run cannot even ask."""
        config, batch = left_importing(tree, run_daemon, canvas)
        (batch / ABORT_NAME).write_text('{"by": "ops", "at": "then", "import_id": 1}', encoding="utf-8")
        monkeypatch.delenv("CANVAS_TOKEN")

        code, _out, _err = abort(config, batch.name)

        assert 2 == code
        assert read_request(batch) is not None

    def test_a_batch_a_daemon_filed_while_the_put_was_answered_is_found_where_it_went(
        self, tree, run_daemon, canvas
    ):
        """Canvas slow to answer; meanwhile a daemon filed the batch and stopped: the command says where it is."""
        config, batch = left_importing(tree, run_daemon, canvas)
        canvas.faults.add(kind=FaultKind.SLOW, delay_seconds=1.5, path="/abort$")
        answers: list[tuple[int, str, str]] = []
        command = threading.Thread(target=lambda: answers.append(abort(config, batch.name)))
        command.start()
        wait_until(lambda: "aborted" == (canvas.import_json(1) or {})["workflow_state"], what="the abort")
        running = run_daemon(tree.root / "config.yaml")  # its poll sees `aborted` and files the batch
        wait_until(lambda: tree.batches("failed"), what="the daemon filing it")
        assert 0 == running.stop()
        command.join(timeout=30)

        [(code, out, _err)] = answers
        assert 0 == code
        reason = reason_filed(config, batch)
        assert reason.startswith("aborted by operator (")
        assert f"filed failed: {reason} (in {config.folders.failed / batch.name})" in out

    def test_the_next_start_files_a_batch_aborted_by_a_command_that_died(self, tree, run_daemon, canvas):
        """Request left and import aborted, but never filed (the command was killed): the next start files it."""
        config, batch = left_importing(tree, run_daemon, canvas)
        (batch / ABORT_NAME).write_text(
            '{"by": "ops", "at": "2026-12-01T02:00:00Z", "import_id": 1}', encoding="utf-8"
        )
        canvas.queue.abort(1)

        running = run_daemon(tree.root / "config.yaml")
        wait_until(lambda: tree.batches("failed"), what="the aborted batch filed")
        assert 0 == running.stop()

        [failed] = tree.batches("failed")
        reason = json.loads((failed / "manifest.json").read_text(encoding="utf-8"))["outcome"]["reason"]
        assert reason.startswith("aborted by operator (ops at 2026-12-01T02:00:00Z)")
        assert config.folders.failed == failed.parent
