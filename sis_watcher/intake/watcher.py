"""
Stage 1: a watchdog observer on the drop folder. Its events are only hints.

The handler does the minimum on watchdog's thread: ignore folder events, `opened` and
`closed_no_write` (they mean nothing changed), and set the `wake` event so the intake loop scans
now. Everything else (what is a candidate, when it is ready) is decided from the scan. With
`intake.polling: true`, or when inotify cannot be used (its limits reached), the polling
observer is used instead: it sees writes made by other hosts on NFS or SMB shares.
"""

from __future__ import annotations

import errno
import threading
from dataclasses import dataclass
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from sis_watcher.core.logs import get_logger

log = get_logger()
QUIET_EVENTS = frozenset({"opened", "closed_no_write"})
INOTIFY_LIMIT_ERRNOS = frozenset({errno.EMFILE, errno.ENOSPC, errno.ENFILE})
POLLING_INTERVAL_SECONDS = 1.0


class WakeOnChange(FileSystemEventHandler):
    """Sets `wake` for any file event that may mean a change, and when the folder itself goes."""

    def __init__(self, wake: threading.Event, *, folder: Path) -> None:
        self.wake = wake
        self.folder = str(folder)

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in QUIET_EVENTS:
            return
        if event.is_directory and event.src_path != self.folder:
            return
        self.wake.set()


@dataclass(frozen=True, slots=True)
class FolderIdentity:
    device: int
    inode: int


def identity_of(path: Path) -> FolderIdentity:
    """Return the folder's (device, inode); raise OSError if it is not there."""
    info = path.stat()
    return FolderIdentity(info.st_dev, info.st_ino)


def is_inotify_limit(error: OSError) -> bool:
    """Return True for the errors of exhausted inotify watches or instances."""
    return error.errno in INOTIFY_LIMIT_ERRNOS


class DropWatcher:
    """One observer on one folder, restartable; `healthy()` says whether it still listens."""

    def __init__(self, drop: Path, *, wake: threading.Event, polling: bool) -> None:
        self.drop = drop
        self.wake = wake
        self.polling = polling
        self.observer: BaseObserver | None = None
        self.identity: FolderIdentity | None = None

    @property
    def kind(self) -> str:
        return "polling" if self.polling else "inotify"

    def start(self) -> None:
        """
        Start observing; raise OSError if the folder is missing or inotify is exhausted.

        On inotify limits the caller may call `use_polling()` and start again.
        """
        self.stop()
        identity = identity_of(self.drop)
        observer: BaseObserver = (
            PollingObserver(timeout=POLLING_INTERVAL_SECONDS) if self.polling else Observer()
        )
        observer.schedule(WakeOnChange(self.wake, folder=self.drop), str(self.drop), recursive=False)
        observer.daemon = True
        try:
            observer.start()
        except BaseException:
            observer.unschedule_all()
            raise
        self.observer = observer
        self.identity = identity

    def use_polling(self) -> None:
        self.polling = True

    def healthy(self) -> bool:
        """True while the observer and its emitter run on the same folder it was started on."""
        observer = self.observer
        if observer is None or not observer.is_alive():
            return False
        if not all(emitter.is_alive() for emitter in observer.emitters):
            return False
        try:
            return identity_of(self.drop) == self.identity
        except OSError:
            return False

    def stop(self) -> None:
        observer, self.observer = self.observer, None
        if observer is None:
            return
        observer.stop()
        if observer.is_alive():
            observer.join(timeout=5)
