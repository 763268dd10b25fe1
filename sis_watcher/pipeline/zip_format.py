"""
The bytes of a ZIP container (PKWARE APPNOTE 6.3), for members deflated by us.

Only what a writer needs: local file headers with the sizes known up front (no data
descriptors), the central directory, and ZIP64 records when a size, an offset or the member
count does not fit the classic fields. Names are flagged UTF-8 (bit 11).
"""

from __future__ import annotations

import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass

DEFLATED = 8
UTF8_FLAG = 0x0800
VERSION_ZIP64 = 45
VERSION_DEFLATE = 20
MADE_BY_UNIX = 3 << 8
LIMIT_32 = 0xFFFFFFFF
LIMIT_16 = 0xFFFF


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberHeader:
    name: str
    crc32: int
    compressed_size: int
    uncompressed_size: int
    mtime: float
    mode: int = 0o644

    @property
    def needs_zip64(self) -> bool:
        return self.compressed_size >= LIMIT_32 or self.uncompressed_size >= LIMIT_32


def dos_time(mtime: float) -> tuple[int, int]:
    """Return (time, date) in MS-DOS format, local time, clamped to 1980..2107."""
    year, month, day, hour, minute, second, *_ = time.localtime(mtime)
    if year < 1980:
        year, month, day, hour, minute, second = 1980, 1, 1, 0, 0, 0
    year = min(year, 2107)
    return (hour << 11) | (minute << 5) | (second // 2), ((year - 1980) << 9) | (month << 5) | day


def shared_fields(member: MemberHeader) -> tuple[int, int, int, int, int]:
    """Return the fields both headers of a member carry alike: flags, method, time, date, CRC."""
    mod_time, mod_date = dos_time(member.mtime)
    return UTF8_FLAG, DEFLATED, mod_time, mod_date, member.crc32


def local_header(member: MemberHeader, *, zip64: bool = False) -> bytes:
    """
    Return the local file header for `member`.

    It has a ZIP64 extra field when the sizes need one, or when `zip64` says so: a header
    written before the sizes are known must keep its length when it is rewritten with them.
    """
    name = member.name.encode("utf-8")
    if member.needs_zip64 or zip64:
        extra = struct.pack("<HHQQ", 0x0001, 16, member.uncompressed_size, member.compressed_size)
        sizes = (LIMIT_32, LIMIT_32)
        version = VERSION_ZIP64
    else:
        extra = b""
        sizes = (member.compressed_size, member.uncompressed_size)
        version = VERSION_DEFLATE
    return (
        struct.pack(
            "<IHHHHHIIIHH",
            0x04034B50,
            version,
            *shared_fields(member),
            *sizes,
            len(name),
            len(extra),
        )
        + name
        + extra
    )


def central_entry(member: MemberHeader, offset: int) -> bytes:
    """Return the central directory entry of `member`, whose local header is at `offset`."""
    name = member.name.encode("utf-8")
    fields: list[int] = []
    uncompressed, compressed, local_offset = member.uncompressed_size, member.compressed_size, offset
    if uncompressed >= LIMIT_32:
        fields.append(uncompressed)
        uncompressed = LIMIT_32
    if compressed >= LIMIT_32:
        fields.append(compressed)
        compressed = LIMIT_32
    if local_offset >= LIMIT_32:
        fields.append(local_offset)
        local_offset = LIMIT_32
    extra = struct.pack(f"<HH{len(fields)}Q", 0x0001, 8 * len(fields), *fields) if fields else b""
    version = VERSION_ZIP64 if fields else VERSION_DEFLATE
    return (
        struct.pack(
            "<IHHHHHHIIIHHHHHII",
            0x02014B50,
            MADE_BY_UNIX | VERSION_ZIP64,
            version,
            *shared_fields(member),
            compressed,
            uncompressed,
            len(name),
            len(extra),
            0,
            0,
            0,
            (0o100000 | member.mode) << 16,
            local_offset,
        )
        + name
        + extra
    )


def central_directory(placed: Sequence[tuple[MemberHeader, int]], *, start: int) -> bytes:
    """Return the central directory and end records for members placed at the given offsets."""
    entries = b"".join(central_entry(member, offset) for member, offset in placed)
    count, size = len(placed), len(entries)
    tail = b""
    if count >= LIMIT_16 or size >= LIMIT_32 or start >= LIMIT_32:
        zip64_end_offset = start + size
        tail += struct.pack(
            "<IQHHIIQQQQ",
            0x06064B50,
            44,
            MADE_BY_UNIX | VERSION_ZIP64,
            VERSION_ZIP64,
            0,
            0,
            count,
            count,
            size,
            start,
        )
        tail += struct.pack("<IIQI", 0x07064B50, 0, zip64_end_offset, 1)
        count16, size32, start32 = min(count, LIMIT_16), min(size, LIMIT_32), min(start, LIMIT_32)
    else:
        count16, size32, start32 = count, size, start
    tail += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count16, count16, size32, start32, 0)
    return entries + tail
