"""Unit tests for `sis_watcher.batch.folders`: ids, sealing, repair after a crash, filing, known import ids."""

from __future__ import annotations

import json
import os
import re
import shutil
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from sis_watcher.batch.folders import (
    attempted_import_ids,
    batch_folders,
    file_away,
    known_import_ids,
    new_batch_id,
    open_batch,
    planned,
    rebuild_manifest,
    repair_queue,
    seal,
)
from sis_watcher.batch.manifest import (
    MANIFEST_NAME,
    BatchState,
    FileEntry,
    Manifest,
    ManifestUnreadable,
    load_manifest,
)
from sis_watcher.config.settings import FolderSettings
from sis_watcher.core.clock import isoformat
from sis_watcher.core.durable import remove_temp_files, temp_path_for
from sis_watcher.intake.readiness import FileStat, SealPlan

NOW = datetime(2026, 11, 27, 2, 0, 0, 123456, tzinfo=UTC)
ID_PATTERN = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{6}$")


def drop(folders: FolderSettings, name: str, data: bytes) -> FileStat:
    """Put a file in the drop folder and return what a scan would see of it."""
    path = folders.drop / name
    path.write_bytes(data)
    info = path.stat()
    return FileStat(name=name, size=info.st_size, mtime_ns=info.st_mtime_ns, inode=info.st_ino)


def plan_of(*files: FileStat, trigger: FileStat | None = None, kind: str = "csv") -> SealPlan:
    return SealPlan(kind=kind, files=files, trigger=trigger, reason="quiet")  # type: ignore[arg-type]


def names(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def half_sealed(
    folders: FolderSettings, batch_id: str, *files: FileStat, trigger: FileStat | None = None
) -> Path:
    """Write what `seal` leaves after its first manifest write: a folder and a `sealing` manifest."""
    batch_dir = folders.queue / batch_id
    batch_dir.mkdir()
    manifest = Manifest(
        batch_id=batch_id,
        state=BatchState.SEALING,
        sealed_at=isoformat(NOW),
        trigger_file=trigger.name if trigger else None,
        files=[FileEntry(name=seen.name, bytes=seen.size) for seen in files],
        seal_plan=[planned(seen) for seen in files],
        seal_trigger=planned(trigger) if trigger else None,
    )
    manifest.move_to(BatchState.SEALING, at=isoformat(NOW), note="sealed on quiet")
    manifest.save(batch_dir)
    return batch_dir


def finished(
    folders: FolderSettings, batch_id: str, state: BatchState, *, import_id: int | None = None
) -> Path:
    """Write a batch folder in queue/ whose manifest is in `state`."""
    batch_dir = folders.queue / batch_id
    batch_dir.mkdir()
    (batch_dir / "users.csv").write_bytes(b"user_id\n1\n")
    manifest = Manifest(batch_id=batch_id, state=BatchState.QUEUED, sealed_at=isoformat(NOW))
    manifest.move_to(BatchState.QUEUED, at=isoformat(NOW))
    manifest.move_to(state, at=isoformat(NOW + timedelta(minutes=5)))
    manifest.canvas.import_id = import_id
    manifest.save(batch_dir)
    return batch_dir


class TestBatchIds:
    def test_format(self):
        """An id is the UTC second, a dash, and six hex digits."""
        batch_id = new_batch_id(NOW)

        assert ID_PATTERN.match(batch_id)
        assert batch_id.startswith("20261127T020000Z-1e240")

    def test_ids_sort_by_time_within_one_second(self):
        """Ids made in the same second sort in the order of their microseconds."""
        moments = [NOW.replace(microsecond=micro) for micro in (0, 1, 9, 10, 255, 4096, 999_999)]

        ids = [new_batch_id(moment) for moment in moments]

        assert sorted(ids) == ids

    def test_ids_sort_by_time_across_seconds_and_days(self):
        """Ids sort by time across seconds, days and years."""
        moments = [NOW, NOW + timedelta(seconds=1), NOW + timedelta(days=40), NOW + timedelta(days=400)]
        moments.insert(0, NOW - timedelta(microseconds=1))

        ids = [new_batch_id(moment) for moment in moments]

        assert sorted(ids) == ids

    def test_ids_made_at_once_differ_in_the_random_digit_only(self):
        """Two ids for one instant share the time part; the last digit is random hex."""
        ids = {new_batch_id(NOW) for _ in range(200)}

        assert {batch_id[:-1] for batch_id in ids} == {"20261127T020000Z-1e240"}
        assert len(ids) > 1

    def test_id_is_in_utc_whatever_the_time_zone(self):
        """An aware time in another zone gives the UTC id its `Z` promises."""
        local = NOW.astimezone(timezone(timedelta(hours=2)))

        assert new_batch_id(local)[:17] == new_batch_id(NOW)[:17]


class TestBatchFolders:
    def test_lists_batch_folders_oldest_first(self, tmp_path):
        """Only real folders named like a batch id are batches, sorted by id."""
        names_made = (
            "20261127T020000Z-000002",
            "20261127T010000Z-000001",
            "20261127T010000Z-000001.2",
            ".sealing-20261127T030000Z-000003",
            ".hidden",
            "lost+found",
            "real",
        )
        for name in names_made:
            (tmp_path / name).mkdir()
        (tmp_path / "20261127T040000Z-000004").write_bytes(b"")
        (tmp_path / "20261127T050000Z-000005").symlink_to(tmp_path / "real")

        assert [path.name for path in batch_folders(tmp_path)] == [
            "20261127T010000Z-000001",
            "20261127T010000Z-000001.2",
            "20261127T020000Z-000002",
        ]

    def test_missing_root_has_no_batches(self, tmp_path):
        """A queue folder that does not exist yet holds no batches."""
        assert batch_folders(tmp_path / "absent") == []


class TestSeal:
    def test_moves_files_and_writes_a_queued_manifest(self, folders):
        """Sealing moves each planned file into queue/<id>/ and records a queued manifest."""
        users = drop(folders, "users.csv", b"user_id\nu1\n")
        courses = drop(folders, "courses.csv", b"course_id\nc1\nc2\n")

        result = seal(plan_of(courses, users), folders=folders, now=NOW)

        assert result.batch_dir is not None
        assert result.batch_dir.parent == folders.queue
        assert (result.moved, result.skipped) == (("courses.csv", "users.csv"), ())
        assert names(folders.drop) == []
        assert names(result.batch_dir) == ["courses.csv", MANIFEST_NAME, "users.csv"]
        assert (result.batch_dir / "users.csv").stat().st_ino == users.inode
        document = json.loads((result.batch_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
        assert document["batch_id"] == result.batch_dir.name
        assert document["state"] == "queued"
        assert document["sealed_at"] == "2026-11-27T02:00:00.123456Z"
        assert document["source"] == "csv"
        assert [(entry["name"], entry["bytes"]) for entry in document["files"]] == [
            ("courses.csv", courses.size),
            ("users.csv", users.size),
        ]
        assert [entry["state"] for entry in document["history"]] == ["sealing", "queued"]
        assert document["history"][0]["note"] == "sealed on quiet"
        assert "seal_plan" not in document
        assert "seal_trigger" not in document

    def test_zip_plan_is_a_zip_batch(self, folders):
        """A zip sealed alone is recorded with source `zip`."""
        export = drop(folders, "export.zip", b"PK\x05\x06" + bytes(18))

        result = seal(plan_of(export, kind="zip"), folders=folders, now=NOW)

        assert result.batch_dir is not None
        assert load_manifest(result.batch_dir).source == "zip"

    def test_file_changed_since_planning_is_left_in_drop(self, folders):
        """A file rewritten between plan and seal stays in the drop folder for a later batch."""
        users = drop(folders, "users.csv", b"user_id\nu1\n")
        courses = drop(folders, "courses.csv", b"course_id\nc1\n")
        (folders.drop / "courses.csv").write_bytes(b"course_id\nc1\nc2 being written")

        result = seal(plan_of(courses, users), folders=folders, now=NOW)

        assert result.batch_dir is not None
        assert (result.moved, result.skipped) == (("users.csv",), ("courses.csv",))
        assert names(folders.drop) == ["courses.csv"]
        manifest = load_manifest(result.batch_dir)
        assert [entry.name for entry in manifest.files] == ["users.csv"]
        assert manifest.history[-1].note == "left in the drop folder (changed or gone): courses.csv"

    def test_file_replaced_by_rename_is_left_in_drop(self, folders):
        """Same size and mtime but another inode (replaced by rename) counts as changed."""
        users = drop(folders, "users.csv", b"user_id\nu1\n")
        replacement = folders.drop / ".users.csv.new"
        replacement.write_bytes(b"user_id\nu9\n")
        os.utime(replacement, ns=(users.mtime_ns, users.mtime_ns))
        replacement.replace(folders.drop / "users.csv")

        result = seal(plan_of(users), folders=folders, now=NOW)

        assert result == type(result)(batch_dir=None, moved=(), skipped=("users.csv",))

    def test_nothing_movable_removes_the_batch_folder(self, folders):
        """If every planned file vanished, no batch is left behind."""
        users = drop(folders, "users.csv", b"x")
        (folders.drop / "users.csv").unlink()

        result = seal(plan_of(users), folders=folders, now=NOW)

        assert (result.batch_dir, result.moved, result.skipped) == (None, (), ("users.csv",))
        assert names(folders.queue) == []

    def test_trigger_moves_into_the_batch(self, folders):
        """The trigger file moves with the CSVs and is named in the manifest."""
        users = drop(folders, "users.csv", b"x")
        ready = drop(folders, "READY", b"")

        result = seal(plan_of(users, trigger=ready), folders=folders, now=NOW)

        assert result.batch_dir is not None
        assert names(result.batch_dir) == ["READY", MANIFEST_NAME, "users.csv"]
        manifest = load_manifest(result.batch_dir)
        assert manifest.trigger_file == "READY"
        assert [entry.name for entry in manifest.files] == ["users.csv"]

    def test_changed_trigger_stays_and_is_not_recorded(self, folders):
        """A trigger rewritten since planning stays in drop; the batch records no trigger."""
        users = drop(folders, "users.csv", b"x")
        ready = drop(folders, "READY", b"")
        (folders.drop / "READY").write_bytes(b"again")

        result = seal(plan_of(users, trigger=ready), folders=folders, now=NOW)

        assert result.batch_dir is not None
        assert load_manifest(result.batch_dir).trigger_file is None
        assert names(folders.drop) == ["READY"]

    def test_trigger_alone_makes_a_batch(self, folders):
        """A trigger with no files is sealed into a batch of its own, so it fails visibly later."""
        ready = drop(folders, "READY", b"")

        result = seal(plan_of(trigger=ready), folders=folders, now=NOW)

        assert result.batch_dir is not None
        assert names(result.batch_dir) == ["READY", MANIFEST_NAME]
        assert load_manifest(result.batch_dir).state is BatchState.QUEUED

    def test_unusable_queue_raises(self, folders):
        """A queue path that cannot be a folder (here: a file) raises OSError; drop is untouched."""
        users = drop(folders, "users.csv", b"x")
        shutil.rmtree(folders.queue)
        folders.queue.write_bytes(b"not a folder")

        with pytest.raises(OSError):
            seal(plan_of(users), folders=folders, now=NOW)

        assert names(folders.drop) == ["users.csv"]

    def test_a_missing_queue_folder_is_made_again(self, folders):
        """A queue folder removed by hand is recreated by the next seal."""
        users = drop(folders, "users.csv", b"x")
        shutil.rmtree(folders.queue)

        result = seal(plan_of(users), folders=folders, now=NOW)

        assert result.batch_dir is not None
        assert result.batch_dir.parent == folders.queue

    @pytest.mark.root
    def test_seal_across_filesystems(self, tmp_path, tmpfs):
        """With the queue on another filesystem, files are copied in and removed from drop."""
        folders = FolderSettings(
            drop=tmp_path / "drop",
            queue=tmpfs(tmp_path / "queue"),
            done=tmp_path / "d",
            failed=tmp_path / "f",
        )
        folders.drop.mkdir()
        users = drop(folders, "users.csv", b"user_id\nu1\n")

        result = seal(plan_of(users), folders=folders, now=NOW)

        assert result.batch_dir is not None
        assert (result.batch_dir / "users.csv").read_bytes() == b"user_id\nu1\n"
        assert names(folders.drop) == []


class TestRepair:
    def test_half_sealed_batch_is_finished(self, folders):
        """A crash after some files moved: the rest are moved in and the batch becomes queued."""
        users = drop(folders, "users.csv", b"user_id\nu1\n")
        courses = drop(folders, "courses.csv", b"course_id\nc1\n")
        batch_dir = half_sealed(folders, "20261127T020000Z-1e2400", courses, users)
        (folders.drop / "courses.csv").rename(batch_dir / "courses.csv")

        manifest = open_batch(batch_dir, drop=folders.drop, now=NOW)

        assert manifest is not None
        assert manifest.state is BatchState.QUEUED
        assert [entry.name for entry in manifest.files] == ["courses.csv", "users.csv"]
        assert names(folders.drop) == []
        assert names(batch_dir) == ["courses.csv", MANIFEST_NAME, "users.csv"]
        saved = load_manifest(batch_dir)
        assert saved.state is BatchState.QUEUED
        assert saved.seal_plan is None
        assert [entry.state for entry in saved.history] == ["sealing", "queued"]

    def test_sealing_manifest_with_nothing_moved_yet_moves_everything(self, folders):
        """A crash right after the first manifest write: every file is still in drop and is moved."""
        users = drop(folders, "users.csv", b"x")
        batch_dir = half_sealed(folders, "20261127T020000Z-1e2400", users)

        manifest = open_batch(batch_dir, drop=folders.drop, now=NOW)

        assert manifest is not None
        assert names(batch_dir) == [MANIFEST_NAME, "users.csv"]

    def test_crash_after_cross_filesystem_copy_removes_the_source(self, folders):
        """Both copies exist (copied, source not yet removed): the batch keeps its copy, drop's goes."""
        users = drop(folders, "users.csv", b"user_id\nu1\n")
        batch_dir = half_sealed(folders, "20261127T020000Z-1e2400", users)
        shutil.copy2(folders.drop / "users.csv", batch_dir / "users.csv")

        manifest = open_batch(batch_dir, drop=folders.drop, now=NOW)

        assert manifest is not None
        assert [entry.name for entry in manifest.files] == ["users.csv"]
        assert names(folders.drop) == []
        assert (batch_dir / "users.csv").read_bytes() == b"user_id\nu1\n"

    def test_new_file_with_the_same_name_in_drop_is_not_removed(self, folders):
        """A file already moved whose name reappeared in drop (a new export) is left in drop."""
        users = drop(folders, "users.csv", b"user_id\nu1\n")
        batch_dir = half_sealed(folders, "20261127T020000Z-1e2400", users)
        (folders.drop / "users.csv").rename(batch_dir / "users.csv")
        (folders.drop / "users.csv").write_bytes(b"user_id\nu1\nu2\n")

        manifest = open_batch(batch_dir, drop=folders.drop, now=NOW)

        assert manifest is not None
        assert (folders.drop / "users.csv").read_bytes() == b"user_id\nu1\nu2\n"
        assert (batch_dir / "users.csv").read_bytes() == b"user_id\nu1\n"

    def test_file_gone_from_drop_is_noted(self, folders):
        """A planned file that vanished before the crash is recorded as skipped."""
        users = drop(folders, "users.csv", b"x")
        courses = drop(folders, "courses.csv", b"y")
        batch_dir = half_sealed(folders, "20261127T020000Z-1e2400", courses, users)
        (folders.drop / "courses.csv").unlink()

        manifest = open_batch(batch_dir, drop=folders.drop, now=NOW)

        assert manifest is not None
        assert [entry.name for entry in manifest.files] == ["users.csv"]
        assert manifest.history[-1].note == "left in the drop folder (changed or gone): courses.csv"

    def test_half_sealed_batch_with_every_file_gone_is_removed(self, folders):
        """A sealing batch whose files all vanished is removed and reported as None."""
        users = drop(folders, "users.csv", b"x")
        batch_dir = half_sealed(folders, "20261127T020000Z-1e2400", users)
        (folders.drop / "users.csv").unlink()

        assert open_batch(batch_dir, drop=folders.drop, now=NOW) is None
        assert names(folders.queue) == []

    def test_half_sealed_trigger_is_finished(self, folders):
        """A trigger still in drop is moved in when the seal is finished."""
        users = drop(folders, "users.csv", b"x")
        ready = drop(folders, "READY", b"")
        batch_dir = half_sealed(folders, "20261127T020000Z-1e2400", users, trigger=ready)
        (folders.drop / "users.csv").rename(batch_dir / "users.csv")

        manifest = open_batch(batch_dir, drop=folders.drop, now=NOW)

        assert manifest is not None
        assert manifest.trigger_file == "READY"
        assert names(folders.drop) == []

    def test_a_visible_batch_with_files_but_no_manifest_is_not_guessed(self, folders):
        """Our seals publish only with a manifest: files without one are refused, for a person to check."""
        batch_dir = folders.queue / "20261127T020000Z-1e2400"
        batch_dir.mkdir()
        (batch_dir / "users.csv").write_bytes(b"abc")

        with pytest.raises(ManifestUnreadable):
            open_batch(batch_dir, drop=folders.drop, now=NOW)

        assert names(batch_dir) == ["users.csv"]

    def test_missing_manifest_with_files_is_rebuilt(self, folders):
        """rebuild_manifest (used for interrupted staging folders): the files found become a batch."""
        batch_dir = folders.queue / "20261127T020000Z-1e2400"
        batch_dir.mkdir()
        (batch_dir / "users.csv").write_bytes(b"abc")
        (batch_dir / "courses.csv").write_bytes(b"de")
        (batch_dir / ".hidden").write_bytes(b"x")
        temp_path_for(batch_dir / MANIFEST_NAME).write_bytes(b"{half")
        remove_temp_files(batch_dir)

        manifest = rebuild_manifest(batch_dir, now=NOW)

        assert manifest is not None
        assert manifest.batch_id == batch_dir.name
        assert manifest.state is BatchState.QUEUED
        assert manifest.source == "csv"
        assert [(entry.name, entry.bytes) for entry in manifest.files] == [
            ("courses.csv", 2),
            ("users.csv", 3),
        ]
        assert manifest.history[-1].note == "manifest rebuilt from the folder's files"
        assert load_manifest(batch_dir) == manifest
        assert names(batch_dir) == [".hidden", "courses.csv", MANIFEST_NAME, "users.csv"]

    def test_rebuilt_lone_zip_is_a_zip_batch(self, folders):
        """A rebuilt batch holding one zip is a zip batch."""
        batch_dir = folders.queue / "20261127T020000Z-1e2400"
        batch_dir.mkdir()
        (batch_dir / "Export.ZIP").write_bytes(b"PK")

        manifest = rebuild_manifest(batch_dir, now=NOW)

        assert manifest is not None
        assert manifest.source == "zip"

    def test_empty_folder_is_removed(self, folders):
        """A batch folder with no manifest and no files (or only temp files) is removed."""
        batch_dir = folders.queue / "20261127T020000Z-1e2400"
        batch_dir.mkdir()
        temp_path_for(batch_dir / "users.csv").write_bytes(b"partial copy")

        assert open_batch(batch_dir, drop=folders.drop, now=NOW) is None
        assert names(folders.queue) == []

    def test_unreadable_manifest_is_an_error(self, folders):
        """A manifest that exists but is not valid is not silently replaced."""
        batch_dir = folders.queue / "20261127T020000Z-1e2400"
        batch_dir.mkdir()
        (batch_dir / MANIFEST_NAME).write_text("{not json", encoding="utf-8")
        (batch_dir / "users.csv").write_bytes(b"x")

        with pytest.raises(ManifestUnreadable, match="is not a valid manifest"):
            open_batch(batch_dir, drop=folders.drop, now=NOW)

        assert (batch_dir / MANIFEST_NAME).read_text(encoding="utf-8") == "{not json"

    def test_queued_batch_is_returned_as_it_is(self, folders):
        """A batch past sealing is opened unchanged (its stray temp files removed)."""
        batch_dir = finished(folders, "20261127T020000Z-1e2400", BatchState.ZIPPED)
        stray = temp_path_for(batch_dir / "batch.zip")
        stray.write_bytes(b"half a zip")
        before = load_manifest(batch_dir)

        manifest = open_batch(batch_dir, drop=folders.drop, now=NOW)

        assert manifest == before
        assert not stray.exists()

    def test_repair_queue_finishes_every_batch_and_skips_broken_ones(self, folders):
        """repair_queue finishes half seals, rebuilds manifests, drops empties and leaves broken ones."""
        users = drop(folders, "users.csv", b"x")
        half_sealed(folders, "20261127T020000Z-000001", users)
        rebuilt = folders.queue / "20261127T020000Z-000002"
        rebuilt.mkdir()
        (rebuilt / "courses.csv").write_bytes(b"y")
        (folders.queue / "20261127T020000Z-000003").mkdir()
        broken = folders.queue / "20261127T020000Z-000004"
        broken.mkdir()
        (broken / MANIFEST_NAME).write_text("[]", encoding="utf-8")
        finished(folders, "20261127T020000Z-000005", BatchState.IMPORTING)
        stray = temp_path_for(folders.queue / "20261127T020000Z-000006")
        stray.mkdir()

        repaired = repair_queue(folders, now=NOW)

        assert repaired == ["20261127T020000Z-000001", "20261127T020000Z-000005"]
        assert names(folders.queue) == [
            "20261127T020000Z-000001",
            "20261127T020000Z-000002",
            "20261127T020000Z-000004",
            "20261127T020000Z-000005",
        ]
        assert names(folders.drop) == []


class TestFileAway:
    @pytest.mark.parametrize(("state", "where"), [(BatchState.DONE, "done"), (BatchState.FAILED, "failed")])
    def test_moves_the_batch_into_done_or_failed(self, folders, state, where):
        """A finished batch folder is renamed into done/ or failed/ by its state."""
        batch_dir = finished(folders, "20261127T020000Z-1e2400", state)
        manifest = load_manifest(batch_dir)

        target = file_away(batch_dir, manifest, folders=folders)

        assert target == getattr(folders, where) / batch_dir.name
        assert not batch_dir.exists()
        assert load_manifest(target) == manifest

    def test_leaves_no_temp_files_in_the_filed_batch(self, folders):
        """Stray temp files are removed before filing."""
        batch_dir = finished(folders, "20261127T020000Z-1e2400", BatchState.DONE)
        temp_path_for(batch_dir / "batch.zip").write_bytes(b"x")

        target = file_away(batch_dir, load_manifest(batch_dir), folders=folders)

        assert names(target) == [MANIFEST_NAME, "users.csv"]

    def test_target_with_the_same_history_means_already_filed(self, folders):
        """An earlier cross-filesystem filing that stopped before removing the source: the queue copy goes."""
        batch_dir = finished(folders, "20261127T020000Z-1e2400", BatchState.DONE)
        manifest = load_manifest(batch_dir)
        shutil.copytree(batch_dir, folders.done / batch_dir.name)

        target = file_away(batch_dir, manifest, folders=folders)

        assert target == folders.done / batch_dir.name
        assert not batch_dir.exists()
        assert names(target) == [MANIFEST_NAME, "users.csv"]

    def test_target_with_another_history_is_never_overwritten(self, folders):
        """A different batch under the same name in done/ is kept; this one is filed as `<id>.2`."""
        batch_dir = finished(folders, "20261127T020000Z-1e2400", BatchState.DONE)
        other = folders.done / batch_dir.name
        shutil.copytree(batch_dir, other)
        manifest = load_manifest(other)
        manifest.move_to(BatchState.DONE, at="2030-01-01T00:00:00.000000Z")
        manifest.save(other)

        path = file_away(batch_dir, load_manifest(batch_dir), folders=folders)

        assert path == folders.done / f"{batch_dir.name}.2"
        assert not batch_dir.exists()
        assert len(load_manifest(other).history) == 3

    def test_target_without_a_readable_manifest_is_never_overwritten(self, folders):
        """A folder of that name without a manifest in failed/ is kept; filing picks the next name."""
        batch_dir = finished(folders, "20261127T020000Z-1e2400", BatchState.FAILED)
        (folders.failed / batch_dir.name).mkdir()
        (folders.failed / f"{batch_dir.name}.2").mkdir()

        path = file_away(batch_dir, load_manifest(batch_dir), folders=folders)

        assert path == folders.failed / f"{batch_dir.name}.3"
        assert (folders.failed / batch_dir.name).exists()


class TestKnownImportIds:
    def test_collects_ids_from_queue_done_and_failed(self, folders):
        """Import ids recorded in any of the three folders are known."""
        finished(folders, "20261127T020000Z-000001", BatchState.IMPORTING, import_id=11)
        shutil.move(finished(folders, "20261127T020000Z-000002", BatchState.DONE, import_id=12), folders.done)
        shutil.move(
            finished(folders, "20261127T020000Z-000003", BatchState.FAILED, import_id=13), folders.failed
        )
        finished(folders, "20261127T020000Z-000004", BatchState.QUEUED)

        found = known_import_ids(folders, since=datetime.now(UTC) - timedelta(minutes=1))

        assert found == {11, 12, 13}

    def test_excludes_the_asking_batch(self, folders):
        """The batch that is looking for its own import does not count its own id."""
        mine = finished(folders, "20261127T020000Z-000001", BatchState.UPLOADING, import_id=11)
        finished(folders, "20261127T020000Z-000002", BatchState.IMPORTING, import_id=12)

        found = known_import_ids(folders, since=datetime.now(UTC) - timedelta(minutes=1), excluding=mine)

        assert found == {12}

    def test_folders_untouched_since_then_are_not_read(self, folders):
        """A batch folder last modified before `since` cannot hold a newer import id."""
        old = finished(folders, "20261127T020000Z-000001", BatchState.IMPORTING, import_id=11)
        os.utime(old, (1_000_000_000, 1_000_000_000))
        finished(folders, "20261127T020000Z-000002", BatchState.IMPORTING, import_id=12)

        found = known_import_ids(folders, since=datetime.now(UTC) - timedelta(minutes=1))

        assert found == {12}

    def test_unreadable_manifests_are_skipped(self, folders):
        """A batch without a valid manifest contributes nothing and breaks nothing."""
        (folders.queue / "20261127T020000Z-000001").mkdir()
        finished(folders, "20261127T020000Z-000002", BatchState.IMPORTING, import_id=12)

        assert known_import_ids(folders, since=NOW - timedelta(days=3650)) == {12}


class TestAttemptedImportIds:
    def test_previous_attempts_count_as_known_imports(self, folders):
        """After `retry`, the batch's own earlier import is never adopted as if it were the new one."""
        batch_dir = finished(folders, "20261127T020000Z-000001", BatchState.UPLOADING, import_id=21)
        manifest = load_manifest(batch_dir)
        manifest.previous_attempts = [{"canvas": {"import_id": 7}}, {"canvas": {"import_id": None}}, {}]
        manifest.save(batch_dir)

        assert {21, 7} == attempted_import_ids(manifest)
        assert {21, 7} == known_import_ids(folders, since=datetime.now(UTC) - timedelta(minutes=1))
