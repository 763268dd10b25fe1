"""Unit tests for `sis_watcher.batch.repair`: what a crash left in queue/ is finished at start."""

from __future__ import annotations

import shutil

import pytest

from sis_watcher.batch.manifest import (
    MANIFEST_NAME,
    BatchState,
    ManifestUnreadable,
    load_manifest,
)
from sis_watcher.batch.repair import open_batch, rebuild_manifest, repair_queue
from sis_watcher.core.durable import remove_temp_files, temp_path_for

from unit.batch.helpers import NOW, drop, finished, half_sealed, names


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
