"""
`run_rollback` in-process, for the ways a rollback can end that the end-to-end tests do not reach.

Real folders, a batch imported by the real daemon (`once`), the simulator over loopback; its
faults make Canvas refuse, fail the restore or be unreachable. Lost answers and waiting are in
test_restoring.py.
"""

from __future__ import annotations

import logging

import pytest
import structlog

from sis_watcher.batch.lock import FolderLock
from sis_watcher.batch.manifest import load_manifest
from sis_watcher.config.load import load
from sis_watcher.ledger.forgetting import REQUEST_NAME
from sis_watcher.simulator.canvas import FaultKind

from support import TOKEN, USERS_CSV, drop_file
from unit.commands.rollback_support import (
    FAST,
    QUICK_RETRY,
    done_batch,
    ledger_count,
    ledger_keys,
    record_of,
    restore_requests,
    rollback,
)


@pytest.fixture(autouse=True)
def token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CANVAS_TOKEN", TOKEN)


class TestEnds:
    def test_canvas_unreachable_exits_1_and_nothing_is_restored(self, tree, run_daemon, canvas):
        """Canvas not answering at all: exit 1 in plain words; the record stays open for a later run."""
        config, batch = done_batch(tree, run_daemon, canvas.url)
        canvas.faults.add(kind=FaultKind.STATUS, status=503, count=None, path="sis_imports")

        code, _out, err = rollback(config, batch)

        assert 1 == code
        assert "Canvas did not roll back import" in err
        assert 0 == restore_requests(canvas)
        assert load_manifest(batch).rollback is None

    def test_a_token_without_manage_sis_exits_1_naming_the_permission(self, tree, run_daemon, canvas):
        """Canvas denying permission: exit 1, and the words say which permission a rollback needs."""
        config, batch = done_batch(tree, run_daemon, canvas.url)
        canvas.deny_permission(status=401)

        code, _out, err = rollback(config, batch)

        assert 1 == code
        assert "denied permission" in err
        assert "needs the token's user to have the manage SIS data permission" in err

    def test_no_token_exits_2(self, tree, run_daemon, canvas, monkeypatch):
        """Without a token the command exits 2 naming where it looked."""
        config, batch = done_batch(tree, run_daemon, canvas.url)
        monkeypatch.delenv("CANVAS_TOKEN")

        code, _out, err = rollback(config, batch)

        assert 2 == code
        assert "CANVAS_TOKEN" in err

    def test_a_batch_in_the_queue_exits_2(self, tree, canvas):
        """A batch still in queue/ is not filed: exit 2, nothing asked."""
        config = load(tree.write_config(canvas.url))
        (config.folders.queue / "20260101T000000Z-abcdef").mkdir(parents=True)

        code, _out, err = rollback(config, config.folders.queue / "20260101T000000Z-abcdef")

        assert 2 == code
        assert "is still in the queue" in err


class TestCanvasAnswers:
    def test_a_partial_rollback_sends_its_flag_and_ends_partially_restored(self, tree, run_daemon, canvas):
        """`undelete` sends undelete_only=true; Canvas ends `partially_restored`, exit 0; the ledger keeps the rows."""
        config, batch = done_batch(tree, run_daemon, canvas.url)

        code, _out, err = rollback(config, batch, only="undelete")

        assert 0 == code, err
        [request] = [request for request in canvas.requests if request.path.endswith("/restore_states")]
        assert "undelete_only=true" == request.query
        record = record_of(batch)
        assert ("partially_restored", ["undelete_only"]) == (record.workflow_state, record.options)
        assert 0 == (record.statistics or {})["Pseudonym"]["restored"]
        assert 2 == ledger_count(config)

    def test_a_restore_job_canvas_fails_ends_restore_failed_with_exit_1(self, tree, run_daemon, canvas):
        """A restore job that fails in Canvas is `restore_failed`, in Canvas's words, exit 1; the ledger keeps it."""
        config, batch = done_batch(tree, run_daemon, canvas.url)
        canvas.faults.add(kind=FaultKind.RESTORE_FAILS, count=1, path="restore_states")

        code, _out, err = rollback(config, batch)

        assert 1 == code
        assert "Canvas ended the rollback restore_failed: simulated failure of the restore job; " in err
        record = record_of(batch)
        assert "restore_failed" == record.workflow_state
        assert "Unexpected error, ID: " in (record.error or "")
        assert 2 == ledger_count(config)

    def test_an_unknown_batch_and_one_that_never_reached_canvas_exit_2(self, tree, run_daemon, canvas):
        """An unknown batch id, and a batch in failed/ that never reached Canvas, exit 2 without a request."""
        path = tree.write_config(canvas.url, intake=FAST)
        drop_file(tree.drop, "users.csv", b"user_id, login_id,status\nu1,a,active\n")  # fails validation
        run_daemon(path, once=True).thread.join(30)
        [failed] = tree.batches("failed")
        config = load(path)

        unknown = rollback(config, config.folders.done / "20260101T000000Z-000000")
        never_sent = rollback(config, failed)
        not_an_id = rollback(config, config.folders.done / ".hidden")

        assert (2, 2, 2) == (unknown[0], never_sent[0], not_an_id[0])
        assert "20260101T000000Z-000000 is not in done/ or failed/" in unknown[2]
        assert f"{failed.name} never reached Canvas (no import id)" in never_sent[2]
        assert 0 == restore_requests(canvas)


class TestLedger:
    def test_undelete_only_gives_the_ledger_back_the_rows_the_batch_deleted(self, tree, run_daemon, canvas):
        """Night 2 deletes u2; rolled back `--undelete-only`, the ledger holds u2 as night 1 sent it, and u3."""
        config, first = done_batch(tree, run_daemon, canvas.url)
        night2 = b"user_id,login_id,status\nu2,rroe,deleted\nu3,l3,active\n"
        drop_file(tree.drop, "users.csv", night2)
        run_daemon(tree.root / "config.yaml", once=True).thread.join(30)
        second = next(batch for batch in tree.batches("done") if batch != first)
        assert [("u1", first.name), ("u3", second.name)] == ledger_keys(config)

        code, _out, err = rollback(config, second, only="undelete")

        assert 0 == code, err
        assert 1 == (record_of(second).statistics or {})["Pseudonym"]["restored"]
        assert [("u1", first.name), ("u2", first.name), ("u3", second.name)] == ledger_keys(config)

    def test_with_the_daemon_running_the_command_leaves_it_a_request(self, tree, run_daemon, canvas):
        """While the queue's lock is held the ledger is left to the daemon: flag false, request file, rows kept."""
        config, batch = done_batch(tree, run_daemon, canvas.url)
        lock = FolderLock(config.folders.queue)
        lock.acquire()
        try:
            code, out, err = rollback(config, batch)
        finally:
            lock.release()

        assert 0 == code, err
        assert f"makes the ledger forget {batch.name}'s changes within seconds" in out
        assert "rollback.ledger_forgotten" in out
        assert record_of(batch).ledger_forgotten is False
        assert (config.folders.queue / REQUEST_NAME).exists()
        assert 2 == ledger_count(config)

    def test_without_a_daemon_the_command_forgets_and_marks_it(self, tree, run_daemon, canvas):
        """No daemon: the command rebuilds the ledger and the manifest says `ledger_forgotten: true`."""
        config, batch = done_batch(tree, run_daemon, canvas.url)

        code, out, err = rollback(config, batch)

        assert 0 == code, err
        assert f"the ledger no longer holds {batch.name}'s changes (rebuilt from done/)" in out
        assert record_of(batch).ledger_forgotten is True
        assert 0 == ledger_count(config)
        again, out, err = rollback(config, batch)
        assert 0 == again, err
        assert f"the ledger no longer holds {batch.name}'s changes\n" in out
        assert 1 == restore_requests(canvas)

    def test_a_rollback_recorded_before_the_flag_is_forgotten_when_run_again(self, tree, run_daemon, canvas):
        """A record without `ledger_forgotten` (an older rollback): run again, it is flagged and forgotten."""
        config, batch = done_batch(tree, run_daemon, canvas.url)
        lock = FolderLock(config.folders.queue)
        lock.acquire()
        try:
            rollback(config, batch)
        finally:
            lock.release()
        manifest = load_manifest(batch)
        assert manifest.rollback is not None
        manifest.rollback.ledger_forgotten = None
        manifest.save(batch)

        code, out, err = rollback(config, batch)

        assert 0 == code, err
        assert "was already rolled back" in out
        assert record_of(batch).ledger_forgotten is True
        assert 0 == ledger_count(config)

    def test_a_ledger_that_cannot_be_rebuilt_is_said_and_left_pending(self, tree, run_daemon, canvas):
        """The rebuild fails (the ledger is a directory): exit 0 for the rollback, the words, the flag stays false."""
        config, batch = done_batch(tree, run_daemon, canvas.url)
        config.ledger_path.unlink()
        config.ledger_path.mkdir()

        code, _out, err = rollback(config, batch)

        assert 0 == code
        assert "the ledger could not be rebuilt" in err
        assert "run `sis-watcher ledger rebuild -c CONFIG`" in err
        assert record_of(batch).ledger_forgotten is False

    def test_a_request_that_cannot_be_written_is_said(self, tree, run_daemon, canvas):
        """The daemon runs but the request cannot be left (a directory in its place): the words say so."""
        config, batch = done_batch(tree, run_daemon, canvas.url)
        (config.folders.queue / REQUEST_NAME).mkdir()
        lock = FolderLock(config.folders.queue)
        lock.acquire()
        try:
            code, _out, err = rollback(config, batch)
        finally:
            lock.release()

        assert 0 == code
        assert f"cannot ask the daemon to forget {batch.name}" in err
        assert record_of(batch).ledger_forgotten is False

    def test_a_failed_batch_is_rolled_back_without_touching_the_ledger(self, tree, run_daemon, canvas):
        """A batch in failed/ that reached Canvas (warnings as failures) can be rolled back; no ledger step."""
        path = tree.write_config(
            canvas.url, intake=FAST, retry=QUICK_RETRY, outcome={"warnings_are_failures": True}
        )
        drop_file(tree.drop, "users.csv", USERS_CSV)
        drop_file(tree.drop, "enrollments.csv", b"course_id,user_id,role,status\nNOPE,u1,student,active\n")
        run_daemon(path, once=True).thread.join(30)
        [batch] = tree.batches("failed")
        assert "imported_with_messages" == load_manifest(batch).canvas.workflow_state

        code, out, err = rollback(load(path), batch)

        assert 0 == code, err
        assert "rolled back (restored)" in out
        assert "ledger" not in out + err


def test_the_command_puts_the_logging_it_found_back(tree, run_daemon, canvas):
    """run_rollback logs warnings to its stderr while it runs, then leaves logging as it was (info stays on)."""
    config, batch = done_batch(tree, run_daemon, canvas.url)
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    handlers = root.handlers[:]
    structlog_config = structlog.get_config()

    code, _out, err = rollback(config, batch)

    assert 0 == code, err
    assert logging.INFO == root.level
    assert handlers == root.handlers
    assert structlog_config == structlog.get_config()
