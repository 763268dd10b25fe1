"""Unit tests for `sis_watcher.pipeline.zip_format`: the bytes of the container, ZIP64 records included."""

from __future__ import annotations

import io
import struct
import time
import zipfile
import zlib

import pytest

from sis_watcher.pipeline.zip_format import (
    DEFLATED,
    LIMIT_16,
    LIMIT_32,
    UTF8_FLAG,
    MemberHeader,
    central_directory,
    central_entry,
    dos_time,
    local_header,
)

LOCAL = struct.Struct("<IHHHHHIIIHH")
CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
EOCD = struct.Struct("<IHHHHIIH")
ZIP64_EOCD = struct.Struct("<IQHHIIQQQQ")
ZIP64_LOCATOR = struct.Struct("<IIQI")
MTIME = time.mktime((2026, 11, 27, 2, 0, 10, 0, 0, -1))
BIG = LIMIT_32 + 10
HUGE_OFFSET = 6 * 2**30


def member(
    name: str = "users.csv", *, compressed: int = 10, uncompressed: int = 20, crc: int = 0x1234
) -> MemberHeader:
    return MemberHeader(
        name=name,
        crc32=crc,
        compressed_size=compressed,
        uncompressed_size=uncompressed,
        mtime=MTIME,
        mode=0o640,
    )


def extra_fields(extra: bytes) -> dict[int, bytes]:
    found = {}
    while extra:
        header_id, size = struct.unpack_from("<HH", extra)
        found[header_id] = extra[4 : 4 + size]
        extra = extra[4 + size :]
    return found


class TestDosTime:
    def test_encodes_local_time_in_two_second_steps(self):
        """Time and date are packed MS-DOS style from local time; seconds halve."""
        mod_time, mod_date = dos_time(MTIME)

        assert mod_time == (2 << 11) | (0 << 5) | 5
        assert mod_date == ((2026 - 1980) << 9) | (11 << 5) | 27

    def test_before_1980_is_clamped(self):
        """Times before the DOS epoch become 1980-01-01 00:00:00."""
        assert dos_time(0.0) == (0, (1 << 5) | 1)

    def test_after_2107_keeps_year_2107(self):
        """The year is capped at 2107, the last one DOS dates hold."""
        _mod_time, mod_date = dos_time(time.mktime((2150, 6, 1, 12, 0, 0, 0, 0, -1)))

        assert mod_date >> 9 == 2107 - 1980


class TestLocalHeader:
    def test_classic_header(self):
        """A small member gets a classic header: version 2.0, UTF-8 flag, DEFLATE, sizes, no extra."""
        data = local_header(member("élèves.csv"))
        fields = LOCAL.unpack_from(data)

        assert fields == (
            0x04034B50,
            20,
            UTF8_FLAG,
            DEFLATED,
            *dos_time(MTIME),
            0x1234,
            10,
            20,
            len("élèves.csv".encode()),
            0,
        )
        assert data[LOCAL.size :] == "élèves.csv".encode()

    @pytest.mark.parametrize(
        ("compressed", "uncompressed"),
        [(10, BIG), (BIG, BIG), (LIMIT_32, 5), (5, LIMIT_32)],
    )
    def test_zip64_header_carries_both_sizes(self, compressed, uncompressed):
        """A size at or over 4 GiB puts 0xFFFFFFFF in both size fields and both sizes in a ZIP64 extra."""
        data = local_header(member(compressed=compressed, uncompressed=uncompressed))
        fields = LOCAL.unpack_from(data)
        name_length, extra_length = fields[9], fields[10]
        extra = data[LOCAL.size + name_length :]

        assert fields[1] == 45
        assert (fields[7], fields[8]) == (LIMIT_32, LIMIT_32)
        assert extra_length == 20
        assert extra_fields(extra) == {0x0001: struct.pack("<QQ", uncompressed, compressed)}

    def test_needs_zip64(self):
        """needs_zip64 is true from 0xFFFFFFFF bytes on, either size."""
        assert not member(compressed=LIMIT_32 - 1, uncompressed=LIMIT_32 - 1).needs_zip64
        assert member(compressed=LIMIT_32, uncompressed=1).needs_zip64
        assert member(compressed=1, uncompressed=LIMIT_32).needs_zip64


class TestCentralEntry:
    def test_classic_entry(self):
        """A small member at a small offset has a classic entry with Unix mode bits."""
        data = central_entry(member(), 1234)
        fields = CENTRAL.unpack_from(data)

        assert fields == (
            0x02014B50,
            (3 << 8) | 45,
            20,
            UTF8_FLAG,
            DEFLATED,
            *dos_time(MTIME),
            0x1234,
            10,
            20,
            len(b"users.csv"),
            0,
            0,
            0,
            0,
            (0o100640) << 16,
            1234,
        )
        assert data[CENTRAL.size :] == b"users.csv"

    @pytest.mark.parametrize(
        ("compressed", "uncompressed", "offset", "expected"),
        [
            (10, BIG, 0, (BIG,)),
            (BIG + 1, 20, 0, (BIG + 1,)),
            (10, 20, HUGE_OFFSET, (HUGE_OFFSET,)),
            (BIG + 1, BIG, HUGE_OFFSET, (BIG, BIG + 1, HUGE_OFFSET)),
            (10, BIG, HUGE_OFFSET, (BIG, HUGE_OFFSET)),
            (10, 20, LIMIT_32, (LIMIT_32,)),
        ],
    )
    def test_zip64_extra_holds_only_the_overflowing_fields_in_order(
        self, compressed, uncompressed, offset, expected
    ):
        """Fields that overflow are 0xFFFFFFFF and appear in the extra as uncompressed, compressed, offset."""
        data = central_entry(member(compressed=compressed, uncompressed=uncompressed), offset)
        fields = CENTRAL.unpack_from(data)
        extra = data[CENTRAL.size + fields[10] :]

        assert fields[2] == 45
        assert fields[8] == (min(LIMIT_32, compressed))
        assert fields[9] == (min(LIMIT_32, uncompressed))
        assert fields[16] == (min(LIMIT_32, offset))
        assert fields[11] == 4 + 8 * len(expected)
        assert extra_fields(extra) == {0x0001: struct.pack(f"<{len(expected)}Q", *expected)}


class TestCentralDirectory:
    def test_small_archive_has_only_the_classic_end_record(self):
        """Few members at small offsets: entries, then a 22-byte end record, no ZIP64 records."""
        placed = [(member("a.csv"), 0), (member("b.csv"), 100)]
        entries = central_entry(placed[0][0], 0) + central_entry(placed[1][0], 100)

        data = central_directory(placed, start=200)

        assert data[: len(entries)] == entries
        assert len(data) == len(entries) + EOCD.size
        assert EOCD.unpack_from(data, len(entries)) == (0x06054B50, 0, 0, 2, 2, len(entries), 200, 0)

    def test_empty_archive(self):
        """No members: just the end record, which Python's zipfile reads as an empty zip."""
        data = central_directory([], start=0)

        assert data == EOCD.pack(0x06054B50, 0, 0, 0, 0, 0, 0, 0)
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            assert archive.namelist() == []

    def test_start_past_4gib_adds_zip64_end_records(self):
        """A central directory that starts past 4 GiB gets a ZIP64 end record and locator."""
        placed = [(member("a.csv", compressed=BIG, uncompressed=BIG + 5), 0), (member("b.csv"), HUGE_OFFSET)]
        start = HUGE_OFFSET + 100
        entries = b"".join(central_entry(item, offset) for item, offset in placed)

        data = central_directory(placed, start=start)

        zip64 = ZIP64_EOCD.unpack_from(data, len(entries))
        assert zip64 == (0x06064B50, 44, (3 << 8) | 45, 45, 0, 0, 2, 2, len(entries), start)
        locator = ZIP64_LOCATOR.unpack_from(data, len(entries) + ZIP64_EOCD.size)
        assert locator == (0x07064B50, 0, start + len(entries), 1)
        end = EOCD.unpack_from(data, len(entries) + ZIP64_EOCD.size + ZIP64_LOCATOR.size)
        assert end == (0x06054B50, 0, 0, 2, 2, len(entries), LIMIT_32, 0)
        assert len(data) == len(entries) + ZIP64_EOCD.size + ZIP64_LOCATOR.size + EOCD.size

    def test_more_than_65535_members_use_zip64_counts(self):
        """From 0xFFFF members on, the end record says 0xFFFF and the ZIP64 record has the real count."""
        count = LIMIT_16 + 10
        placed = [
            (member(f"m{index:06d}.csv", compressed=2, uncompressed=0, crc=0), index * 40)
            for index in range(count)
        ]
        start = count * 40

        data = central_directory(placed, start=start)

        size = sum(CENTRAL.size + len(f"m{index:06d}.csv") for index in range(count))
        zip64 = ZIP64_EOCD.unpack_from(data, size)
        assert (zip64[6], zip64[7], zip64[8], zip64[9]) == (count, count, size, start)
        end = EOCD.unpack_from(data, len(data) - EOCD.size)
        assert (end[3], end[4], end[5], end[6]) == (LIMIT_16, LIMIT_16, size, start)

    def test_exactly_65535_members_need_zip64(self):
        """0xFFFF itself is the "see ZIP64" marker, so 65535 members already need the ZIP64 record."""
        placed = [(member("x.csv"), 0)] * LIMIT_16

        data = central_directory(placed, start=0)

        assert struct.unpack_from(
            "<I", data, len(data) - EOCD.size - ZIP64_LOCATOR.size - ZIP64_EOCD.size
        ) == (0x06064B50,)

    def test_python_zipfile_reads_a_zip64_count_archive(self):
        """A real archive of 65,600 empty members, built from these records, opens in Python's zipfile."""
        count = LIMIT_16 + 65
        empty = zlib.compressobj(6, zlib.DEFLATED, -15)
        deflated_empty = empty.compress(b"") + empty.flush()
        body = io.BytesIO()
        placed = []
        for index in range(count):
            item = MemberHeader(
                name=f"d/{index:05d}.csv",
                crc32=0,
                compressed_size=len(deflated_empty),
                uncompressed_size=0,
                mtime=MTIME,
            )
            placed.append((item, body.tell()))
            body.write(local_header(item))
            body.write(deflated_empty)
        body.write(central_directory(placed, start=body.tell()))

        with zipfile.ZipFile(body) as archive:
            infos = archive.infolist()
            assert len(infos) == count
            assert infos[-1].filename == f"d/{count - 1:05d}.csv"
            assert archive.read(infos[-1]) == b""

    def test_unzip_tests_a_zip64_count_archive(self, tmp_path, unzip_test):
        """Info-ZIP's `unzip -t` accepts an archive whose member count needs ZIP64."""
        count = LIMIT_16 + 1
        empty = zlib.compressobj(6, zlib.DEFLATED, -15)
        deflated_empty = empty.compress(b"") + empty.flush()
        path = tmp_path / "many.zip"
        with path.open("wb") as body:
            placed = []
            for index in range(count):
                item = MemberHeader(
                    name=f"{index:05d}.csv",
                    crc32=0,
                    compressed_size=len(deflated_empty),
                    uncompressed_size=0,
                    mtime=MTIME,
                )
                placed.append((item, body.tell()))
                body.write(local_header(item))
                body.write(deflated_empty)
            body.write(central_directory(placed, start=body.tell()))

        output = unzip_test(path)

        assert "No errors detected" in output
