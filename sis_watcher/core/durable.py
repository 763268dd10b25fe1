"""
Writes and moves that survive a crash at any instant.

- `atomic_write_bytes`: temp file in the same folder, fsync, rename, fsync the folder. A reader
  sees the old content or the new, never half of it.
- `read_json_document`: the reading side of a small state file: every way it can be corrupt is
  one `DocumentUnreadable` naming it, so a bad file is an error to log, never a crash.
- `move_file` / `move_dir`: a rename where the filesystem allows; across filesystems (EXDEV)
  copy to a hidden `.partial` name, fsync, rename into place, fsync, then remove the source.
  Interrupted at any point, the destination is either absent, a hidden partial (removed by
  `remove_temp_files`), or complete, and the source is only removed once the copy is complete.

Every temporary name starts with `.` and ends with `TEMP_SUFFIX`, so no scan ever takes one.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

TEMP_SUFFIX = ".sis-watcher-partial"


def temp_path_for(path: Path) -> Path:
    """Return a hidden, unique temporary sibling of `path`."""
    return path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(3)}{TEMP_SUFFIX}")


def is_temp_name(name: str) -> bool:
    """Return True for names made by `temp_path_for`."""
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)


def fsync_dir(path: Path) -> None:
    """Flush a folder's entries (new names, renames) to disk."""
    descriptor = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@contextmanager
def replacing(path: Path, *, durable: bool = True) -> Iterator[BinaryIO]:
    """
    Yield a stream to a hidden temp file that replaces `path` (fsynced) when the block ends.

    If the block raises, the temp file is removed and `path` is untouched. `durable=False`
    skips both fsyncs: readers still never see a half-written file, but a power cut may lose
    the new version (right for a snapshot that is rewritten anyway, such as the status file).
    """
    temporary = temp_path_for(path)
    try:
        with temporary.open("xb") as stream:
            yield stream
            stream.flush()
            if durable:
                os.fsync(stream.fileno())
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(path.parent)


def atomic_write_bytes(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Replace `path` with `data` atomically (durably unless `durable=False`); raise OSError on failure."""
    with replacing(path, durable=durable) as stream:
        stream.write(data)


def atomic_write_json(path: Path, document: Any, *, durable: bool = True) -> None:
    """Write `document` as indented JSON to `path` atomically (and durably unless `durable=False`)."""
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    atomic_write_bytes(path, text.encode("utf-8"), durable=durable)


class DocumentUnreadable(Exception):
    """A JSON file exists but cannot be read or decoded; `path` names it, `problem` says why."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path} cannot be read: {problem}")
        self.path = path
        self.problem = problem


def read_json_document(path: Path) -> Any:
    """
    Return the JSON document in `path`; FileNotFoundError if it is absent.

    Every other failure (unreadable, not UTF-8, not JSON, nested too deep for the parser:
    `[[[[...` raises RecursionError) is one DocumentUnreadable naming the path.
    """
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise
    except (OSError, ValueError, RecursionError) as error:  # ValueError includes UnicodeDecodeError
        raise DocumentUnreadable(path, f"{error.__class__.__name__}: {error}"[:300]) from error


def copy_file_durably(source: Path, target: Path) -> None:
    """Copy `source` to `target` through a hidden temp name, fsynced, then renamed into place."""
    with replacing(target) as writer, source.open("rb") as reader:
        shutil.copyfileobj(reader, writer, 1 << 20)
        writer.flush()
        shutil.copystat(source, writer.name)


def moved_by_rename(source: Path, target: Path) -> bool:
    """
    Rename `source` to `target` durably; return False if they are on different filesystems.

    Raise FileExistsError if `target` exists (even as a dangling symlink), OSError otherwise.
    """
    if target.exists() or target.is_symlink():
        raise FileExistsError(errno.EEXIST, "refusing to overwrite", str(target))
    try:
        source.rename(target)
    except OSError as error:
        if error.errno != errno.EXDEV:
            raise
        return False
    fsync_dir(target.parent)
    fsync_dir(source.parent)
    return True


def move_file(source: Path, target: Path) -> None:
    """
    Move the file `source` to `target` (which must not exist), durably.

    A rename on one filesystem; copy, fsync, rename, unlink across filesystems.
    Raise FileExistsError if `target` exists, OSError on other failures.
    """
    if moved_by_rename(source, target):
        return
    copy_file_durably(source, target)
    source.unlink()
    fsync_dir(source.parent)


def copy_tree_durably(source: Path, target: Path) -> None:
    """Copy the folder `source` to a hidden partial name, fsync everything, rename it to `target`."""
    temporary = temp_path_for(target)
    try:
        shutil.copytree(source, temporary, symlinks=True)
        for path in sorted(temporary.rglob("*"), reverse=True):
            if path.is_symlink():
                continue
            if path.is_dir():
                fsync_dir(path)
            elif path.is_file():
                with path.open("rb") as stream:
                    os.fsync(stream.fileno())
        fsync_dir(temporary)
        temporary.rename(target)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    fsync_dir(target.parent)


def remove_dir(path: Path) -> None:
    """
    Remove a folder so that a crash half-way leaves nothing under its name.

    It is first renamed to a hidden temp name (which `remove_temp_files` finishes), then deleted.
    """
    doomed = temp_path_for(path)
    path.rename(doomed)
    fsync_dir(path.parent)
    shutil.rmtree(doomed)


def move_dir(source: Path, target: Path) -> None:
    """
    Move the folder `source` to `target` (which must not exist), durably.

    Across filesystems the tree is copied to a hidden partial name, fsynced, renamed into place,
    and only then is the source removed (via a hidden name, so a crash leaves no half of it).
    """
    if moved_by_rename(source, target):
        return
    copy_tree_durably(source, target)
    remove_dir(source)


def remove_temp_files(folder: Path) -> list[Path]:
    """Remove temp files and folders a crash left in `folder` (not recursive); return them."""
    removed: list[Path] = []
    try:
        entries = list(folder.iterdir())
    except FileNotFoundError:
        return removed
    for path in entries:
        if not is_temp_name(path.name):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed
