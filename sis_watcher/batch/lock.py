"""
One daemon per queue folder: an exclusive `flock` on `queue/.sis-watcher.lock`.

The lock file holds the owner's pid (for the error message and for `status`). The kernel
releases the lock when the process dies, even by SIGKILL, so a stale file never blocks a restart.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path

from sis_watcher.core.errors import LockHeld

LOCK_NAME = ".sis-watcher.lock"
PROBE_GRACE_SECONDS = 1.0
PROBE_RETRY_SECONDS = 0.01


def read_pid(path: Path) -> int | None:
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None


class FolderLock:
    """Hold with `acquire()`; `release()` (or process exit) gives it up."""

    def __init__(self, queue: Path) -> None:
        self.path = queue / LOCK_NAME
        self.descriptor: int | None = None

    def acquire(self) -> None:
        """
        Take the lock or raise `LockHeld` naming the lock file and the owner's pid.

        `status` probes the lock with a shared lock held for microseconds; a start that meets
        one tries again for up to `PROBE_GRACE_SECONDS` before deciding another daemon runs.
        """
        descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + PROBE_GRACE_SECONDS
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(descriptor)
                    raise LockHeld(str(self.path), read_pid(self.path)) from None
                time.sleep(PROBE_RETRY_SECONDS)
        os.ftruncate(descriptor, 0)
        os.write(descriptor, f"{os.getpid()}\n".encode("ascii"))
        os.fsync(descriptor)
        self.descriptor = descriptor

    def release(self) -> None:
        descriptor, self.descriptor = self.descriptor, None
        if descriptor is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(descriptor, fcntl.LOCK_UN)
            os.close(descriptor)


def lock_owner(queue: Path) -> int | None:
    """
    Return the pid of the running daemon on `queue` (-1 if unknown), or None if nobody holds it.

    Raise OSError when the lock file exists but cannot be read (permissions).
    """
    path = queue / LOCK_NAME
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return read_pid(path) or -1
    else:
        fcntl.flock(descriptor, fcntl.LOCK_UN)
        return None
    finally:
        os.close(descriptor)
