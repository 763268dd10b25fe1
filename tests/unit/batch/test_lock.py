"""Unit tests for `sis_watcher.batch.lock`: one daemon per queue folder."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

from sis_watcher.batch.lock import LOCK_NAME, FolderLock, lock_owner, read_pid
from sis_watcher.core.errors import LockHeld


class TestFolderLock:
    def test_acquire_writes_our_pid(self, tmp_path):
        """The lock file holds the owner's pid."""
        lock = FolderLock(tmp_path)
        lock.acquire()
        try:
            assert (tmp_path / LOCK_NAME).read_text(encoding="ascii") == f"{os.getpid()}\n"
        finally:
            lock.release()

    def test_second_acquire_raises_lock_held_naming_path_and_pid(self, tmp_path):
        """Another FolderLock on the same queue, even in this process, is refused with path and pid."""
        first = FolderLock(tmp_path)
        first.acquire()
        second = FolderLock(tmp_path)
        try:
            with pytest.raises(LockHeld) as caught:
                second.acquire()
        finally:
            first.release()

        assert caught.value.lock_path == str(tmp_path / LOCK_NAME)
        assert caught.value.owner_pid == os.getpid()
        assert str(caught.value) == (
            f"{tmp_path / LOCK_NAME} is held by process {os.getpid()}: one sis-watcher per queue folder"
        )
        assert second.descriptor is None

    def test_lock_can_be_taken_again_after_release(self, tmp_path):
        """Released, the lock is free for the next instance."""
        first = FolderLock(tmp_path)
        first.acquire()
        first.release()
        second = FolderLock(tmp_path)

        second.acquire()
        second.release()

    def test_release_twice_is_harmless(self, tmp_path):
        """release() on a lock not held does nothing."""
        lock = FolderLock(tmp_path)
        lock.release()
        lock.acquire()
        lock.release()
        lock.release()

        assert lock.descriptor is None

    def test_stale_lock_file_does_not_block(self, tmp_path):
        """A lock file left by a dead process (no flock) is taken over and rewritten."""
        (tmp_path / LOCK_NAME).write_text("99999999\n", encoding="ascii")
        lock = FolderLock(tmp_path)

        lock.acquire()
        try:
            assert read_pid(tmp_path / LOCK_NAME) == os.getpid()
        finally:
            lock.release()

    def test_lock_held_by_another_process_is_refused(self, tmp_path):
        """A lock held by another process is refused with that process's pid."""
        code = (
            "import sys, time; from pathlib import Path; from sis_watcher.batch.lock import FolderLock; "
            "lock = FolderLock(Path(sys.argv[1])); lock.acquire(); print('held', flush=True); sys.stdin.read()"
        )
        child = subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "held"
            with pytest.raises(LockHeld) as caught:
                FolderLock(tmp_path).acquire()
            assert caught.value.owner_pid == child.pid
            assert lock_owner(tmp_path) == child.pid
        finally:
            child.communicate(input="", timeout=10)

        assert lock_owner(tmp_path) is None

    def test_missing_queue_folder_is_an_oserror(self, tmp_path):
        """Locking a queue folder that does not exist raises OSError."""
        with pytest.raises(FileNotFoundError):
            FolderLock(tmp_path / "absent").acquire()


class TestLockOwner:
    def test_owner_while_held_and_after_release(self, tmp_path):
        """lock_owner names the holder while held, and None once released."""
        lock = FolderLock(tmp_path)
        lock.acquire()
        try:
            held = lock_owner(tmp_path)
        finally:
            lock.release()

        assert held == os.getpid()
        assert lock_owner(tmp_path) is None

    def test_no_lock_file_means_nobody(self, tmp_path):
        """No lock file, or no queue folder: no daemon."""
        assert lock_owner(tmp_path) is None
        assert lock_owner(tmp_path / "absent") is None

    def test_held_with_unreadable_pid_is_minus_one(self, tmp_path):
        """Held, but the pid cannot be read: -1 (running, pid unknown)."""
        lock = FolderLock(tmp_path)
        lock.acquire()
        try:
            (tmp_path / LOCK_NAME).write_text("garbage", encoding="ascii")
            assert lock_owner(tmp_path) == -1
        finally:
            lock.release()

    @pytest.mark.parametrize(
        ("content", "expected"), [(b"123\n", 123), (b"", None), (b"-5", None), (b"\xff", None)]
    )
    def test_read_pid(self, tmp_path, content, expected):
        """read_pid accepts a plain number and nothing else."""
        (tmp_path / "pid").write_bytes(content)

        assert expected == read_pid(tmp_path / "pid")

    def test_read_pid_of_missing_file(self, tmp_path):
        """A missing pid file has no pid."""
        assert read_pid(tmp_path / "absent") is None


class TestStatusProbes:
    def test_status_probes_never_make_a_starting_daemon_refuse(self, tmp_path):
        """`sis-watcher status` (lock_owner) running at the moment the daemon starts must not cause LockHeld.

        LockHeld exits 2, which the unit's RestartPreventExitStatus=2 never restarts.
        """
        stop = threading.Event()

        def probe() -> None:
            while not stop.is_set():
                lock_owner(tmp_path)

        prober = threading.Thread(target=probe)
        prober.start()
        refused = attempts = 0
        deadline = time.monotonic() + 2.0
        try:
            while refused == 0 and time.monotonic() < deadline:
                attempts += 1
                lock = FolderLock(tmp_path)
                try:
                    lock.acquire()
                except LockHeld:
                    refused += 1
                else:
                    lock.release()
        finally:
            stop.set()
            prober.join(timeout=10)

        assert refused == 0, f"LockHeld on start {attempts} while `status` was probing the lock"
