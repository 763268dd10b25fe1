"""
Every way an export arrives, with both observers: the daemon takes each file whole, once.

A matrix of writer (cp of a large file, mv on one filesystem, mv from another filesystem,
rsync's hidden temp file then rename, slow chunked writes, truncate and rewrite in place, the
same names again the next night) by observer (inotify, polling). `sis-watcher run` is a
subprocess; the simulator's upload record proves every row of every file arrived exactly once.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from support import wait_until

Writer = Callable[[Path, Path, dict[str, bytes]], None]


def enrollments(rows: int, seed: str) -> bytes:
    lines = [f"C{index % 97},{seed}-u{index},student,active\n" for index in range(rows)]
    return ("course_id,user_id,role,status\n" + "".join(lines)).encode()


def users(rows: int, seed: str) -> bytes:
    lines = [f"{seed}-u{index},{seed}-login{index},active\n" for index in range(rows)]
    return ("user_id,login_id,status\n" + "".join(lines)).encode()


def write_cp(drop: Path, scratch: Path, files: dict[str, bytes]) -> None:
    """`cp` from a staging folder (large files: the copy is visible while it grows)."""
    for name, data in files.items():
        source = scratch / name
        source.write_bytes(data)
        subprocess.run(["cp", str(source), str(drop / name)], check=True)


def write_mv_same_fs(drop: Path, scratch: Path, files: dict[str, bytes]) -> None:
    """`mv` on the same filesystem: an atomic rename."""
    for name, data in files.items():
        source = scratch / name
        source.write_bytes(data)
        subprocess.run(["mv", str(source), str(drop / name)], check=True)


def write_mv_other_fs(drop: Path, scratch: Path, files: dict[str, bytes]) -> None:
    """`mv` from /dev/shm (another filesystem): copied under the final name, then unlinked."""
    staging = Path("/dev/shm") / f"sis-watcher-test-{os.getpid()}-{time.monotonic_ns()}"
    staging.mkdir()
    try:
        for name, data in files.items():
            (staging / name).write_bytes(data)
            subprocess.run(["mv", str(staging / name), str(drop / name)], check=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_rsync(drop: Path, scratch: Path, files: dict[str, bytes]) -> None:
    """rsync: writes a hidden temp file in the destination, then renames it."""
    for name, data in files.items():
        (scratch / name).write_bytes(data)
    subprocess.run(["rsync", "-a", f"{scratch}/", f"{drop}/"], check=True)


def write_slowly(drop: Path, scratch: Path, files: dict[str, bytes]) -> None:
    """A slow exporter: chunks with pauses shorter than the settle time, under the final name."""
    for name, data in files.items():
        with (drop / name).open("wb") as stream:
            step = max(1, len(data) // 8)
            for start in range(0, len(data), step):
                stream.write(data[start : start + step])
                stream.flush()
                time.sleep(0.1)  # the writer's own pace, shorter than settle_seconds


def write_truncate_rewrite(drop: Path, scratch: Path, files: dict[str, bytes]) -> None:
    """A file first written half, then truncated and rewritten in place with the full export."""
    for name, data in files.items():
        path = drop / name
        path.write_bytes(data[: len(data) // 2])
        time.sleep(0.1)  # shorter than settle_seconds: the half file must never be taken
        with path.open("r+b") as stream:
            stream.truncate(0)
            stream.write(data)


WRITERS: dict[str, Writer] = {
    "cp": write_cp,
    "mv-same-fs": write_mv_same_fs,
    "mv-other-fs": write_mv_other_fs,
    "rsync": write_rsync,
    "slow-chunks": write_slowly,
    "truncate-rewrite": write_truncate_rewrite,
}


def uploaded_rows(canvas) -> dict[str, int]:
    """Return {member sha256: number of times it was uploaded}."""
    counts: dict[str, int] = {}
    for upload in canvas.uploads:
        for member in upload.members:
            counts[member.sha256] = counts.get(member.sha256, 0) + 1
    return counts


@pytest.mark.parametrize("polling", [False, True], ids=["inotify", "polling"])
@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_every_writer_delivers_every_row_exactly_once(tree, canvas, service, tmp_path, writer, polling):
    """Whatever the writer and the observer, each file is taken whole and uploaded exactly once."""
    if writer == "rsync" and shutil.which("rsync") is None:
        pytest.fail("rsync is not installed (.ci/run installs it)")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    large = writer in ("cp", "mv-other-fs")
    files = {
        "users.csv": users(200_000 if large else 500, writer),
        "enrollments.csv": enrollments(300_000 if large else 800, writer),
    }
    config = tree.write_config(
        canvas.url,
        intake={"polling": polling, "settle_seconds": 0.5, "quiet_seconds": 1.0, "rescan_seconds": 30},
    )
    running = service(config)
    running.wait_for_event("daemon.started")

    WRITERS[writer](tree.drop, scratch, files)
    wait_until(lambda: tree.batches("done"), timeout=60, what="a batch in done/")

    expected = {hashlib.sha256(data).hexdigest(): 1 for data in files.values()}
    assert expected == uploaded_rows(canvas)
    rows = {member.name: member.rows for upload in canvas.uploads for member in upload.members}
    assert {name: data.count(b"\n") - 1 for name, data in files.items()} == rows
    assert 1 == len(canvas.uploads)
    assert 0 == running.stop()


def test_the_same_names_every_night_make_separate_batches(tree, canvas, service):
    """Two nights' exports with the same file names become two batches, neither overwriting the other."""
    config = tree.write_config(canvas.url)
    running = service(config)
    running.wait_for_event("daemon.started")
    nights = [{"users.csv": users(50, f"night{night}")} for night in (1, 2)]

    for night, files in enumerate(nights, start=1):
        for name, data in files.items():
            temporary = tree.drop / f".{name}.tmp"
            temporary.write_bytes(data)
            temporary.rename(tree.drop / name)
        expected = night
        wait_until(lambda: len(tree.batches("done")) >= expected, timeout=30, what=f"night {night} done")  # noqa: B023

    done = tree.batches("done")
    assert [nights[0]["users.csv"], nights[1]["users.csv"]] == [
        (batch / "users.csv").read_bytes() for batch in done
    ]
    assert 2 == len(canvas.uploads)
    assert 0 == running.stop()
