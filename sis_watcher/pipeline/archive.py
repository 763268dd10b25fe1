"""
Zipping a batch: streamed from disk, deflated on every core, in constant memory.

Python's `zipfile` can only use the stdlib's zlib, one thread at a time. Canvas needs nothing
but standard DEFLATE members, so we write the zip container ourselves (`zip_format`) around
zlib-ng, and deflate each member the way pigz does: the file is cut into blocks, each block is
deflated by a worker thread (zlib-ng releases the GIL) with the previous block's last 32 KiB as
its dictionary, non-final blocks end with a sync flush, and the pieces are written in order.
The result is one ordinary deflate stream per member, as small as a sequential one to within a
fraction of a percent. At level 5 on realistic SIS exports it is smaller than `zip -6`'s and
about 2.5 times faster per core (README, "Performance").

Memory is bounded by `workers + 1` blocks of 2 MiB in flight. Each member's local header is written with
its sizes left blank and patched once the member is written, so nothing is written twice. The
zip goes to a hidden temp name and is renamed into place: a crash never leaves half a zip
under the final name.
"""

from __future__ import annotations

import hashlib
import os
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from zlib_ng import zlib_ng

from sis_watcher.core.durable import fsync_dir, temp_path_for
from sis_watcher.core.errors import Stopping
from sis_watcher.pipeline.zip_format import LIMIT_32, MemberHeader, central_directory, local_header

CHUNK = 1 << 20
BLOCK = 2 << 20
DICTIONARY = 32 << 10
DEFAULT_LEVEL = 5


@dataclass(frozen=True, slots=True, kw_only=True)
class ZippedMember:
    name: str
    bytes: int
    compressed_bytes: int
    crc32: int
    sha256: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ZipResult:
    path: Path
    bytes: int
    sha256: str
    members: tuple[ZippedMember, ...]


def deflate_block(block: bytes, *, dictionary: bytes, final: bool, level: int) -> bytes:
    """Deflate one block as part of a larger raw deflate stream (pigz's scheme)."""
    if dictionary:
        compressor = zlib_ng.compressobj(
            level, zlib_ng.DEFLATED, -15, 8, zlib_ng.Z_DEFAULT_STRATEGY, dictionary
        )
    else:
        compressor = zlib_ng.compressobj(level, zlib_ng.DEFLATED, -15)
    return compressor.compress(block) + compressor.flush(zlib_ng.Z_FINISH if final else zlib_ng.Z_SYNC_FLUSH)


@dataclass(slots=True)
class MemberWriter:
    """Streams one source file, deflated block by block on `pool`, into `out`."""

    pool: ThreadPoolExecutor
    out: BinaryIO
    level: int
    window: int
    block_size: int
    should_stop: Callable[[], bool]

    def write(self, source: BinaryIO) -> tuple[int, int, int, str]:
        """Return (crc32, compressed size, uncompressed size, sha256) of what was written."""
        pending: deque[Future[bytes]] = deque()
        digest = hashlib.sha256()
        crc = 0
        size = 0
        compressed = 0
        dictionary = b""
        block = source.read(self.block_size)
        while True:
            if self.should_stop():
                raise Stopping("zip interrupted by shutdown")
            following = source.read(self.block_size) if block else b""
            final = not following
            crc = zlib_ng.crc32(block, crc)
            digest.update(block)
            size += len(block)
            pending.append(
                self.pool.submit(deflate_block, block, dictionary=dictionary, final=final, level=self.level)
            )
            dictionary = block[-DICTIONARY:]
            while pending and (final or len(pending) >= self.window):
                piece = pending.popleft().result()
                self.out.write(piece)
                compressed += len(piece)
            if final:
                return crc, compressed, size, digest.hexdigest()
            block = following


def write_zip(
    members: Sequence[tuple[str, Path]],
    target: Path,
    *,
    workers: int = 2,
    level: int = DEFAULT_LEVEL,
    block_size: int = BLOCK,
    should_stop: Callable[[], bool] = lambda: False,
) -> ZipResult:
    """
    Zip `members` (name in the zip, source path) into `target`, replacing it atomically.

    Raise OSError on I/O failure and `Stopping` when `should_stop()` turns true; the partial
    zip is removed either way and `target` is untouched.
    """
    partial = temp_path_for(target)
    placed: list[tuple[MemberHeader, int]] = []
    zipped: list[ZippedMember] = []
    try:
        with (
            partial.open("xb") as out,
            ThreadPoolExecutor(max(1, workers), thread_name_prefix="deflate") as pool,
        ):
            writer = MemberWriter(pool, out, level, max(2, workers + 1), block_size, should_stop)
            for name, source in members:
                header, member = add_member(out, writer, name, source)
                placed.append(header)
                zipped.append(member)
            out.write(central_directory(placed, start=out.tell()))
            out.flush()
            os.fsync(out.fileno())
        partial.replace(target)
        fsync_dir(target.parent)
    finally:
        partial.unlink(missing_ok=True)
    return ZipResult(
        path=target, bytes=target.stat().st_size, sha256=sha256_of(target), members=tuple(zipped)
    )


def add_member(
    out: BinaryIO, writer: MemberWriter, name: str, source: Path
) -> tuple[tuple[MemberHeader, int], ZippedMember]:
    """Write one member (header, data, patched header); return its placement and facts."""
    offset = out.tell()
    info = source.stat()
    zip64 = info.st_size >= LIMIT_32 - (LIMIT_32 >> 4)
    blank = MemberHeader(name=name, crc32=0, compressed_size=0, uncompressed_size=0, mtime=info.st_mtime)
    out.write(local_header(blank, zip64=zip64))
    with source.open("rb") as reader:
        crc, compressed, size, digest = writer.write(reader)
    header = MemberHeader(
        name=name,
        crc32=crc,
        compressed_size=compressed,
        uncompressed_size=size,
        mtime=info.st_mtime,
        mode=info.st_mode & 0o777,
    )
    end = out.tell()
    out.seek(offset)
    out.write(local_header(header, zip64=zip64))
    out.seek(end)
    member = ZippedMember(name=name, bytes=size, compressed_bytes=compressed, crc32=crc, sha256=digest)
    return (header, offset), member


def sha256_of(path: Path) -> str:
    """Return the hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as reader:
        while chunk := reader.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
