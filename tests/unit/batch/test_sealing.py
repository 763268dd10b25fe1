"""Unit tests for `sis_watcher.batch.sealing`: files moved into a staged batch, then published."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from sis_watcher.batch.manifest import (
    MANIFEST_NAME,
    BatchState,
    load_manifest,
)
from sis_watcher.batch.sealing import seal
from sis_watcher.config.settings import FolderSettings

from unit.batch.helpers import NOW, drop, names, plan_of


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
