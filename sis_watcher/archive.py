"""
Zipping a batch: members deflated in parallel, streamed from disk, constant memory.

Python's `zipfile` can only use the stdlib's zlib, which deflates at about 35 MB/s. Canvas
needs nothing but standard DEFLATE members, so we write the zip container ourselves
(`zip_format`) around a faster deflate (ISA-L through `isal`, see DESIGN.md "Compression"),
one member per worker thread (the compressor releases the GIL). Each member is deflated into a
hidden temp file beside the target, then the members are concatenated into the zip, which is
written through a temp name and renamed into place: a crash never leaves a half zip under the
final name.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from isal import isal_zlib

from sis_watcher.durable import fsync_dir, temp_path_for
from sis_watcher.errors import Stopping
from sis_watcher.zip_format import MemberHeader, central_directory, local_header

CHUNK = 1 << 20
DEFAULT_LEVEL = 3


class Compressor(Protocol):
    def compress(self, data: bytes, /) -> bytes: ...
    def flush(self) -> bytes: ...


def isal_deflater(level: int = DEFAULT_LEVEL) -> Compressor:
    """Return a raw-DEFLATE compressor (ISA-L) at `level` (0-3)."""
    compressor: Compressor = isal_zlib.compressobj(level, isal_zlib.DEFLATED, -15)
    return compressor


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


@dataclass(frozen=True, slots=True, kw_only=True)
class Deflated:
    header: MemberHeader
    data_path: Path
    sha256: str


def check_stop(stopping: threading.Event | None) -> None:
    if stopping is not None and stopping.is_set():
        raise Stopping("zip interrupted by shutdown")


def deflate_member(
    source: Path,
    *,
    name: str,
    scratch: Path,
    make_compressor: Callable[[], Compressor],
    stopping: threading.Event | None,
) -> Deflated:
    """Deflate `source` into the temp file `scratch`; return its header facts and sha256."""
    compressor = make_compressor()
    digest = hashlib.sha256()
    crc = 0
    size = 0
    compressed = 0
    info = source.stat()
    with source.open("rb") as reader, scratch.open("xb") as writer:
        while chunk := reader.read(CHUNK):
            check_stop(stopping)
            digest.update(chunk)
            crc = isal_zlib.crc32(chunk, crc)
            size += len(chunk)
            out = compressor.compress(chunk)
            compressed += len(out)
            writer.write(out)
        tail = compressor.flush()
        compressed += len(tail)
        writer.write(tail)
    header = MemberHeader(
        name=name,
        crc32=crc,
        compressed_size=compressed,
        uncompressed_size=size,
        mtime=info.st_mtime,
        mode=info.st_mode & 0o777,
    )
    return Deflated(header=header, data_path=scratch, sha256=digest.hexdigest())


def write_zip(
    members: Sequence[tuple[str, Path]],
    target: Path,
    *,
    workers: int = 2,
    make_compressor: Callable[[], Compressor] = isal_deflater,
    stopping: threading.Event | None = None,
) -> ZipResult:
    """
    Zip `members` (name in the zip, source path) into `target`, replacing it atomically.

    Raise OSError on I/O failure and `Stopping` when `stopping` is set; temp files are removed
    either way and `target` is untouched.
    """
    scratches = [temp_path_for(target.with_name(f"{target.name}.{index}")) for index in range(len(members))]
    partial = temp_path_for(target)
    try:
        with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="deflate") as pool:
            futures = [
                pool.submit(
                    deflate_member,
                    source,
                    name=name,
                    scratch=scratch,
                    make_compressor=make_compressor,
                    stopping=stopping,
                )
                for (name, source), scratch in zip(members, scratches, strict=True)
            ]
            deflated = [future.result() for future in futures]
        digest, offsets = assemble(deflated, partial, stopping=stopping)
        partial.replace(target)
        fsync_dir(target.parent)
    finally:
        for scratch in scratches:
            scratch.unlink(missing_ok=True)
        partial.unlink(missing_ok=True)
    zipped = tuple(
        ZippedMember(
            name=item.header.name,
            bytes=item.header.uncompressed_size,
            compressed_bytes=item.header.compressed_size,
            crc32=item.header.crc32,
            sha256=item.sha256,
        )
        for item in deflated
    )
    return ZipResult(path=target, bytes=offsets, sha256=digest, members=zipped)


def assemble(
    deflated: Sequence[Deflated], partial: Path, *, stopping: threading.Event | None
) -> tuple[str, int]:
    """Write headers and deflated data into `partial`; return (sha256, total size)."""
    digest = hashlib.sha256()
    offset = 0
    placed: list[tuple[MemberHeader, int]] = []
    with partial.open("xb") as writer:

        def emit(data: bytes) -> None:
            nonlocal offset
            writer.write(data)
            digest.update(data)
            offset += len(data)

        for item in deflated:
            placed.append((item.header, offset))
            emit(local_header(item.header))
            with item.data_path.open("rb") as reader:
                while chunk := reader.read(CHUNK):
                    check_stop(stopping)
                    emit(chunk)
        emit(central_directory(placed, start=offset))
        writer.flush()
        os.fsync(writer.fileno())
    return digest.hexdigest(), offset


def sha256_of(path: Path) -> str:
    """Return the hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as reader:
        while chunk := reader.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
