"""
Nothing lost, nothing uploaded twice: the lock, shutdown in the middle of things, a full disk.

Each scenario runs `sis-watcher run` as a subprocess against the simulator.
"""

from __future__ import annotations

import random
import signal
import subprocess
import time

import pytest

from sis_watcher.simulator.model.faults import FaultKind

from support import USERS_CSV, drop_file, run_command, tmpfs_state, wait_until


class TestLock:
    def test_a_second_instance_on_the_same_folders_exits_2_naming_the_lock_and_pid(
        self, tree, canvas, service
    ):
        """One daemon per queue folder: a second `run` or `once` is refused with exit code 2."""
        config = tree.write_config(canvas.url)
        first = service(config)
        first.wait_for_event("daemon.started")

        for mode in ("run", "once"):
            second = run_command(mode, "-c", str(config), cwd=tree.root, timeout=30)
            assert 2 == second.returncode
            assert str(tree.queue / ".sis-watcher.lock") in second.stderr
            assert f"process {first.process.pid}" in second.stderr

        assert 0 == first.stop()


class TestShutdown:
    def test_sigterm_during_a_long_backoff_exits_0_within_10_seconds_and_resumes_later(
        self, tree, canvas, service
    ):
        """A SIGTERM in the middle of a 30 s backoff stops at once; the next start uploads exactly once."""
        fault = canvas.faults.add(
            kind=FaultKind.STATUS, status=503, count=None, method="POST", path="sis_imports"
        )
        config = tree.write_config(
            canvas.url,
            retry={"initial_backoff_seconds": 30, "max_backoff_seconds": 60, "max_elapsed_seconds": 3600},
        )
        running = service(config)
        drop_file(tree.drop, "users.csv", USERS_CSV)
        running.wait_for_event("upload.retry_scheduled")

        started = time.monotonic()
        running.signal(signal.SIGTERM)
        code = running.wait(timeout=15)

        assert 0 == code
        assert time.monotonic() - started < 10
        assert 1 == len(tree.batches("queue"))
        canvas.faults.remove(fault)
        again = service(config)
        wait_until(lambda: tree.batches("done"), what="the batch in done/ after restart")
        assert 1 == len(canvas.uploads)
        assert 0 == again.stop()

    def test_a_second_signal_exits_at_once_with_code_3_and_the_upload_is_adopted_on_restart(
        self, tree, canvas, service
    ):
        """SIGTERM then SIGINT during a slow upload exits 3 at once; the restart adopts the import."""
        canvas.faults.add(kind=FaultKind.SLOW, delay_seconds=30, count=1, method="POST", path="sis_imports")
        config = tree.write_config(canvas.url)
        running = service(config)
        drop_file(tree.drop, "users.csv", USERS_CSV)
        running.wait_for_event("upload.started")
        wait_until(lambda: canvas.uploads, what="the upload to reach Canvas")

        running.signal(signal.SIGTERM)
        running.wait_for_event("shutdown.requested")
        started = time.monotonic()
        running.signal(signal.SIGINT)

        assert 3 == running.wait(timeout=10)
        assert time.monotonic() - started < 3
        again = service(config)
        wait_until(lambda: tree.batches("done"), what="the batch in done/ after restart")
        assert 1 == len(canvas.uploads)
        assert tree.manifest(tree.batches("done")[0])["upload"]["adopted"] is True
        assert 0 == again.stop()


@pytest.fixture
def small_state_disk(tree):
    """A 640 KiB tmpfs as the state folder (queue, done, failed); needs root, as in CI."""
    with tmpfs_state(tree, "640k") as state:
        yield state


class TestFullDisk:
    def test_a_full_disk_while_zipping_keeps_the_batch_and_it_goes_on_once_there_is_room(
        self, tree, canvas, service, small_state_disk
    ):
        """ENOSPC while zipping: logged, nothing deleted, retried; with room again the batch is imported."""
        rng = random.Random(7)
        rows = "".join(f"u{index},login{index},{rng.getrandbits(256):064x},active\n" for index in range(5600))
        data = ("user_id,login_id,first_name,status\n" + rows).encode()
        assert 450_000 < len(data) < 550_000  # fits the 640 KiB disk beside the ledger, not with its zip
        config = tree.write_config(canvas.url)
        running = service(config)
        drop_file(tree.drop, "users.csv", data)

        failure = running.wait_for_event("batch.step_failed")[0]
        assert 28 == failure["errno"]
        [batch] = tree.batches("queue")
        assert data == (batch / "users.csv").read_bytes()
        assert [] == canvas.uploads
        assert running.process.poll() is None
        subprocess.run(["mount", "-o", "remount,size=4m", str(small_state_disk)], check=True)

        wait_until(lambda: tree.batches("done"), timeout=60, what="the batch in done/")
        [done] = tree.batches("done")
        assert data == (done / "users.csv").read_bytes()
        assert 1 == len(canvas.uploads)
        assert not list(small_state_disk.rglob("*.sis-watcher-partial"))
        assert 0 == running.stop()

    def test_a_seal_that_fails_half_way_is_finished_once_there_is_room_without_a_restart(
        self, tree, canvas, service, small_state_disk
    ):
        """ENOSPC while files are copied into the batch: the export waits whole, then goes as one batch."""
        rng = random.Random(11)
        users = (
            "user_id,login_id,status\n"
            + "".join(f"u{n},{rng.getrandbits(128):032x},active\n" for n in range(7000))
        ).encode()
        courses = b"course_id,short_name,long_name,status\n" + b"".join(
            b"C%d,S%d,Course %d,active\n" % (n, n, n) for n in range(13000)
        )
        assert len(users) + len(courses) > 640 * 1024 > len(users)
        config = tree.write_config(canvas.url)
        running = service(config)
        running.wait_for_event("daemon.started")
        drop_file(tree.drop, "users.csv", users)
        drop_file(tree.drop, "courses.csv", courses)

        running.wait_for_event("batch.seal_failed")
        running.wait_for_event("intake.problem")
        assert [] == tree.batches("queue") + tree.batches("done")
        subprocess.run(["mount", "-o", "remount,size=4m", str(small_state_disk)], check=True)

        wait_until(lambda: tree.batches("done"), timeout=60, what="the whole export in done/")
        [done] = tree.batches("done")
        assert users == (done / "users.csv").read_bytes()
        assert courses == (done / "courses.csv").read_bytes()
        assert 1 == len(canvas.uploads)
        assert [] == list(tree.drop.iterdir())
        assert 0 == running.stop()
