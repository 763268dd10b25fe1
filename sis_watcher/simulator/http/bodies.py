"""
Request bodies, streamed: raw (Content-Length or chunked) and multipart/form-data.

Bodies go to disk in `CHUNK`-sized pieces while their sha256 is computed, so a 1 GB upload
uses constant memory. Form fields other than the file are kept in memory, capped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import BinaryIO, Protocol

CHUNK = 1 << 20
MAX_FIELD_BYTES = 64 * 1024
MAX_HEADER_BYTES = 16 * 1024


class Readable(Protocol):
    """What the body readers need of a request stream."""

    def read(self, size: int = -1, /) -> bytes: ...

    def readline(self, size: int = -1, /) -> bytes: ...


class BadBody(Exception):
    """The body does not follow its framing (chunked or multipart) and cannot be read."""


def iter_body(
    rfile: Readable, *, content_length: str | None, transfer_encoding: str | None
) -> Iterator[bytes]:
    """Yield the request body in pieces of at most `CHUNK` bytes; raise BadBody on bad framing."""
    if transfer_encoding and "chunked" in transfer_encoding.lower():
        yield from iter_chunked(rfile)
        return
    try:
        remaining = int(content_length or 0)
    except ValueError:
        raise BadBody("Content-Length is not a number") from None
    yield from iter_exactly(rfile, remaining, short="the body ended before Content-Length")


def iter_exactly(rfile: Readable, size: int, *, short: str) -> Iterator[bytes]:
    """Yield exactly `size` bytes in pieces of at most `CHUNK`; raise BadBody(`short`) if they end early."""
    while size > 0:
        data = rfile.read(min(CHUNK, size))
        if not data:
            raise BadBody(short)
        size -= len(data)
        yield data


def iter_chunked(rfile: Readable) -> Iterator[bytes]:
    """Yield the data of a chunked body, consuming its trailer."""
    while True:
        line = rfile.readline(MAX_HEADER_BYTES)
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise BadBody("bad chunk size line") from None
        if size == 0:
            while rfile.readline(MAX_HEADER_BYTES) not in (b"\r\n", b"\n", b""):
                pass
            return
        yield from iter_exactly(rfile, size, short="the body ended inside a chunk")
        rfile.readline(MAX_HEADER_BYTES)


@dataclass(slots=True)
class HashingFile:
    """A file being written with its size and sha256 kept up to date."""

    path: Path
    handle: BinaryIO
    digest: hashlib._Hash = field(default_factory=hashlib.sha256)
    size: int = 0

    def write(self, data: bytes) -> None:
        self.handle.write(data)
        self.digest.update(data)
        self.size += len(data)


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredFile:
    """A body or form file written to disk."""

    path: Path
    size: int
    sha256: str
    file_name: str | None = None
    content_type: str | None = None


def store(chunks: Iterator[bytes], path: Path) -> StoredFile:
    """Write `chunks` to `path`; return its size and sha256."""
    with path.open("wb") as handle:
        sink = HashingFile(path, handle)
        for chunk in chunks:
            sink.write(chunk)
    return StoredFile(path=path, size=sink.size, sha256=sink.digest.hexdigest())


def drain(chunks: Iterator[bytes]) -> None:
    """Read a body to its end and throw it away."""
    for _ in chunks:
        pass


@dataclass(slots=True)
class Multipart:
    """The text fields and the `attachment` file of a multipart/form-data body."""

    fields: dict[str, str] = field(default_factory=dict)
    attachment: StoredFile | None = None


def parse_part_headers(raw: bytes) -> Message:
    """Parse a part's header block."""
    return BytesHeaderParser().parsebytes(raw)


def parse_multipart(chunks: Iterator[bytes], *, boundary: str, attachment_path: Path) -> Multipart:
    """
    Read a multipart/form-data body, streaming the `attachment` field's file to `attachment_path`.

    Other file fields are discarded; text fields are kept (at most 64 KiB each). Raise BadBody when
    the body is not valid multipart.
    """
    reader = PartReader(chunks, boundary.encode("latin-1"))
    result = Multipart()
    for headers in reader.parts():
        name = headers.get_param("name", header="content-disposition")
        file_name = headers.get_filename()
        if name == "attachment" and file_name is not None and result.attachment is None:
            with attachment_path.open("wb") as handle:
                sink = HashingFile(attachment_path, handle)
                reader.copy_part(sink.write)
            result.attachment = StoredFile(
                path=attachment_path,
                size=sink.size,
                sha256=sink.digest.hexdigest(),
                file_name=file_name,
                content_type=headers.get_content_type(),
            )
        elif isinstance(name, str) and file_name is None:
            collected = Capped()
            reader.copy_part(collected.write)
            result.fields[name] = collected.data.decode("utf-8", errors="replace")
        else:
            reader.copy_part(lambda _data: None)
    return result


@dataclass(slots=True)
class Capped:
    """A form field's value, kept up to `MAX_FIELD_BYTES`."""

    data: bytearray = field(default_factory=bytearray)

    def write(self, chunk: bytes) -> None:
        self.data.extend(chunk[: MAX_FIELD_BYTES - len(self.data)])


class PartReader:
    """A streaming splitter of multipart bodies on `--boundary` lines."""

    def __init__(self, chunks: Iterator[bytes], boundary: bytes) -> None:
        self.chunks = chunks
        self.delimiter = b"\r\n--" + boundary
        self.buffer = b"\r\n"
        self.finished = False

    def fill(self) -> bool:
        """Append the next chunk to the buffer; return False at the end of the body."""
        chunk = next(self.chunks, None)
        if chunk is None:
            return False
        self.buffer += chunk
        return True

    def parts(self) -> Iterator[Message]:
        """Yield each part's headers; the caller must consume the part with `copy_part`."""
        self.copy_part(lambda _data: None)  # the preamble
        while not self.finished:
            while len(self.buffer) < 2 and self.fill():
                pass
            if self.buffer.startswith(b"--"):
                self.finished = True
                return
            end = self.buffer.find(b"\r\n\r\n")
            while end < 0:
                if len(self.buffer) > MAX_HEADER_BYTES or not self.fill():
                    raise BadBody("a part has no end of headers")
                end = self.buffer.find(b"\r\n\r\n")
            raw, self.buffer = self.buffer[2:end], self.buffer[end + 4 :]
            yield parse_part_headers(raw + b"\r\n\r\n")

    def copy_part(self, write: Callable[[bytes], object]) -> None:
        """Pass the current part's data to `write`, leaving the buffer after its delimiter."""
        keep = len(self.delimiter) - 1
        while True:
            found = self.buffer.find(self.delimiter)
            if found >= 0:
                write(self.buffer[:found])
                self.buffer = self.buffer[found + len(self.delimiter) :]
                return
            if len(self.buffer) > keep:
                write(self.buffer[:-keep])
                self.buffer = self.buffer[-keep:]
            if not self.fill():
                raise BadBody("the body ended before the closing boundary")
