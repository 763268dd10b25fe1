"""
Forgetting a rolled-back batch (`ledger.forgetting`, `ledger.rebuild`): the request, its end, a crash.

A real batch imported by the daemon (`once`) from the simulator over loopback, rolled back by
the real command while the queue's lock is held (as if the daemon ran): its manifest then says
`rollback.ledger_forgotten: false` and the ledger still holds its rows. The crash states a
kill -9 can leave are made on disk from there, and the daemon (or the worker's tick) is started.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from sis_watcher.batch.lock import FolderLock
from sis_watcher.batch.manifest import load_manifest
from sis_watcher.commands.ledger import run_ledger
from sis_watcher.commands.rollback import run_rollback
from sis_watcher.config.load import load
from sis_watcher.config.settings import Config
from sis_watcher.core.clock import SystemClock
from sis_watcher.ledger.forgetting import (
    REQUEST_NAME,
    RETRY_SECONDS,
    RollbackForgetting,
    awaiting,
    forget_rolled_back,
)
from sis_watcher.ledger.rebuild import REBUILD_SUFFIX, mark_forgotten
from sis_watcher.ledger.store import LedgerKeeper

from support import TOKEN, USERS_CSV, Tree, drop_file
from unit.schedule.conftest import HandClock

FAST = {"settle_seconds": 0, "quiet_seconds": 0.05}
NIGHT_2 = b"user_id,login_id,status\nu3,l3,active\n"
PENDING = "INSERT INTO pending (batch_id, csv_type, key, change) VALUES (?, 'user', ?, 'added')"


@pytest.fixture(autouse=True)
def token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CANVAS_TOKEN", TOKEN)


@dataclass
class Scene:
    config: Config
    path: Path
    first: Path
    second: Path  # rolled back; the ledger still holds u3 from it


def rows(config: Config) -> list[tuple[str, str]]:
    with contextlib.closing(sqlite3.connect(config.ledger_path)) as db:
        return [
            (str(key), str(batch)) for key, batch in db.execute("SELECT key, batch_id FROM rows ORDER BY key")
        ]


def flag(batch: Path) -> bool | None:
    record = load_manifest(batch).rollback
    assert record is not None
    return record.ledger_forgotten


def set_flag(batch: Path, *, value: bool | None) -> None:
    manifest = load_manifest(batch)
    assert manifest.rollback is not None
    manifest.rollback.ledger_forgotten = value
    manifest.save(batch)


def forgetting(config: Config, clock: Any = None) -> RollbackForgetting:
    return RollbackForgetting(config, LedgerKeeper(config.ledger_path), clock=clock or SystemClock())


@pytest.fixture
def scene(tree: Tree, run_daemon: Callable[..., Any], canvas: Any) -> Scene:
    """Two nights filed done; the second rolled back while the lock was held (the daemon's to forget)."""
    path = tree.write_config(canvas.url, intake=FAST)
    drop_file(tree.drop, "users.csv", USERS_CSV)
    run_daemon(path, once=True).thread.join(30)
    drop_file(tree.drop, "users.csv", NIGHT_2)
    run_daemon(path, once=True).thread.join(30)
    first, second = tree.batches("done")
    config = load(path)
    lock = FolderLock(config.folders.queue)
    lock.acquire()
    try:
        code = run_rollback(config, second.name, only=None, out=io.StringIO(), err=io.StringIO())
    finally:
        lock.release()
    assert 0 == code
    assert flag(second) is False
    assert (config.folders.queue / REQUEST_NAME).exists()
    assert [("u1", first.name), ("u2", first.name), ("u3", second.name)] == rows(config)
    return Scene(config, path, first, second)


class TestAtStart:
    def test_a_request_the_daemon_never_saw_is_settled_at_its_start_and_only_once(self, scene, run_daemon):
        """Killed after taking the request away, before rebuilding: the next start scans done/ and forgets it, once."""
        (scene.config.folders.queue / REQUEST_NAME).unlink()

        run_daemon(scene.path, once=True).thread.join(30)

        assert [("u1", scene.first.name), ("u2", scene.first.name)] == rows(scene.config)
        assert flag(scene.second) is True
        inode = scene.config.ledger_path.stat().st_ino
        run_daemon(scene.path, once=True).thread.join(30)
        assert inode == scene.config.ledger_path.stat().st_ino  # not rebuilt again
        assert flag(scene.second) is True

    def test_a_kill_after_the_new_ledger_was_in_place_is_redone_to_the_same_ledger(self, scene):
        """The new file in place but the flag still false (and a scratch file of a killed rebuild): redone, same rows."""
        assert [scene.second.name] == forgetting(scene.config).tick()
        after = rows(scene.config)
        set_flag(scene.second, value=False)
        scratch = scene.config.ledger_path.with_name(scene.config.ledger_path.name + REBUILD_SUFFIX)
        scratch.write_bytes(b"half a rebuild")

        assert [scene.second.name] == forgetting(scene.config).tick()

        assert after == rows(scene.config)
        assert [("u1", scene.first.name), ("u2", scene.first.name)] == after
        assert flag(scene.second) is True
        assert not scratch.exists()
        assert [] == forgetting(scene.config).tick()


class TestTheWorkersTick:
    def test_nothing_is_done_without_a_request_after_the_first_scan(self, scene):
        """The first tick scans; later ones only look for the request file."""
        keeper = forgetting(scene.config)
        (scene.config.folders.queue / REQUEST_NAME).unlink()
        assert [scene.second.name] == keeper.tick()
        set_flag(
            scene.second, value=False
        )  # as if the command had saved it but its request were still to come

        assert [] == keeper.tick()

        (scene.config.folders.queue / REQUEST_NAME).write_text("{}", encoding="utf-8")
        assert [scene.second.name] == keeper.tick()
        assert not (scene.config.folders.queue / REQUEST_NAME).exists()

    def test_a_rebuild_that_fails_is_logged_and_tried_again_later(self, scene):
        """A done batch whose files cannot be read: ledger.forget_failed, ledger and flag as they were; retried after a minute."""
        hidden = scene.first / "users.csv"
        hidden.rename(scene.first / "users.csv.away")
        clock = HandClock()
        keeper = forgetting(scene.config, clock)

        with capture_logs() as logs:
            assert [] == keeper.tick()
            assert [] == keeper.tick()  # not due yet
            assert flag(scene.second) is False
            assert 3 == len(rows(scene.config))
            (scene.first / "users.csv.away").rename(hidden)
            clock.advance(RETRY_SECONDS)
            assert [scene.second.name] == keeper.tick()
        [failed] = [entry for entry in logs if entry["event"] == "ledger.forget_failed"]
        assert "cannot read the files of" in failed["caused_by"]
        assert RETRY_SECONDS == failed["retry_in"]
        assert 2 == len(rows(scene.config))

    def test_without_a_ledger_the_tick_does_nothing(self, scene):
        """Ledger disabled: the worker has no keeper, the tick leaves everything as it is."""
        assert [] == RollbackForgetting(scene.config, None, clock=SystemClock()).tick()
        assert flag(scene.second) is False

    def test_without_a_ledger_file_the_flags_are_only_marked(self, scene):
        """No ledger file (moved aside): nothing holds the batch, so it is marked forgotten, no file made."""
        scene.config.ledger_path.unlink()

        assert [scene.second.name] == forget_rolled_back(scene.config, out=io.StringIO())

        assert flag(scene.second) is True
        assert not scene.config.ledger_path.exists()


class TestRebuild:
    def test_pending_rows_of_a_batch_still_in_the_queue_are_carried_over(self, scene):
        """A previewed batch still in the queue keeps its pending rows; one no longer there does not."""
        queued = "20991231T000000Z-aaaaaa"
        (scene.config.folders.queue / queued).mkdir()
        with contextlib.closing(sqlite3.connect(scene.config.ledger_path)) as db, db:
            db.execute(PENDING, (queued, "u9"))
            db.execute(PENDING, ("20991231T000000Z-bbbbbb", "u8"))
        out = io.StringIO()

        assert 0 == run_ledger(scene.config, "rebuild", out=out, err=io.StringIO())

        with contextlib.closing(sqlite3.connect(scene.config.ledger_path)) as db:
            assert [(queued, "u9")] == db.execute("SELECT batch_id, key FROM pending").fetchall()
        assert f"kept the pending rows of {queued} (still in the queue)" in out.getvalue()
        assert flag(scene.second) is True

    def test_an_old_ledger_that_cannot_be_read_carries_nothing_over(self, scene):
        """A damaged old file (why many rebuild): the rebuild still succeeds and says what it could not keep."""
        scene.config.ledger_path.write_bytes(b"not an sqlite file at all" * 100)
        out = io.StringIO()

        assert 0 == run_ledger(scene.config, "rebuild", out=out, err=io.StringIO())

        assert "the pending rows of queued batches were not carried over" in out.getvalue()
        assert [("u1", scene.first.name), ("u2", scene.first.name)] == rows(scene.config)

    def test_an_old_file_of_something_else_carries_nothing_over(self, scene):
        """An SQLite file without the ledger's tables in its place: nothing carried, the rebuild goes on."""
        scene.config.ledger_path.unlink()
        with contextlib.closing(sqlite3.connect(scene.config.ledger_path)) as db, db:
            db.execute("CREATE TABLE other (x)")
        out = io.StringIO()

        assert 0 == run_ledger(scene.config, "rebuild", out=out, err=io.StringIO())

        assert "not carried over: no such table: old.pending" in out.getvalue()
        assert 2 == len(rows(scene.config))

    def test_a_done_batch_that_cannot_be_read_stops_the_rebuild_with_the_old_ledger_kept(self, scene):
        """Exit 1 in words; the old ledger, its rows and the flag as they were; no scratch file left."""
        (scene.first / "users.csv").unlink()
        err = io.StringIO()

        assert 1 == run_ledger(scene.config, "rebuild", out=io.StringIO(), err=err)

        assert "is as it was" in err.getvalue()
        assert "cannot read the files of" in err.getvalue()
        assert 3 == len(rows(scene.config))
        assert flag(scene.second) is False
        assert not scene.config.ledger_path.with_name(scene.config.ledger_path.name + REBUILD_SUFFIX).exists()

    def test_unreadable_manifests_are_skipped_and_a_vanished_batch_is_not_marked(self, scene):
        """A folder with a damaged manifest is skipped (said); a batch swept away before its mark is left out."""
        damaged = scene.config.folders.done / "20200101T000000Z-cccccc"
        damaged.mkdir()
        (damaged / "manifest.json").write_text("{not json", encoding="utf-8")
        waiting = awaiting(scene.config.folders.done)
        assert [scene.second] == [batch_dir for batch_dir, _manifest in waiting]
        out = io.StringIO()

        assert 0 == run_ledger(scene.config, "rebuild", out=out, err=io.StringIO())

        assert f"skipped {damaged.name}: " in out.getvalue()
        assert [] == forget_rolled_back(scene.config, out=io.StringIO())  # nothing waits any more
        shutil.rmtree(scene.second)
        assert [] == mark_forgotten(waiting)

    def test_a_rebuild_waits_for_no_daemon_and_makes_a_missing_ledger(self, scene):
        """The queue's lock held: exit 2, nothing touched; free, a missing ledger is made from done/."""
        scene.config.ledger_path.unlink()
        lock = FolderLock(scene.config.folders.queue)
        lock.acquire()
        try:
            err = io.StringIO()
            assert 2 == run_ledger(scene.config, "rebuild", out=io.StringIO(), err=err)
        finally:
            lock.release()
        assert "stop the daemon first" in err.getvalue()
        assert not scene.config.ledger_path.exists()

        assert 0 == run_ledger(scene.config, "rebuild", out=io.StringIO(), err=io.StringIO())

        assert [("u1", scene.first.name), ("u2", scene.first.name)] == rows(scene.config)
        assert flag(scene.second) is True
