"""Fixtures for the validator's tests: the corpora and zip and file factories."""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from unit.validation.helpers import BROKEN, SAMPLES

Member = tuple[str | zipfile.ZipInfo, bytes]


@pytest.fixture
def samples_dir() -> Path:
    return SAMPLES


@pytest.fixture
def broken_dir() -> Path:
    return BROKEN


@pytest.fixture
def make_zip(tmp_path: Path) -> Callable[..., Path]:
    """Return a factory writing a zip of (name or ZipInfo, bytes) members into tmp_path."""

    def make(
        members: Iterable[Member], *, name: str = "batch.zip", compression: int = zipfile.ZIP_DEFLATED
    ) -> Path:
        path = tmp_path / name
        with zipfile.ZipFile(path, "w", compression=compression) as archive:
            for member, data in members:
                archive.writestr(member, data)
        return path

    return make


@pytest.fixture
def write_file(tmp_path: Path) -> Callable[[str, bytes], Path]:
    """Return a factory writing bytes to a named file in tmp_path."""

    def write(name: str, data: bytes) -> Path:
        path = tmp_path / name
        path.write_bytes(data)
        return path

    return write
