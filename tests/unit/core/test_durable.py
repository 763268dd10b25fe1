"""Unit tests for `sis_watcher.core.durable`: atomic writes and moves, on one filesystem and across two."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from sis_watcher.core.durable import (
    TEMP_SUFFIX,
    atomic_write_bytes,
    atomic_write_json,
    copy_file_durably,
    fsync_dir,
    is_temp_name,
    move_dir,
    move_file,
    remove_temp_files,
    temp_path_for,
)

BIG = os.urandom(3 << 20)  # bigger than one copy chunk


def names(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def temp_files(folder: Path) -> list[str]:
    return [path.relative_to(folder).as_posix() for path in folder.rglob("*") if is_temp_name(path.name)]


class TestTempNames:
    def test_temp_path_is_a_hidden_unique_sibling(self, tmp_path):
        """Temp names live beside the target, start with a dot, end with the suffix, and differ each time."""
        target = tmp_path / "manifest.json"

        first, second = temp_path_for(target), temp_path_for(target)

        assert first.parent == tmp_path
        assert first.name.startswith(".manifest.json.")
        assert first.name.endswith(TEMP_SUFFIX)
        assert first != second
        assert is_temp_name(first.name)

    @pytest.mark.parametrize(
        ("name", "expected"),
        [
            (f".x{TEMP_SUFFIX}", True),
            (f"x{TEMP_SUFFIX}", False),
            (".hidden", False),
            ("users.csv", False),
        ],
    )
    def test_is_temp_name(self, name, expected):
        """Only hidden names with our suffix are temp files."""
        assert expected == is_temp_name(name)


class TestAtomicWrite:
    def test_writes_new_file_and_leaves_no_temp_file(self, tmp_path):
        """A new file gets exactly the bytes; nothing else is left in the folder."""
        atomic_write_bytes(tmp_path / "a.bin", b"hello")

        assert (tmp_path / "a.bin").read_bytes() == b"hello"
        assert names(tmp_path) == ["a.bin"]

    def test_replaces_existing_file_by_rename(self, tmp_path):
        """An existing file is replaced by a new inode (a rename), never rewritten in place."""
        target = tmp_path / "a.bin"
        target.write_bytes(b"old content")
        before = target.stat().st_ino

        atomic_write_bytes(target, b"new")

        assert target.read_bytes() == b"new"
        assert target.stat().st_ino != before
        assert names(tmp_path) == ["a.bin"]

    def test_failure_leaves_no_temp_file_and_the_old_content(self, tmp_path):
        """When the final rename fails (the target is a non-empty folder), the temp file is removed."""
        target = tmp_path / "occupied"
        target.mkdir()
        (target / "inside").write_bytes(b"x")

        with pytest.raises(OSError, match="occupied"):
            atomic_write_bytes(target, b"new")

        assert names(tmp_path) == ["occupied"]
        assert names(target) == ["inside"]

    def test_missing_folder_raises_oserror(self, tmp_path):
        """Writing into a folder that does not exist is an OSError (nothing created)."""
        with pytest.raises(FileNotFoundError):
            atomic_write_bytes(tmp_path / "absent" / "a.bin", b"x")

        assert names(tmp_path) == []

    def test_json_is_indented_utf8_with_newline(self, tmp_path):
        """JSON documents are written indented, UTF-8 (not escaped), ending with a newline."""
        atomic_write_json(tmp_path / "m.json", {"name": "élèves.csv", "n": [1, 2]})

        text = (tmp_path / "m.json").read_text(encoding="utf-8")
        assert text.endswith("}\n")
        assert "élèves.csv" in text
        assert json.loads(text) == {"name": "élèves.csv", "n": [1, 2]}
        assert '\n  "n"' in text

    def test_fsync_dir_of_missing_folder_raises(self, tmp_path):
        """fsync_dir reports a missing folder as OSError."""
        with pytest.raises(FileNotFoundError):
            fsync_dir(tmp_path / "absent")


class TestCopyFileDurably:
    def test_copies_bytes_and_times(self, tmp_path):
        """The copy has the same bytes and mtime as the source, and the source stays."""
        source = tmp_path / "src.csv"
        source.write_bytes(BIG)
        os.utime(source, ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))
        target = tmp_path / "dst.csv"

        copy_file_durably(source, target)

        assert target.read_bytes() == BIG
        assert target.stat().st_mtime_ns == source.stat().st_mtime_ns
        assert names(tmp_path) == ["dst.csv", "src.csv"]

    def test_failed_rename_removes_the_partial_copy(self, tmp_path):
        """If the copy cannot be renamed into place, the hidden partial copy is removed."""
        source = tmp_path / "src.csv"
        source.write_bytes(b"data")
        target = tmp_path / "dst"
        target.mkdir()
        (target / "keep").write_bytes(b"")

        with pytest.raises(OSError, match="dst"):
            copy_file_durably(source, target)

        assert names(tmp_path) == ["dst", "src.csv"]


class TestMoveFile:
    def test_rename_on_one_filesystem(self, tmp_path):
        """On one filesystem the file is renamed: same inode, source gone."""
        source = tmp_path / "a" / "users.csv"
        source.parent.mkdir()
        source.write_bytes(b"data")
        inode = source.stat().st_ino
        target = tmp_path / "b" / "users.csv"
        target.parent.mkdir()

        move_file(source, target)

        assert not source.exists()
        assert target.read_bytes() == b"data"
        assert target.stat().st_ino == inode

    def test_refuses_to_overwrite(self, tmp_path):
        """An existing target is never overwritten; both files stay as they were."""
        source, target = tmp_path / "src", tmp_path / "dst"
        source.write_bytes(b"new")
        target.write_bytes(b"old")

        with pytest.raises(FileExistsError) as caught:
            move_file(source, target)

        assert caught.value.errno == errno.EEXIST
        assert (source.read_bytes(), target.read_bytes()) == (b"new", b"old")

    def test_refuses_to_overwrite_a_dangling_symlink(self, tmp_path):
        """A symlink at the target counts as existing even when it points nowhere."""
        source, target = tmp_path / "src", tmp_path / "dst"
        source.write_bytes(b"new")
        target.symlink_to(tmp_path / "nowhere")

        with pytest.raises(FileExistsError):
            move_file(source, target)

        assert target.is_symlink()
        assert source.exists()

    def test_missing_source_raises(self, tmp_path):
        """A source that vanished raises FileNotFoundError (not treated as cross-filesystem)."""
        with pytest.raises(FileNotFoundError):
            move_file(tmp_path / "absent", tmp_path / "dst")

        assert names(tmp_path) == []

    @pytest.mark.root
    def test_across_filesystems_copies_then_removes_the_source(self, tmp_path, tmpfs):
        """EXDEV: the file is copied to the other filesystem, in full, then the source is removed."""
        other = tmpfs(tmp_path / "other")
        source = tmp_path / "users.csv"
        source.write_bytes(BIG)
        os.utime(source, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
        target = other / "users.csv"

        move_file(source, target)

        assert not source.exists()
        assert target.read_bytes() == BIG
        assert target.stat().st_mtime_ns == 1_700_000_000_000_000_000
        assert names(other) == ["users.csv"]

    @pytest.mark.root
    def test_across_filesystems_when_the_target_is_full_keeps_the_source(self, tmp_path, tmpfs):
        """A copy that runs out of space leaves no partial file and the source untouched."""
        other = tmpfs(tmp_path / "small", "size=256k")
        source = tmp_path / "users.csv"
        source.write_bytes(BIG)

        with pytest.raises(OSError) as caught:
            move_file(source, other / "users.csv")

        assert caught.value.errno == errno.ENOSPC
        assert source.read_bytes() == BIG
        assert names(other) == []


class TestMoveDir:
    def make_tree(self, root: Path) -> Path:
        batch = root / "20261127T020000Z-3f9a1c"
        (batch / "nested").mkdir(parents=True)
        (batch / "users.csv").write_bytes(BIG)
        (batch / "nested" / "empty.csv").write_bytes(b"")
        (batch / "link").symlink_to("users.csv")
        return batch

    def assert_tree(self, batch: Path) -> None:
        assert (batch / "users.csv").read_bytes() == BIG
        assert (batch / "nested" / "empty.csv").read_bytes() == b""
        assert (batch / "link").is_symlink()
        assert (batch / "link").readlink() == Path("users.csv")

    def test_rename_on_one_filesystem(self, tmp_path):
        """On one filesystem the folder is renamed whole."""
        source = self.make_tree(tmp_path / "queue")
        (tmp_path / "done").mkdir()
        target = tmp_path / "done" / source.name

        move_dir(source, target)

        assert not source.exists()
        self.assert_tree(target)

    def test_refuses_to_overwrite(self, tmp_path):
        """An existing target folder is never replaced, even an empty one."""
        source = self.make_tree(tmp_path / "queue")
        target = tmp_path / "done" / source.name
        target.mkdir(parents=True)

        with pytest.raises(FileExistsError):
            move_dir(source, target)

        self.assert_tree(source)
        assert names(target) == []

    def test_missing_source_raises(self, tmp_path):
        """A source folder that is not there raises FileNotFoundError."""
        with pytest.raises(FileNotFoundError):
            move_dir(tmp_path / "absent", tmp_path / "target")

    @pytest.mark.root
    def test_across_filesystems_copies_the_tree_then_removes_the_source(self, tmp_path, tmpfs):
        """EXDEV: the whole tree (symlinks as symlinks) is copied, renamed into place, then the source goes."""
        source = self.make_tree(tmp_path / "queue")
        done = tmpfs(tmp_path / "done")
        target = done / source.name

        move_dir(source, target)

        assert not source.exists()
        assert names(tmp_path / "queue") == []
        self.assert_tree(target)
        assert names(done) == [source.name]

    @pytest.mark.root
    def test_across_filesystems_failure_leaves_no_partial_and_the_source(self, tmp_path, tmpfs):
        """A copy that fails half way (disk full) removes the hidden partial tree and keeps the source."""
        source = self.make_tree(tmp_path / "queue")
        done = tmpfs(tmp_path / "done", "size=256k")

        with pytest.raises(OSError):
            move_dir(source, done / source.name)

        self.assert_tree(source)
        assert names(done) == []

    @pytest.mark.root
    def test_across_filesystems_special_file_fails_cleanly(self, tmp_path, tmpfs):
        """A folder holding a FIFO cannot be copied: the error propagates and nothing is left behind."""
        source = tmp_path / "queue" / "batch"
        source.mkdir(parents=True)
        (source / "users.csv").write_bytes(b"data")
        os.mkfifo(source / "pipe")
        done = tmpfs(tmp_path / "done")

        with pytest.raises(OSError, match="pipe"):
            move_dir(source, done / "batch")

        assert names(source) == ["pipe", "users.csv"]
        assert names(done) == []


class TestRemoveTempFiles:
    def test_removes_only_temp_files_and_folders(self, tmp_path):
        """Hidden partial files and folders go; originals, other hidden files and nested temps stay."""
        (tmp_path / "users.csv").write_bytes(b"x")
        (tmp_path / ".hidden").write_bytes(b"x")
        stray_file = temp_path_for(tmp_path / "manifest.json")
        stray_file.write_bytes(b"half")
        stray_dir = temp_path_for(tmp_path / "batch")
        (stray_dir / "deep").mkdir(parents=True)
        (stray_dir / "deep" / "f").write_bytes(b"x")
        sub = tmp_path / "sub"
        sub.mkdir()
        nested = temp_path_for(sub / "x")
        nested.write_bytes(b"x")

        removed = remove_temp_files(tmp_path)

        assert sorted(removed) == sorted([stray_file, stray_dir])
        assert names(tmp_path) == [".hidden", "sub", "users.csv"]
        assert nested.exists()

    def test_removes_a_temp_named_symlink_not_its_target(self, tmp_path):
        """A temp-named symlink to a folder is unlinked; the folder it points at stays."""
        real = tmp_path / "real"
        real.mkdir()
        (real / "f").write_bytes(b"x")
        link = temp_path_for(tmp_path / "x")
        link.symlink_to(real)

        assert remove_temp_files(tmp_path) == [link]
        assert names(real) == ["f"]

    def test_missing_folder_is_nothing_to_do(self, tmp_path):
        """A folder that does not exist has no temp files."""
        assert remove_temp_files(tmp_path / "absent") == []

    def test_atomic_writes_leave_nothing_for_it(self, tmp_path):
        """After many atomic writes, there is nothing left to clean."""
        for index in range(20):
            atomic_write_bytes(tmp_path / "m.json", str(index).encode())

        assert remove_temp_files(tmp_path) == []
        assert temp_files(tmp_path) == []


class TestSnapshotWrites:
    """`durable=False`: whole for readers, but nothing waits on the disk (the status file)."""

    def test_a_snapshot_write_replaces_the_file_whole_without_any_fsync(self, tmp_path, monkeypatch):
        target = tmp_path / "status.json"
        target.write_text("old")
        synced: list[int] = []
        monkeypatch.setattr(os, "fsync", synced.append)
        atomic_write_json(target, {"activity": "idle"}, durable=False)
        assert {"activity": "idle"} == json.loads(target.read_text())
        assert [] == synced
        assert ["status.json"] == names(tmp_path)

    def test_a_durable_write_syncs_the_file_and_its_folder(self, tmp_path, monkeypatch):
        synced: list[int] = []
        real_fsync = os.fsync

        def counting(descriptor: int) -> None:
            synced.append(descriptor)
            real_fsync(descriptor)

        monkeypatch.setattr(os, "fsync", counting)
        atomic_write_json(tmp_path / "manifest.json", {"state": "queued"})
        assert 2 == len(synced)
