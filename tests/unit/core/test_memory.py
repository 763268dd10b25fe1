"""Unit tests of `core.memory`: freed memory handed back on glibc, nothing done where there is no malloc_trim."""

from __future__ import annotations

import ctypes.util
import platform
from pathlib import Path

import pytest

from sis_watcher.core.memory import give_back_freed, trimmer


@pytest.fixture(autouse=True)
def fresh_lookup():
    trimmer.cache_clear()
    yield
    trimmer.cache_clear()


def rss_kib() -> int:
    with Path("/proc/self/status").open(encoding="ascii") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_freed_heap_memory_goes_back_to_the_system():
    """Many small blocks freed stay in glibc's heap until trimmed; then RSS falls by most of them."""
    blocks = [bytearray(100_000) for _ in range(400)]  # 40 MB below the mmap threshold: from the heap
    for block in blocks:
        block[::4096] = b"x" * len(block[::4096])  # touch every page
    keep = bytearray(50_000)  # from the heap after them: its top stays in use, so free() cannot shrink it
    del blocks
    before = rss_kib()

    assert give_back_freed() is True
    assert before - rss_kib() > 20_000
    assert keep == bytearray(50_000)


def test_a_library_that_cannot_be_loaded_changes_nothing(tmp_path):
    assert give_back_freed(str(tmp_path / "no-such-libc.so")) is False


def test_no_c_library_found_changes_nothing(monkeypatch):
    monkeypatch.setattr(ctypes.util, "find_library", lambda _name: None)
    assert give_back_freed() is False
