"""
`sis-watcher rollback`: Canvas's restore_states for a filed batch, followed to its end and recorded.

Every scenario runs the real command as a subprocess against the simulator over loopback: a
batch imported by `once`, then rolled back; the manifest, the ledger and Canvas's requests are
what is checked.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sis_watcher.simulator.canvas import CanvasSimulator, FaultKind, SimulatorSettings

from support import (
    TOKEN,
    USERS_CSV,
    Service,
    Tree,
    child_env,
    command,
    drop_file,
    run_command,
    wait_until,
)

ONCE_INTAKE = {"settle_seconds": 0}
NOT_A_BATCH = 2


def imported(tree: Tree, url: str) -> tuple[Path, Path]:
    """Import users.csv with `once`; return the config and the done batch."""
    config = tree.write_config(url, intake=ONCE_INTAKE)
    drop_file(tree.drop, "users.csv", USERS_CSV)
    result = run_command("once", "-c", str(config), cwd=tree.root)
    assert 0 == result.returncode, result.stdout[-2000:] + result.stderr[-2000:]
    [batch] = tree.batches("done")
    return config, batch


def rollback(config: Path, tree: Tree, batch_id: str, *flags: str) -> Any:
    return run_command("rollback", "-c", str(config), batch_id, *flags, cwd=tree.root)


def restore_requests(canvas: CanvasSimulator) -> int:
    return sum(1 for request in canvas.requests if request.path.endswith("/restore_states"))


def ledger_rows(tree: Tree) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(tree.queue.parent / "ledger.sqlite")) as db:
        return db.execute("SELECT csv_type, key, batch_id FROM rows ORDER BY key").fetchall()


def applied(tree: Tree) -> list[str]:
    with contextlib.closing(sqlite3.connect(tree.queue.parent / "ledger.sqlite")) as db:
        return [batch_id for (batch_id,) in db.execute("SELECT batch_id FROM applied")]


@pytest.fixture
def expiring() -> Iterator[CanvasSimulator]:
    """A simulator whose restore data expires at once (Canvas keeps it 30 days)."""
    with CanvasSimulator(token=TOKEN, settings=SimulatorSettings(restore_data_days=0.0)) as simulator:
        yield simulator


@pytest.fixture
def slow_restores() -> Iterator[CanvasSimulator]:
    """A simulator whose restore jobs run for two seconds."""
    with CanvasSimulator(token=TOKEN, settings=SimulatorSettings(restore_seconds=2.0)) as simulator:
        yield simulator


def progress_recorded(batch: Path) -> bool:
    try:
        record = json.loads((batch / "manifest.json").read_text(encoding="utf-8")).get("rollback") or {}
    except (OSError, ValueError):
        return False
    return isinstance(record.get("progress_id"), int)


class TestRollback:
    def test_a_done_batch_is_restored_recorded_and_forgotten_by_the_ledger(self, tree, canvas):
        """Rollback ends `restored`, records the Progress, state and statistics, and the ledger forgets the batch."""
        config, batch = imported(tree, canvas.url)
        assert [("user", "u1", batch.name), ("user", "u2", batch.name)] == ledger_rows(tree)

        result = rollback(config, tree, batch.name)

        assert 0 == result.returncode, result.stderr
        assert f"{batch.name}: Canvas import rolled back (restored)" in result.stdout
        assert f"the ledger no longer holds {batch.name}'s changes" in result.stdout
        record = tree.manifest(batch)["rollback"]
        assert ("restored", [], 100.0) == (record["workflow_state"], record["options"], record["completion"])
        assert isinstance(record["progress_id"], int)
        assert record["requested_at"] <= record["finished_at"]
        assert record["error"] is None
        assert {"created": 2, "restored": 2, "deleted": 0} == record["statistics"]["Pseudonym"]
        import_id = tree.manifest(batch)["canvas"]["import_id"]
        assert "restored" == canvas.import_json(import_id)["workflow_state"]
        assert [] == ledger_rows(tree)
        assert [] == applied(tree)
        rebuilt = run_command("ledger", "rebuild", "-c", str(config), cwd=tree.root)
        assert 0 == rebuilt.returncode, rebuilt.stderr
        assert f"skipped {batch.name}: rolled back in Canvas" in rebuilt.stdout
        assert [] == ledger_rows(tree)

        again = rollback(config, tree, batch.name)

        assert 0 == again.returncode, again.stderr
        assert f"{batch.name} was already rolled back (restored at " in again.stdout
        assert 1 == restore_requests(canvas)

    def test_an_expired_import_exits_1_with_canvas_words(self, tree, expiring):
        """Canvas's "restore data unavailable" comes back in plain words with exit 1, and is recorded."""
        config, batch = imported(tree, expiring.url)

        result = rollback(config, tree, batch.name)

        assert 1 == result.returncode
        import_id = tree.manifest(batch)["canvas"]["import_id"]
        assert (
            f"sis-watcher rollback: Canvas did not roll back import {import_id}: "
            "HTTP 400: restore data unavailable\n"
        ) == result.stderr
        record = tree.manifest(batch)["rollback"]
        assert ("HTTP 400: restore data unavailable", None) == (record["error"], record["workflow_state"])
        assert 2 == len(ledger_rows(tree))
        assert TOKEN not in result.stdout + result.stderr

    def test_ctrl_c_leaves_the_rollback_running_and_a_second_run_follows_it(self, tree, slow_restores):
        """Ctrl-C while waiting exits 3, the record still open; run again, it follows the same Progress to its end."""
        config, batch = imported(tree, slow_restores.url)
        process = subprocess.Popen(
            command("rollback", "-c", str(config), batch.name),
            cwd=tree.root,
            env=child_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            wait_until(lambda: progress_recorded(batch), what="the Progress recorded")
            process.send_signal(signal.SIGINT)
            _out, err = process.communicate(timeout=20)
        finally:
            process.kill()
            process.wait()

        assert 3 == process.returncode
        assert f"run `sis-watcher rollback -c CONFIG {batch.name}` again to follow it" in err
        record = tree.manifest(batch)["rollback"]
        assert (None, None) == (record["finished_at"], record["workflow_state"])
        again = rollback(config, tree, batch.name)
        assert 0 == again.returncode, again.stderr
        assert record["progress_id"] == tree.manifest(batch)["rollback"]["progress_id"]
        assert "restored" == tree.manifest(batch)["rollback"]["workflow_state"]
        assert 1 == restore_requests(slow_restores)

    @pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGINT])
    def test_a_kill_during_the_request_refuses_a_second_request_until_force(self, tree, canvas, signum):
        """kill -9 or Ctrl-C while the PUT is in Canvas: the rerun refuses (exit 1, says why); `--force` asks once more."""
        config, batch = imported(tree, canvas.url)
        canvas.faults.add(kind=FaultKind.STALL, count=1, path="restore_states", delay_seconds=5.0)
        process = subprocess.Popen(
            command("rollback", "-c", str(config), batch.name),
            cwd=tree.root,
            env=child_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            wait_until(
                lambda: tree.manifest(batch).get("rollback") is not None and canvas.recorder.in_flight == 1,
                what="the restore request in Canvas",
            )
            process.send_signal(signum)
            _out, err = process.communicate(timeout=20)
        finally:
            process.kill()
            process.wait()
        if signum == signal.SIGINT:
            assert 3 == process.returncode
            assert "interrupted: Canvas may have queued a restore of import" in err
        assert (None, None) == (
            tree.manifest(batch)["rollback"]["progress_id"],
            tree.manifest(batch)["rollback"]["finished_at"],
        )

        refused = rollback(config, tree, batch.name)
        forced = rollback(config, tree, batch.name, "--force")

        assert 1 == refused.returncode
        assert "may still be queued in Canvas" in refused.stderr
        assert "ask again with --force" in refused.stderr
        assert 0 == forced.returncode, forced.stderr
        assert "restored" == tree.manifest(batch)["rollback"]["workflow_state"]
        assert 1 == len(canvas.restores.progresses)  # the stalled request queued nothing


def forgotten_flag(batch: Path) -> object:
    try:
        record = json.loads((batch / "manifest.json").read_text(encoding="utf-8")).get("rollback") or {}
    except (OSError, ValueError):
        return None
    return record.get("ledger_forgotten")


def ledger_rows_read_only(tree: Tree) -> list[tuple[Any, ...]]:
    """The ledger's rows, read without writing to the file the daemon has open."""
    uri = f"{(tree.queue.parent / 'ledger.sqlite').resolve().as_uri()}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
        return db.execute("SELECT csv_type, key, batch_id FROM rows ORDER BY key").fetchall()


class TestWithTheDaemonRunning:
    def test_the_running_daemon_makes_the_ledger_forget_a_rolled_back_batch(self, tree, canvas):
        """`run` is up: the command leaves a request, the daemon rebuilds within seconds, once, and goes on."""
        config = tree.write_config(canvas.url, intake={"settle_seconds": 0.1, "quiet_seconds": 0.2})
        service = Service(config)
        try:
            drop_file(tree.drop, "users.csv", USERS_CSV)
            service.wait_for_event("batch.filed")
            [batch] = tree.batches("done")
            assert 2 == len(ledger_rows_read_only(tree))

            result = rollback(config, tree, batch.name)

            assert 0 == result.returncode, result.stderr
            assert f"makes the ledger forget {batch.name}'s changes within seconds" in result.stdout
            assert "stop it" not in result.stdout + result.stderr
            [event] = service.wait_for_event("ledger.rollback_forgotten", timeout=15)
            assert [batch.name] == event["batches"]
            assert forgotten_flag(batch) is True
            assert [] == ledger_rows_read_only(tree)
            assert not (tree.queue / ".ledger-forget").exists()

            # The daemon goes on with the rebuilt ledger: the next night's batch is previewed against it.
            drop_file(tree.drop, "users.csv", b"user_id,login_id,status\nu3,l3,active\n")
            service.wait_for_event("batch.filed", count=2)
            [second] = [found for found in tree.batches("done") if found != batch]
            assert [("user", "u3", second.name)] == ledger_rows_read_only(tree)
            assert "user +1" == tree.manifest(second)["changes"]["summary"]
            assert 1 == len(service.events("ledger.rollback_forgotten"))
            assert 0 == service.stop()
        finally:
            service.close()
        rebuilt = run_command("ledger", "rebuild", "-c", str(config), cwd=tree.root)
        assert 0 == rebuilt.returncode, rebuilt.stderr
        assert [("user", "u3", second.name)] == ledger_rows(tree)
        assert TOKEN not in "".join(service.lines()) + result.stdout + result.stderr

    def test_a_daemon_killed_before_it_forgot_forgets_at_its_next_start_once(self, tree, canvas):
        """The daemon frozen, the rollback asked, then kill -9: the next `run` forgets it at start; the one after does nothing."""
        config = tree.write_config(canvas.url, intake={"settle_seconds": 0.1, "quiet_seconds": 0.2})
        service = Service(config)
        try:
            drop_file(tree.drop, "users.csv", USERS_CSV)
            service.wait_for_event("batch.filed")
            [batch] = tree.batches("done")
            service.signal(signal.SIGSTOP)  # holds the lock, sees nothing

            result = rollback(config, tree, batch.name)

            assert 0 == result.returncode, result.stderr
            assert forgotten_flag(batch) is False
            service.signal(signal.SIGKILL)
            service.wait()
        finally:
            service.close()
        assert 2 == len(ledger_rows(tree))

        first = Service(config)
        try:
            [event] = first.wait_for_event("ledger.rollback_forgotten", timeout=15)
            assert [batch.name] == event["batches"]
            assert forgotten_flag(batch) is True
            assert 0 == first.stop()
        finally:
            first.close()
        assert [] == ledger_rows(tree)

        second = Service(config)  # its first look comes before the queue's: a batch filed shows it is past
        try:
            drop_file(tree.drop, "users.csv", b"user_id,login_id,status\nu3,l3,active\n")
            second.wait_for_event("batch.filed")
            assert 0 == second.stop()
        finally:
            second.close()
        assert [] == second.events("ledger.rollback_forgotten")
        assert ["u3"] == [key for _type, key, _batch in ledger_rows(tree)]
