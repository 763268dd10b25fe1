"""Unit tests for `sis_watcher.pipeline.archive`: real zips, checked by Python's zipfile and by `unzip -t`."""

from __future__ import annotations

import hashlib
import os
import time
import zipfile
import zlib
from pathlib import Path

import pytest

from sis_watcher.core.durable import is_temp_name
from sis_watcher.core.errors import Stopping
from sis_watcher.pipeline.archive import CHUNK, ZippedMember, deflate_block, sha256_of, write_zip

USERS = b"user_id,login_id,status\n" + b"".join(
    f"u{index},login{index},active\n".encode() for index in range(5000)
)


def sources(folder: Path, files: dict[str, bytes]) -> list[tuple[str, Path]]:
    folder.mkdir(parents=True, exist_ok=True)
    members = []
    for index, (name, data) in enumerate(files.items()):
        path = folder / f"source-{index}"
        path.write_bytes(data)
        members.append((name, path))
    return members


def leftovers(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if is_temp_name(path.name))


class StopAfter:
    """A `should_stop` that turns true after it has been asked `calls` times (mid-zip)."""

    def __init__(self, calls: int) -> None:
        self.remaining = calls

    def __call__(self) -> bool:
        self.remaining -= 1
        return self.remaining < 0


class TestWriteZip:
    def test_zip_is_readable_by_zipfile_and_unzip(self, tmp_path, unzip_test):
        """Members come back byte for byte through zipfile, with right CRCs, and `unzip -t` is happy."""
        files = {
            "users.csv": USERS,
            "courses.csv": b"course_id,short_name,long_name,status\nC1,BIO,Biology,active\n",
            "big.csv": os.urandom(CHUNK + 12345),
        }
        target = tmp_path / "out" / "batch.zip"
        target.parent.mkdir()

        write_zip(sources(tmp_path / "src", files), target)

        with zipfile.ZipFile(target) as archive:
            assert archive.testzip() is None
            assert archive.namelist() == list(files)
            for info in archive.infolist():
                assert info.compress_type == zipfile.ZIP_DEFLATED
                assert info.file_size == len(files[info.filename])
                assert info.CRC == zlib.crc32(files[info.filename])
                assert archive.read(info) == files[info.filename]
        assert "No errors detected" in unzip_test(target)

    def test_result_describes_the_zip_and_its_members(self, tmp_path):
        """The result has the zip's size and sha256 and each member's sizes, CRC and sha256."""
        files = {"users.csv": USERS, "empty.csv": b""}
        target = tmp_path / "batch.zip"

        result = write_zip(sources(tmp_path / "src", files), target)

        assert result.path == target
        assert result.bytes == target.stat().st_size
        assert result.sha256 == hashlib.sha256(target.read_bytes()).hexdigest()
        with zipfile.ZipFile(target) as archive:
            compressed = {info.filename: info.compress_size for info in archive.infolist()}
        assert result.members == (
            ZippedMember(
                name="users.csv",
                bytes=len(USERS),
                compressed_bytes=compressed["users.csv"],
                crc32=zlib.crc32(USERS),
                sha256=hashlib.sha256(USERS).hexdigest(),
            ),
            ZippedMember(
                name="empty.csv",
                bytes=0,
                compressed_bytes=compressed["empty.csv"],
                crc32=0,
                sha256=hashlib.sha256(b"").hexdigest(),
            ),
        )
        assert result.members[0].compressed_bytes < len(USERS) // 3

    def test_utf8_names_and_folders_survive(self, tmp_path, unzip_test):
        """Non-ASCII names and paths inside the zip are stored as UTF-8 and read back as written."""
        files = {"élèves.csv": b"a\n1\n", "日本語/名簿.csv": b"b\n2\n", "sub/dir/x.csv": b"c\n"}
        target = tmp_path / "batch.zip"

        write_zip(sources(tmp_path / "src", files), target)

        with zipfile.ZipFile(target) as archive:
            assert archive.namelist() == list(files)
            assert all(info.flag_bits & 0x800 for info in archive.infolist())
            assert archive.read("日本語/名簿.csv") == b"b\n2\n"
        unzip_test(target)

    def test_empty_member(self, tmp_path, unzip_test):
        """A 0-byte file is a valid deflated member."""
        target = tmp_path / "batch.zip"

        write_zip(sources(tmp_path / "src", {"empty.csv": b""}), target)

        with zipfile.ZipFile(target) as archive:
            assert archive.read("empty.csv") == b""
            assert archive.testzip() is None
        unzip_test(target)

    def test_no_members_is_an_empty_zip(self, tmp_path):
        """Zipping nothing gives a valid empty archive."""
        target = tmp_path / "batch.zip"

        result = write_zip([], target)

        assert result.members == ()
        with zipfile.ZipFile(target) as archive:
            assert archive.namelist() == []

    def test_many_members(self, tmp_path, unzip_test):
        """Hundreds of members, deflated in parallel, keep their order and contents."""
        files = {f"part-{index:04d}.csv": f"id\n{index}\n".encode() * (index % 7) for index in range(400)}
        target = tmp_path / "batch.zip"

        result = write_zip(sources(tmp_path / "src", files), target, workers=4)

        assert [item.name for item in result.members] == list(files)
        with zipfile.ZipFile(target) as archive:
            assert archive.testzip() is None
            assert {name: archive.read(name) for name in archive.namelist()} == files
        assert "No errors detected" in unzip_test(target)

    def test_mode_and_time_of_sources_are_kept(self, tmp_path):
        """Each member carries its source's permission bits and (DOS-rounded) mtime."""
        members = sources(tmp_path / "src", {"users.csv": b"x\n"})
        members[0][1].chmod(0o640)
        os.utime(members[0][1], (1_790_000_000, 1_790_000_000))
        target = tmp_path / "batch.zip"

        write_zip(members, target)

        with zipfile.ZipFile(target) as archive:
            info = archive.getinfo("users.csv")
        assert info.external_attr >> 16 == 0o100640
        assert info.date_time == time.localtime(1_790_000_000)[:6]

    def test_target_is_replaced_atomically(self, tmp_path):
        """An existing zip is replaced by rename (new inode); no temp file is left beside it."""
        target = tmp_path / "batch.zip"
        target.write_bytes(b"an old zip")
        old_inode = target.stat().st_ino

        write_zip(sources(tmp_path / "src", {"users.csv": USERS}), target)

        assert target.stat().st_ino != old_inode
        with zipfile.ZipFile(target) as archive:
            assert archive.read("users.csv") == USERS
        assert leftovers(tmp_path) == []

    def test_stopping_before_deflate_leaves_nothing(self, tmp_path):
        """Shutdown before the first block raises Stopping, removes the partial zip, keeps the old target."""
        target = tmp_path / "batch.zip"
        target.write_bytes(b"old")

        with pytest.raises(Stopping):
            write_zip(
                sources(tmp_path / "src", {"a.csv": USERS, "b.csv": USERS}), target, should_stop=lambda: True
            )

        assert target.read_bytes() == b"old"
        assert leftovers(tmp_path) == []

    def test_stopping_in_the_middle_leaves_nothing(self, tmp_path):
        """Shutdown after some blocks of a member are written removes the partial zip."""
        target = tmp_path / "batch.zip"
        data = os.urandom(5 * 65536)

        with pytest.raises(Stopping, match="zip interrupted by shutdown"):
            write_zip(
                sources(tmp_path / "src", {"users.csv": data}),
                target,
                workers=1,
                block_size=65536,
                should_stop=StopAfter(3),
            )

        assert not target.exists()
        assert leftovers(tmp_path) == []

    def test_a_should_stop_that_stays_false_changes_nothing(self, tmp_path):
        """A stop check that never fires lets the zip complete."""
        target = tmp_path / "batch.zip"

        write_zip(sources(tmp_path / "src", {"users.csv": USERS}), target, should_stop=lambda: False)

        with zipfile.ZipFile(target) as archive:
            assert archive.read("users.csv") == USERS

    @pytest.mark.parametrize("block_size", [1, 1000, 65536, 1 << 22])
    @pytest.mark.parametrize("workers", [1, 3])
    def test_any_block_size_gives_one_valid_deflate_stream(self, tmp_path, block_size, workers):
        """Members cut into blocks deflated in parallel read back byte for byte, whatever the block size."""
        data = (USERS * 3)[:200_000] if block_size > 1 else USERS[:3000]
        target = tmp_path / "batch.zip"

        write_zip(
            sources(tmp_path / "src", {"users.csv": data}), target, workers=workers, block_size=block_size
        )

        with zipfile.ZipFile(target) as archive:
            assert archive.testzip() is None
            assert archive.read("users.csv") == data

    def test_blocks_share_a_window_so_the_zip_is_not_bigger(self, tmp_path):
        """Deflating in 64 KiB blocks with the previous block as dictionary costs almost nothing in size."""
        data = USERS * 20
        whole = tmp_path / "whole.zip"
        blocks = tmp_path / "blocks.zip"

        write_zip(sources(tmp_path / "a", {"u.csv": data}), whole, block_size=len(data) + 1)
        write_zip(sources(tmp_path / "b", {"u.csv": data}), blocks, block_size=65536)

        assert blocks.stat().st_size < whole.stat().st_size * 1.02

    def test_missing_source_raises_and_leaves_nothing(self, tmp_path):
        """A source that vanished is an OSError; the partial zip is removed."""
        members = sources(tmp_path / "src", {"a.csv": USERS})
        members.append(("gone.csv", tmp_path / "src" / "gone"))
        target = tmp_path / "batch.zip"

        with pytest.raises(FileNotFoundError):
            write_zip(members, target)

        assert not target.exists()
        assert leftovers(tmp_path) == []


class TestHelpers:
    def test_deflate_block_writes_raw_deflate_that_zlib_inflates(self):
        """A final block is standard raw DEFLATE; a block with a dictionary continues the stream."""
        first = deflate_block(USERS[:5000], dictionary=b"", final=False, level=5)
        second = deflate_block(
            USERS[5000:], dictionary=USERS[max(0, 5000 - 32768) : 5000], final=True, level=5
        )

        assert zlib.decompress(first + second, -15) == USERS

    def test_sha256_of_reads_in_chunks(self, tmp_path):
        """sha256_of agrees with hashlib on a file bigger than one chunk."""
        path = tmp_path / "f"
        data = os.urandom(CHUNK * 2 + 5)
        path.write_bytes(data)

        assert sha256_of(path) == hashlib.sha256(data).hexdigest()
