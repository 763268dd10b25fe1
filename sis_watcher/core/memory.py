"""
Give the memory a finished step freed back to the system (glibc's `malloc_trim`).

glibc serves a request of 128 KiB or more with its own `mmap`, unmapped on free, but raises that
threshold to the size of each such block freed (up to 32 MiB): after the first 4 MiB read
buffer, later ones come from the heap, which is fast but keeps what it held. On a night of 2M
rows the daemon so kept 40 to 50 MB it had finished with (validation's and the preview's
blocks, the ledger's fingerprint arrays) into the next step, and peaked at 166 MB in the apply.
`malloc_trim(0)` after the steps that read a whole batch hands those pages back in a few
milliseconds. (Fixing the threshold at 1 MiB instead did as well for memory but cost 0.8 s of
page faults on the same night: README "Performance".)

Only glibc has `malloc_trim`; elsewhere (musl, macOS) nothing is done.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable
from functools import cache


@cache
def trimmer(library: str | None) -> Callable[[int], int] | None:
    """Return the C library's `malloc_trim`, or None where there is none."""
    name = library if library is not None else ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        malloc_trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    malloc_trim.argtypes = [ctypes.c_size_t]
    malloc_trim.restype = ctypes.c_int
    return malloc_trim


def give_back_freed(library: str | None = None) -> bool:
    """Return freed heap memory to the system; False where the C library cannot."""
    malloc_trim = trimmer(library)
    if malloc_trim is None:
        return False
    malloc_trim(0)
    return True
