"""Unit tests for `sis_watcher.intake.loop`: scanning the drop folder and sealing batches."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from sis_watcher.batch.ids import batch_folders
from sis_watcher.batch.manifest import BatchState, Manifest, load_manifest
from sis_watcher.config.load import load
from sis_watcher.core.clock import SystemClock
from sis_watcher.intake.loop import IntakeLoop
from sis_watcher.ops.events import Listener, Monitor

from support import COURSES_CSV, USERS_CSV, drop_file, wait_until

UNUSED_CANVAS = "http://127.0.0.1:9"  # intake never talks to Canvas


@dataclass
class Moments(Listener):
    """A listener that remembers what intake reports."""

    moments: list[tuple[str, Any]] = field(default_factory=list)

    def named(self, name: str) -> list[Any]:
        return [value for moment, value in self.moments if moment == name]

    def batch_sealed(self, manifest: Manifest) -> None:
        self.moments.append(("batch_sealed", manifest.batch_id))

    def intake_problem(self, reason: str) -> None:
        self.moments.append(("intake_problem", reason))

    def intake_recovered(self) -> None:
        self.moments.append(("intake_recovered", None))


@dataclass
class Intake:
    loop: IntakeLoop
    moments: Moments
    queue: Path

    def batches(self) -> list[Path]:
        return batch_folders(self.queue)


@pytest.fixture
def intake(tree):
    """Return a maker of intake loops on `tree` with the given `intake:` settings."""

    def make(**settings: Any) -> Intake:
        config = load(tree.write_config(UNUSED_CANVAS, intake=settings))
        moments = Moments()
        loop = IntakeLoop(
            config=config,
            clock=SystemClock(),
            stopping=threading.Event(),
            batch_sealed=threading.Event(),
            monitor=Monitor([moments]),
        )
        return Intake(loop=loop, moments=moments, queue=config.folders.queue)

    return make


def finished_file(folder: Path, name: str, data: bytes) -> Path:
    """Drop a file whose last write was a minute ago (an export that completed earlier)."""
    path = drop_file(folder, name, data)
    minute_ago = time.time() - 60
    os.utime(path, (minute_ago, minute_ago))
    return path


@pytest.fixture
def growing(tree) -> Iterator[Path]:
    """A CSV in the drop folder that a writer keeps appending to until the test ends."""
    path = tree.drop / "enrollments.csv"
    path.write_bytes(b"course_id,user_id,role,status\n")
    done = threading.Event()

    def write() -> None:
        with path.open("ab") as handle:
            while not done.wait(0.03):
                handle.write(b"C1,u1,student,active\n")
                handle.flush()

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    yield path
    done.set()
    writer.join(timeout=5)


class TestRunOnce:
    def test_the_drop_folders_files_are_sealed_into_one_queued_batch(self, tree, intake):
        """Finished CSVs in the drop folder become one queued batch, and the worker is told."""
        finished_file(tree.drop, "users.csv", USERS_CSV)
        finished_file(tree.drop, "courses.csv", COURSES_CSV)
        made = intake()

        made.loop.run_once()

        [batch_dir] = made.batches()
        manifest = load_manifest(batch_dir)
        assert BatchState.QUEUED == manifest.state
        assert ["courses.csv", "users.csv"] == sorted(entry.name for entry in manifest.files)
        assert USERS_CSV == (batch_dir / "users.csv").read_bytes()
        assert [] == list(tree.drop.iterdir())
        assert made.loop.batch_sealed.is_set()
        assert [manifest.batch_id] == made.moments.named("batch_sealed")

    def test_a_fresh_file_is_sealed_once_it_has_settled(self, tree, intake):
        """A file written just now is waited for until it has been still for `settle_seconds`."""
        made = intake(settle_seconds=0.3, quiet_seconds=5, max_wait_seconds=5)
        started = time.monotonic()
        drop_file(tree.drop, "users.csv", USERS_CSV)

        made.loop.run_once()

        [batch_dir] = made.batches()
        assert time.monotonic() - started >= 0.25  # the settle time, less the file system's clock granularity
        assert ["users.csv"] == [entry.name for entry in load_manifest(batch_dir).files]

    def test_a_file_still_being_written_is_left_for_the_next_run(self, tree, intake, growing):
        """A file that never settles is not sealed: `once` gives up after `max_wait_seconds`, file in place."""
        made = intake(settle_seconds=0.3, quiet_seconds=0.3, max_wait_seconds=0.5)

        made.loop.run_once()

        assert [] == made.batches()
        assert growing.exists()
        assert not made.loop.batch_sealed.is_set()

    def test_the_ready_files_are_sealed_after_max_wait_while_another_is_still_written(
        self, tree, intake, growing
    ):
        """`once` seals the ready files when max_wait_seconds has passed; only the growing file waits."""
        finished_file(tree.drop, "users.csv", USERS_CSV)
        made = intake(settle_seconds=0.3, quiet_seconds=0.3, max_wait_seconds=0.6)

        made.loop.run_once()

        [batch_dir] = made.batches()
        assert ["users.csv"] == [entry.name for entry in load_manifest(batch_dir).files]
        assert ["enrollments.csv"] == sorted(path.name for path in tree.drop.iterdir())

    def test_with_a_trigger_file_nothing_is_sealed_until_the_trigger_is_there(self, tree, intake):
        """In trigger mode, finished files wait for the trigger; then they are sealed with it."""
        finished_file(tree.drop, "users.csv", USERS_CSV)
        made = intake(trigger_file="READY")

        made.loop.run_once()
        waiting = made.batches()
        finished_file(tree.drop, "READY", b"")
        made.loop.run_once()

        [batch_dir] = made.batches()
        manifest = load_manifest(batch_dir)
        assert [] == waiting
        assert "READY" == manifest.trigger_file
        assert ["users.csv"] == [entry.name for entry in manifest.files]
        assert (batch_dir / "READY").exists()
        assert [] == list(tree.drop.iterdir())

    def test_temporary_and_other_names_stay_in_the_drop_folder(self, tree, intake):
        """Only candidate names are sealed: temp files, hidden files and non-CSVs are left alone."""
        finished_file(tree.drop, "users.csv", USERS_CSV)
        for name in (".courses.csv.part", "courses.csv.tmp", "notes.txt"):
            finished_file(tree.drop, name, COURSES_CSV)
        made = intake()

        made.loop.run_once()

        [batch_dir] = made.batches()
        assert ["users.csv"] == [entry.name for entry in load_manifest(batch_dir).files]
        assert [".courses.csv.part", "courses.csv.tmp", "notes.txt"] == sorted(
            path.name for path in tree.drop.iterdir()
        )

    def test_each_dropped_zip_is_a_batch_of_its_own(self, tree, intake):
        """Two zips and a CSV make three batches: one per zip, one for the CSVs."""
        finished_file(tree.drop, "a.zip", b"PK\x05\x06" + b"\0" * 18)
        finished_file(tree.drop, "b.zip", b"PK\x05\x06" + b"\0" * 18)
        finished_file(tree.drop, "users.csv", USERS_CSV)
        made = intake()

        made.loop.run_once()

        sources = sorted(
            (load_manifest(path).source, tuple(entry.name for entry in load_manifest(path).files))
            for path in made.batches()
        )
        assert [("csv", ("users.csv",)), ("zip", ("a.zip",)), ("zip", ("b.zip",))] == sources

    def test_a_missing_drop_folder_is_reported_not_raised(self, tree, intake):
        """A drop folder that is not there is an intake problem, reported once; nothing is sealed."""
        made = intake()
        tree.drop.rmdir()

        made.loop.run_once()

        [reason] = made.moments.named("intake_problem")
        assert reason.startswith("cannot read the drop folder")
        assert [] == made.batches()

    def test_a_seal_interrupted_in_its_staging_folder_is_finished_first(self, tree, intake):
        """A `.sealing-<id>` folder a crash left is published before newer files are sealed."""
        finished_file(tree.drop, "users.csv", USERS_CSV)
        made = intake()
        made.loop.run_once()
        [interrupted] = made.batches()
        staged = interrupted.with_name(f".sealing-{interrupted.name}")
        interrupted.rename(staged)
        made.loop.batch_sealed.clear()
        finished_file(tree.drop, "courses.csv", COURSES_CSV)

        made.loop.run_once()

        batches = made.batches()
        assert [interrupted.name] == [path.name for path in batches[:1]]
        assert not staged.exists()
        assert [["users.csv"], ["courses.csv"]] == [
            [entry.name for entry in load_manifest(path).files] for path in batches
        ]
        assert made.loop.batch_sealed.is_set()


class TestRun:
    def test_a_file_dropped_while_watching_is_sealed_and_the_loop_stops_on_request(self, tree, intake):
        """The running loop seals a newly dropped file, then stops and stops its observer when asked."""
        made = intake(settle_seconds=0.05, quiet_seconds=0.1)
        running = threading.Thread(target=made.loop.run, daemon=True)
        running.start()
        try:
            wait_until(made.loop.first_scan_done.is_set, timeout=5, what="the first scan")
            drop_file(tree.drop, "users.csv", USERS_CSV)
            wait_until(made.loop.batch_sealed.is_set, timeout=5, what="a sealed batch")
        finally:
            made.loop.stopping.set()
            made.loop.wake.set()
            running.join(timeout=5)

        assert not running.is_alive()
        assert made.loop.watcher.observer is None
        [batch_dir] = made.batches()
        assert ["users.csv"] == [entry.name for entry in load_manifest(batch_dir).files]

    def test_a_drop_folder_that_appears_late_is_reported_then_recovered(self, tree, intake):
        """No drop folder at start is an intake problem; once it is created, watching resumes and says so."""
        made = intake(settle_seconds=0.05, quiet_seconds=0.1)
        tree.drop.rmdir()
        running = threading.Thread(target=made.loop.run, daemon=True)
        running.start()
        try:
            wait_until(lambda: made.moments.named("intake_problem"), timeout=5, what="the problem")
            tree.drop.mkdir()
            wait_until(lambda: made.moments.named("intake_recovered"), timeout=5, what="the recovery")
            watching = made.loop.watcher.healthy()
        finally:
            made.loop.stopping.set()
            made.loop.wake.set()
            running.join(timeout=5)

        problems = made.moments.named("intake_problem")
        assert problems[0].startswith("cannot watch the drop folder")
        assert all("drop folder" in reason for reason in problems)
        assert watching is True
        assert not running.is_alive()
