"""Unit tests for `sis_watcher.intake.watcher`: the observer's events as hints that wake intake."""

from __future__ import annotations

import errno
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirModifiedEvent,
    FileClosedEvent,
    FileClosedNoWriteEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileOpenedEvent,
    FileSystemEvent,
)
from watchdog.observers.polling import PollingObserver

from sis_watcher.intake.watcher import DropWatcher, WakeOnChange, is_inotify_limit

from support import USERS_CSV, drop_file, wait_until

DROP = "/srv/drop"


@pytest.fixture
def watchers() -> Iterator[Callable[..., DropWatcher]]:
    """Make drop watchers; every one is stopped at the end of the test."""
    made: list[DropWatcher] = []

    def make(drop: Path, *, polling: bool = False) -> DropWatcher:
        watcher = DropWatcher(drop, wake=threading.Event(), polling=polling)
        made.append(watcher)
        return watcher

    yield make
    for watcher in made:
        watcher.stop()


class TestWakeOnChange:
    @pytest.mark.parametrize(
        "event",
        [
            FileCreatedEvent(f"{DROP}/users.csv"),
            FileModifiedEvent(f"{DROP}/users.csv"),
            FileClosedEvent(f"{DROP}/users.csv"),
            FileDeletedEvent(f"{DROP}/users.csv"),
            FileMovedEvent(f"{DROP}/.users.csv.part", f"{DROP}/users.csv"),
            DirDeletedEvent(DROP),
            DirModifiedEvent(DROP),
        ],
        ids=lambda event: f"{event.event_type}-{'dir' if event.is_directory else 'file'}",
    )
    def test_an_event_that_may_mean_a_change_wakes_intake(self, event: FileSystemEvent):
        """File writes, moves and deletions, and events on the drop folder itself, set `wake`."""
        wake = threading.Event()

        WakeOnChange(wake, folder=Path(DROP)).dispatch(event)

        assert wake.is_set()

    @pytest.mark.parametrize(
        "event",
        [
            FileOpenedEvent(f"{DROP}/users.csv"),
            FileClosedNoWriteEvent(f"{DROP}/users.csv"),
            DirCreatedEvent(f"{DROP}/exports"),
            DirModifiedEvent(f"{DROP}/exports"),
            DirDeletedEvent(f"{DROP}/exports"),
        ],
        ids=lambda event: f"{event.event_type}-{'dir' if event.is_directory else 'file'}",
    )
    def test_an_event_that_changes_nothing_lets_intake_sleep(self, event: FileSystemEvent):
        """Opening or reading a file, and anything about a sub-folder, does not wake intake."""
        wake = threading.Event()

        WakeOnChange(wake, folder=Path(DROP)).dispatch(event)

        assert not wake.is_set()


class TestDropWatcher:
    def test_a_file_written_to_the_drop_folder_wakes_intake(self, tree, watchers):
        """With inotify, a file renamed into the drop folder sets `wake`."""
        watcher = watchers(tree.drop)
        watcher.start()

        drop_file(tree.drop, "users.csv", USERS_CSV)

        wait_until(watcher.wake.is_set, timeout=5, what="wake set by the observer")
        assert "inotify" == watcher.kind
        assert watcher.healthy() is True

    def test_the_polling_observer_sees_a_new_file_too(self, tree, watchers):
        """With `polling`, the polling observer is used, and a new file still sets `wake`."""
        watcher = watchers(tree.drop, polling=True)
        watcher.start()

        drop_file(tree.drop, "users.csv", USERS_CSV)

        wait_until(watcher.wake.is_set, timeout=5, what="wake set by the polling observer")
        assert isinstance(watcher.observer, PollingObserver)
        assert "polling" == watcher.kind

    def test_a_missing_drop_folder_cannot_be_watched(self, tree, watchers):
        """Starting on a folder that is not there raises `OSError` and leaves no observer."""
        watcher = watchers(tree.root / "nowhere")

        with pytest.raises(FileNotFoundError):
            watcher.start()

        assert watcher.observer is None
        assert watcher.healthy() is False

    def test_a_drop_folder_replaced_by_another_is_not_healthy(self, tree, watchers):
        """A drop folder moved away and recreated is another folder: the watcher reports itself unhealthy."""
        watcher = watchers(tree.drop)
        watcher.start()
        tree.drop.rename(tree.root / "drop.old")
        tree.drop.mkdir()

        assert watcher.healthy() is False

    def test_a_stopped_watcher_is_not_healthy_and_can_be_started_again(self, tree, watchers):
        """`stop` ends the observer; `start` afterwards listens again."""
        watcher = watchers(tree.drop)
        watcher.start()
        watcher.stop()
        stopped = watcher.healthy()

        watcher.start()

        assert stopped is False
        assert watcher.healthy() is True

    def test_use_polling_switches_the_next_start_to_the_polling_observer(self, tree, watchers):
        """After `use_polling`, a restart uses the polling observer."""
        watcher = watchers(tree.drop)
        watcher.start()

        watcher.use_polling()
        watcher.start()

        assert isinstance(watcher.observer, PollingObserver)
        assert watcher.healthy() is True


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (errno.EMFILE, True),
        (errno.ENOSPC, True),
        (errno.ENFILE, True),
        (errno.ENOENT, False),
        (errno.EACCES, False),
    ],
    ids=["EMFILE", "ENOSPC", "ENFILE", "ENOENT", "EACCES"],
)
def test_only_exhausted_inotify_resources_count_as_the_inotify_limit(code: int, expected: bool):
    """EMFILE, ENFILE and ENOSPC mean inotify's limits; other errors do not."""
    assert expected == is_inotify_limit(OSError(code, "error"))
