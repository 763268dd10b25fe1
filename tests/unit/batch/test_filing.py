"""Unit tests for `sis_watcher.batch.filing`: one rename into done/ or failed/, never overwriting."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta

import pytest

from sis_watcher.batch.filing import attempted_import_ids, file_away, known_import_ids
from sis_watcher.batch.manifest import (
    MANIFEST_NAME,
    BatchState,
    load_manifest,
)
from sis_watcher.core.durable import temp_path_for

from unit.batch.helpers import NOW, finished, names


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
