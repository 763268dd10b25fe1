"""Fixtures for the unit tests: real folders under `tmp_path`, tmpfs mounts, clean logging."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sis_watcher.config.settings import FolderSettings


@pytest.fixture
def folders(tmp_path: Path) -> FolderSettings:
    """The four folders of a config, all created, under one temporary root (one filesystem)."""
    settings = FolderSettings(
        drop=tmp_path / "drop",
        queue=tmp_path / "state" / "queue",
        done=tmp_path / "state" / "done",
        failed=tmp_path / "state" / "failed",
    )
    for path in (settings.drop, settings.queue, settings.done, settings.failed):
        path.mkdir(parents=True)
    return settings


@pytest.fixture
def tmpfs() -> Iterator[Callable[..., Path]]:
    """Mount a tmpfs on a folder (a second filesystem, for EXDEV); every mount is undone."""
    if os.geteuid() != 0:  # pragma: no cover - CI runs as root
        pytest.fail("mounting a tmpfs needs root (CI runs as root)")
    if shutil.which("mount") is None:  # pragma: no cover - util-linux is in every CI image
        pytest.fail("`mount` is not installed: install util-linux to run the cross-filesystem tests")
    mounted: list[Path] = []

    def mount(path: Path, *options: str) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        arguments = ["mount", "-t", "tmpfs"]
        if options:
            arguments += ["-o", ",".join(options)]
        subprocess.run([*arguments, "tmpfs", str(path)], check=True, capture_output=True)
        mounted.append(path)
        return path

    yield mount
    for path in reversed(mounted):
        subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


@pytest.fixture
def restore_stdlib_logging() -> Iterator[None]:
    """Put the root logger's handlers and the third-party levels back after `logs.configure`."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in ("httpx", "httpcore", "watchdog")}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, saved in levels.items():
        logging.getLogger(name).setLevel(saved)


@pytest.fixture
def unzip_test() -> Callable[[Path], str]:
    """Run Debian's `unzip -t` on a zip; fail clearly if the tool is missing or the zip is bad."""
    program = shutil.which("unzip")
    if program is None:  # pragma: no cover - the CI image installs unzip
        pytest.fail("`unzip` is not installed: `apt-get install unzip` (the zip tests check with it)")

    def check(path: Path) -> str:
        result = subprocess.run([program, "-t", str(path)], capture_output=True, text=True, check=False)
        assert result.returncode == 0, f"unzip -t {path} failed:\n{result.stdout}\n{result.stderr}"
        return result.stdout

    return check
