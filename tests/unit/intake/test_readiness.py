"""Unit tests for `sis_watcher.intake.readiness`: candidates, readiness and sealing decisions, with explicit times."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from sis_watcher.batch.sealing import FileStat, SealPlan
from sis_watcher.config.settings import IntakeSettings
from sis_watcher.intake.readiness import (
    SealPlanner,
    Snapshot,
    is_candidate_name,
    name_matches,
    scan,
)

SETTLE, QUIET, MAX_WAIT = 5.0, 30.0, 600.0
WALL = 1_800_000_000 * 10**9  # a wall-clock "now" in ns for the `once` rules


def settings(**changes: Any) -> IntakeSettings:
    values: dict[str, Any] = {"settle_seconds": SETTLE, "quiet_seconds": QUIET, "max_wait_seconds": MAX_WAIT}
    values.update(changes)
    return IntakeSettings(**values)


def stat(name: str, *, size: int = 10, mtime_ns: int = WALL, inode: int | None = None) -> FileStat:
    return FileStat(
        name=name, size=size, mtime_ns=mtime_ns, inode=inode if inode is not None else hash(name) % 10**6
    )


def snapshot(*files: FileStat, trigger: FileStat | None = None) -> Snapshot:
    return Snapshot(files={seen.name: seen for seen in files}, trigger=trigger)


def names_of(plan: SealPlan) -> list[str]:
    return [seen.name for seen in plan.files]


class TestNames:
    @pytest.mark.parametrize(
        ("name", "expected"),
        [
            ("users.csv", True),
            ("USERS.CSV", True),
            ("Export.Zip", True),
            ("notes.txt", False),
            (".users.csv", False),
            ("users.csv.tmp", False),
            ("users.csv.part", False),
            ("users.csv.PARTIAL", False),
            ("users.csv.filepart", False),
            ("users.csv.crdownload", False),
            ("users.csv.swp", False),
            ("~users.csv", False),
            ("users.tmp.csv", True),
        ],
    )
    def test_default_include_and_ignore(self, name, expected):
        """CSV and zip names are taken, hidden and temporary names never, ignoring case."""
        assert expected == is_candidate_name(name, IntakeSettings())

    def test_custom_patterns_ignore_case(self):
        """Configured patterns are matched case-insensitively in both directions."""
        custom = IntakeSettings(include=("*.TXT",), ignore=("SKIP*",))

        assert is_candidate_name("notes.txt", custom)
        assert not is_candidate_name("skip-me.txt", custom)
        assert not is_candidate_name("users.csv", custom)

    def test_name_matches_any_pattern(self):
        """A name matches when any pattern does; no patterns match nothing."""
        assert name_matches("a.csv", ("*.zip", "*.csv"))
        assert not name_matches("a.csv", ())


class TestScan:
    def test_takes_top_level_regular_files_only(self, tmp_path):
        """Symlinks, folders, files in sub-folders, hidden and temp names are never candidates."""
        (tmp_path / "users.csv").write_bytes(b"a,b\n")
        (tmp_path / "export.ZIP").write_bytes(b"PK")
        (tmp_path / "notes.txt").write_bytes(b"x")
        (tmp_path / ".users.csv.abc123").write_bytes(b"x")
        (tmp_path / ".hidden.csv").write_bytes(b"x")
        (tmp_path / "courses.csv.part").write_bytes(b"x")
        (tmp_path / "folder.csv").mkdir()
        (tmp_path / "folder.csv" / "inner.csv").write_bytes(b"x")
        (tmp_path / "link.csv").symlink_to(tmp_path / "users.csv")
        (tmp_path / "dangling.csv").symlink_to(tmp_path / "nowhere.csv")
        os.mkfifo(tmp_path / "pipe.csv")

        found = scan(tmp_path, IntakeSettings())

        assert sorted(found.files) == ["export.ZIP", "users.csv"]
        assert found.trigger is None

    def test_records_size_mtime_and_inode(self, tmp_path):
        """Each candidate's size, mtime and inode are what the filesystem says."""
        path = tmp_path / "users.csv"
        path.write_bytes(b"12345")
        os.utime(path, ns=(WALL, WALL))

        seen = scan(tmp_path, IntakeSettings()).files["users.csv"]

        assert seen == FileStat(name="users.csv", size=5, mtime_ns=WALL, inode=path.stat().st_ino)
        assert not seen.is_zip

    def test_trigger_file_is_found_and_never_a_candidate(self, tmp_path):
        """The trigger file is reported apart, even when its name would be a candidate."""
        (tmp_path / "READY.csv").write_bytes(b"")
        (tmp_path / "users.csv").write_bytes(b"x")

        found = scan(tmp_path, IntakeSettings(trigger_file="READY.csv"))

        assert sorted(found.files) == ["users.csv"]
        assert found.trigger is not None
        assert found.trigger.name == "READY.csv"

    def test_trigger_that_is_a_folder_or_symlink_does_not_count(self, tmp_path):
        """Only a regular file is a trigger."""
        (tmp_path / "READY").mkdir()
        (tmp_path / "GO").symlink_to(tmp_path / "READY")

        assert scan(tmp_path, IntakeSettings(trigger_file="READY")).trigger is None
        assert scan(tmp_path, IntakeSettings(trigger_file="GO")).trigger is None

    def test_missing_folder_raises_oserror(self, tmp_path):
        """A drop folder that is not there (an unmounted share) is an OSError for the caller."""
        with pytest.raises(FileNotFoundError):
            scan(tmp_path / "absent", IntakeSettings())

    def test_zip_is_recognised_ignoring_case(self):
        """`.zip` in any case is a zip."""
        assert stat("EXPORT.ZIP").is_zip
        assert not stat("zip.csv").is_zip


class TestReadiness:
    def test_nothing_is_sealed_before_settle(self):
        """A new CSV is not ready before settle_seconds, so nothing seals."""
        intake = SealPlanner(settings(quiet_seconds=0))
        intake.observe(snapshot(stat("users.csv")), now=100)

        assert intake.plans(104.9) == []

    def test_quiet_time_seals_every_ready_csv(self):
        """All CSVs ready and nothing new for quiet_seconds: one batch, sorted by name."""
        intake = SealPlanner(settings())
        intake.observe(snapshot(stat("users.csv"), stat("courses.csv")), now=100)

        assert intake.plans(129.9) == []
        [plan] = intake.plans(130)

        assert plan.kind == "csv"
        assert plan.reason == "quiet"
        assert plan.trigger is None
        assert names_of(plan) == ["courses.csv", "users.csv"]

    def test_a_new_file_restarts_the_quiet_time(self):
        """A file arriving late pushes the seal to quiet_seconds after it."""
        intake = SealPlanner(settings())
        intake.observe(snapshot(stat("users.csv")), now=100)
        intake.observe(snapshot(stat("users.csv"), stat("enrollments.csv")), now=120)

        assert intake.plans(149) == []
        assert names_of(intake.plans(150)[0]) == ["enrollments.csv", "users.csv"]

    @pytest.mark.parametrize(
        "changed",
        [
            stat("users.csv", size=11),
            stat("users.csv", mtime_ns=WALL + 1),
            stat("users.csv", inode=999_999_999),
        ],
        ids=["size", "mtime", "inode"],
    )
    def test_a_change_resets_readiness(self, changed):
        """A change of size, mtime or inode (a file replaced by rename) restarts settle and quiet."""
        intake = SealPlanner(settings(quiet_seconds=10))
        intake.observe(snapshot(stat("users.csv")), now=100)
        intake.observe(snapshot(changed), now=108)

        assert intake.plans(112) == []
        [plan] = intake.plans(118)
        assert plan.files == (changed,)

    def test_an_unchanged_rescan_does_not_reset_readiness(self):
        """Seeing the same file again does not delay it."""
        intake = SealPlanner(settings())
        intake.observe(snapshot(stat("users.csv")), now=100)
        intake.observe(snapshot(stat("users.csv")), now=125)

        assert intake.plans(130)[0].reason == "quiet"

    def test_a_vanished_file_is_forgotten(self):
        """A file gone from the drop folder is no longer tracked or planned."""
        intake = SealPlanner(settings())
        intake.observe(snapshot(stat("users.csv"), stat("tmp.csv")), now=100)
        intake.observe(snapshot(stat("users.csv")), now=101)

        assert list(intake.tracked) == ["users.csv"]
        assert names_of(intake.plans(131)[0]) == ["users.csv"]

    def test_max_wait_seals_the_ready_files_and_leaves_the_rest(self):
        """Files that never settle do not hold back the ready ones past max_wait_seconds."""
        intake = SealPlanner(settings())
        intake.observe(snapshot(stat("users.csv"), stat("busy.csv", size=1)), now=0)
        for step in range(1, 61):
            intake.observe(snapshot(stat("users.csv"), stat("busy.csv", size=step + 1)), now=step * 10)

        [plan] = intake.plans(600)

        assert plan.reason == "max_wait"
        assert names_of(plan) == ["users.csv"]

    def test_max_wait_with_nothing_ready_seals_nothing(self):
        """After max_wait, if no CSV is ready there is nothing to seal."""
        intake = SealPlanner(settings())
        intake.observe(snapshot(stat("busy.csv", size=1)), now=0)
        intake.observe(snapshot(stat("busy.csv", size=2)), now=599)

        assert intake.plans(600) == []

    def test_forget_stops_tracking_sealed_files(self):
        """After forget(plan), the sealed files are not planned again."""
        intake = SealPlanner(settings())
        intake.observe(snapshot(stat("users.csv")), now=0)
        [plan] = intake.plans(30)

        intake.forget(plan)

        assert intake.tracked == {}
        assert intake.plans(1000) == []


class TestZips:
    def test_each_zip_is_its_own_batch_oldest_first(self):
        """Ready zips are sealed one per batch, oldest mtime first, before the CSV batch."""
        intake = SealPlanner(settings())
        intake.observe(
            snapshot(
                stat("b.zip", mtime_ns=WALL - 10),
                stat("a.zip", mtime_ns=WALL),
                stat("c.ZIP", mtime_ns=WALL - 10),
                stat("users.csv"),
            ),
            now=0,
        )

        plans = intake.plans(30)

        assert [(plan.kind, names_of(plan), plan.reason) for plan in plans] == [
            ("zip", ["b.zip"], "ready"),
            ("zip", ["c.ZIP"], "ready"),
            ("zip", ["a.zip"], "ready"),
            ("csv", ["users.csv"], "quiet"),
        ]

    def test_a_zip_needs_only_to_settle(self):
        """A zip is sealed once ready; it waits for no quiet time."""
        intake = SealPlanner(settings())
        intake.observe(snapshot(stat("export.zip")), now=0)

        assert intake.plans(4) == []
        [plan] = intake.plans(5)
        assert (plan.kind, names_of(plan)) == ("zip", ["export.zip"])

    def test_zips_do_not_count_toward_the_csv_batch(self):
        """A zip still changing does not hold back a quiet CSV batch."""
        intake = SealPlanner(settings())
        intake.observe(snapshot(stat("users.csv"), stat("big.zip", size=1)), now=0)
        intake.observe(snapshot(stat("users.csv"), stat("big.zip", size=2)), now=29)

        [plan] = intake.plans(30)

        assert names_of(plan) == ["users.csv"]


class TestTrigger:
    def test_nothing_seals_without_the_trigger(self):
        """In trigger mode, ready and quiet files still wait for the trigger file."""
        intake = SealPlanner(settings(trigger_file="READY"))
        intake.observe(snapshot(stat("users.csv"), stat("x.zip")), now=0)

        assert intake.plans(10_000) == []

    def test_trigger_seals_as_soon_as_every_file_is_ready(self):
        """With the trigger there, the batch seals once every CSV has settled, without quiet time."""
        intake = SealPlanner(settings(trigger_file="READY"))
        intake.observe(snapshot(stat("users.csv"), trigger=stat("READY")), now=0)

        assert intake.plans(4) == []
        [plan] = intake.plans(5)

        assert plan.reason == "trigger"
        assert plan.trigger == stat("READY")
        assert names_of(plan) == ["users.csv"]

    def test_trigger_waits_for_files_still_changing(self):
        """The trigger does not seal a file that is still being written."""
        intake = SealPlanner(settings(trigger_file="READY"))
        intake.observe(snapshot(stat("users.csv"), trigger=stat("READY")), now=0)
        intake.observe(snapshot(stat("users.csv", size=99), trigger=stat("READY")), now=4)

        assert intake.plans(8) == []
        assert intake.plans(9)[0].reason == "trigger"

    def test_max_wait_counts_from_the_trigger(self):
        """In trigger mode, max_wait runs from when the trigger appeared, then seals the ready files."""
        intake = SealPlanner(settings(trigger_file="READY"))
        intake.observe(snapshot(stat("users.csv"), stat("busy.csv", size=0)), now=0)
        intake.observe(snapshot(stat("users.csv"), stat("busy.csv", size=1), trigger=stat("READY")), now=1000)
        intake.observe(snapshot(stat("users.csv"), stat("busy.csv", size=2), trigger=stat("READY")), now=1599)

        assert intake.plans(1599) == []
        [plan] = intake.plans(1600)

        assert plan.reason == "max_wait"
        assert names_of(plan) == ["users.csv"]
        assert plan.trigger == stat("READY")

    def test_trigger_alone_is_sealed_after_quiet_time(self):
        """A trigger with no files is sealed alone after quiet_seconds, so the mistake is visible."""
        intake = SealPlanner(settings(trigger_file="READY"))
        intake.observe(snapshot(trigger=stat("READY")), now=0)

        assert intake.plans(29) == []
        [plan] = intake.plans(30)

        assert (plan.kind, plan.files, plan.trigger, plan.reason) == ("csv", (), stat("READY"), "trigger")

    def test_trigger_goes_with_a_lone_zip(self):
        """Trigger and zips only: the first zip batch takes the trigger."""
        intake = SealPlanner(settings(trigger_file="READY"))
        intake.observe(
            snapshot(stat("b.zip", mtime_ns=2), stat("a.zip", mtime_ns=1), trigger=stat("READY")), now=0
        )

        plans = intake.plans(5)

        assert [(names_of(plan), plan.trigger, plan.reason) for plan in plans] == [
            (["a.zip"], stat("READY"), "trigger"),
            (["b.zip"], None, "ready"),
        ]

    def test_trigger_stays_for_csvs_still_settling_when_a_zip_is_ready(self):
        """A ready zip must not take the trigger while the export's CSVs are still settling; the CSV batch gets it."""
        intake = SealPlanner(settings(trigger_file="READY"))
        intake.observe(snapshot(stat("a.zip"), stat("users.csv", size=1), trigger=stat("READY")), now=0)
        intake.observe(snapshot(stat("a.zip"), stat("users.csv", size=2), trigger=stat("READY")), now=4)

        [zip_plan] = intake.plans(5)
        intake.forget(zip_plan)
        intake.observe(snapshot(stat("users.csv", size=2), trigger=stat("READY")), now=6)
        later = intake.plans(9)

        assert zip_plan.trigger is None
        assert [(plan.kind, names_of(plan), plan.trigger) for plan in later] == [
            ("csv", ["users.csv"], stat("READY"))
        ]

    def test_trigger_with_unready_zip_waits(self):
        """A trigger beside a zip still being written waits for the zip (no lone-trigger batch)."""
        intake = SealPlanner(settings(trigger_file="READY"))
        intake.observe(snapshot(stat("a.zip"), trigger=stat("READY")), now=0)
        intake.observe(snapshot(stat("a.zip", size=99), trigger=stat("READY")), now=40)

        assert intake.plans(44) == []

    def test_trigger_goes_with_the_csv_batch_not_the_zips(self):
        """With CSVs and zips, the CSV batch takes the trigger and the zips seal as plain zips."""
        intake = SealPlanner(settings(trigger_file="READY"))
        intake.observe(snapshot(stat("users.csv"), stat("a.zip"), trigger=stat("READY")), now=0)

        plans = intake.plans(5)

        assert [(plan.kind, plan.trigger) for plan in plans] == [("zip", None), ("csv", stat("READY"))]

    def test_a_trigger_that_vanishes_restarts_its_clock(self):
        """A trigger removed and re-created counts from its second appearance."""
        intake = SealPlanner(settings(trigger_file="READY"))
        intake.observe(snapshot(trigger=stat("READY")), now=0)
        intake.observe(snapshot(), now=10)
        assert intake.trigger is None
        assert intake.plans(20) == []
        intake.observe(snapshot(trigger=stat("READY")), now=20)

        assert intake.plans(49) == []
        assert len(intake.plans(50)) == 1

    def test_forget_of_a_triggered_plan_drops_the_trigger(self):
        """Once sealed, the trigger is no longer there for the next batch."""
        intake = SealPlanner(settings(trigger_file="READY"))
        intake.observe(snapshot(stat("users.csv"), trigger=stat("READY")), now=0)
        [plan] = intake.plans(5)

        intake.forget(plan)

        assert (intake.trigger, intake.trigger_seen_at) == (None, None)
        assert intake.plans(100) == []


class TestOnce:
    def test_old_files_are_ready_at_once_and_quiet_is_waived(self):
        """`once`: files older than settle_seconds by the wall clock seal immediately."""
        intake = SealPlanner(settings())
        intake.observe(snapshot(stat("users.csv", mtime_ns=WALL - 6 * 10**9)), now=0)

        assert intake.plans(0) == []
        [plan] = intake.plans(0, wall_now_ns=WALL)

        assert plan.reason == "once"
        assert names_of(plan) == ["users.csv"]

    def test_fresh_files_still_settle(self):
        """`once`: a file modified within settle_seconds still has to settle first."""
        intake = SealPlanner(settings())
        intake.observe(snapshot(stat("users.csv", mtime_ns=WALL - 4 * 10**9)), now=0)

        assert intake.plans(0, wall_now_ns=WALL) == []
        assert intake.plans(5, wall_now_ns=WALL)[0].reason == "once"

    def test_a_file_seen_changing_is_not_ready_by_its_old_mtime(self):
        """`once`: a file that changed while watched must settle by the monotonic clock."""
        intake = SealPlanner(settings())
        intake.observe(snapshot(stat("users.csv", size=1, mtime_ns=WALL - 60 * 10**9)), now=0)
        intake.observe(snapshot(stat("users.csv", size=2, mtime_ns=WALL - 60 * 10**9)), now=1)

        assert intake.plans(2, wall_now_ns=WALL) == []
        assert intake.plans(6, wall_now_ns=WALL)[0].reason == "once"

    def test_old_zips_are_ready_at_once(self):
        """`once`: an old zip is its own batch at once."""
        intake = SealPlanner(settings())
        intake.observe(snapshot(stat("a.zip", mtime_ns=WALL - 10 * 10**9)), now=0)

        [plan] = intake.plans(0, wall_now_ns=WALL)

        assert (plan.kind, plan.reason) == ("zip", "ready")

    def test_once_in_trigger_mode_reports_trigger(self):
        """`once` in trigger mode still needs the trigger, and names it as the reason."""
        intake = SealPlanner(settings(trigger_file="READY"))
        intake.observe(snapshot(stat("users.csv", mtime_ns=WALL - 10 * 10**9), trigger=stat("READY")), now=0)

        assert intake.plans(0, wall_now_ns=WALL)[0].reason == "trigger"


class TestSplit:
    def test_big_export_is_split_by_name(self):
        """More CSVs than max_batch_files become several batches in name order."""
        intake = SealPlanner(settings(max_batch_files=2))
        intake.observe(snapshot(*(stat(f"f{index}.csv") for index in (4, 1, 3, 0, 2))), now=0)

        plans = intake.plans(30)

        assert [names_of(plan) for plan in plans] == [["f0.csv", "f1.csv"], ["f2.csv", "f3.csv"], ["f4.csv"]]
        assert {plan.reason for plan in plans} == {"quiet"}

    def test_trigger_goes_with_the_last_part(self):
        """A split export's trigger moves with its last batch, so it is not consumed early."""
        intake = SealPlanner(settings(max_batch_files=1, trigger_file="READY"))
        intake.observe(snapshot(stat("a.csv"), stat("b.csv"), trigger=stat("READY")), now=0)

        plans = intake.plans(5)

        assert [(names_of(plan), plan.trigger) for plan in plans] == [
            (["a.csv"], None),
            (["b.csv"], stat("READY")),
        ]

    def test_exactly_max_batch_files_is_one_batch(self):
        """max_batch_files files fit in one batch."""
        intake = SealPlanner(settings(max_batch_files=3))
        intake.observe(snapshot(stat("a.csv"), stat("b.csv"), stat("c.csv")), now=0)

        assert len(intake.plans(30)) == 1


class TestNextDecision:
    def test_nothing_tracked_means_no_deadline(self):
        """With no files and no trigger there is nothing to wake up for."""
        assert SealPlanner(settings()).seconds_until_next_decision(0) is None

    def test_next_deadline_is_the_nearest_one(self):
        """The next decision is the nearest of settle, quiet and max_wait deadlines."""
        intake = SealPlanner(settings())
        intake.observe(snapshot(stat("users.csv")), now=100)

        assert intake.seconds_until_next_decision(100) == SETTLE
        assert intake.seconds_until_next_decision(106) == 24
        assert intake.seconds_until_next_decision(131) == 569
        assert intake.seconds_until_next_decision(700) is None

    def test_trigger_deadlines_count(self):
        """A lone trigger wakes the loop when its quiet time ends."""
        intake = SealPlanner(settings(trigger_file="READY"))
        intake.observe(snapshot(trigger=stat("READY")), now=10)

        assert intake.seconds_until_next_decision(10) == QUIET
        assert intake.seconds_until_next_decision(41) == MAX_WAIT - 31

    def test_deadline_matches_the_moment_a_plan_appears(self):
        """Sleeping exactly the advised time reaches the moment the batch seals."""
        intake = SealPlanner(settings())
        intake.observe(snapshot(stat("users.csv")), now=0)
        now = 0.0
        while not intake.plans(now):
            wait = intake.seconds_until_next_decision(now)
            assert wait is not None
            now += wait

        assert now == QUIET


def test_scan_and_intake_together_on_a_real_folder(tmp_path: Path):
    """A real file scanned twice, unchanged, becomes a quiet batch at the expected time."""
    (tmp_path / "users.csv").write_bytes(b"user_id\n1\n")
    intake = SealPlanner(settings())
    intake.observe(scan(tmp_path, intake.settings), now=0)
    intake.observe(scan(tmp_path, intake.settings), now=20)

    [plan] = intake.plans(30)

    assert names_of(plan) == ["users.csv"]
    assert plan.files[0].size == 10
