"""
Fingerprints: the fast test that a batch's row is, byte for byte, a row the ledger already holds.

A row's fingerprint is a 63-bit hash of its CSV type, its file's columns and its raw line (its
cells joined, for a file where a quoted value spans lines). The ledger keeps each row's
fingerprint; the preview loads those of one type into one sorted numpy array (8 bytes a row:
16 MB for 2M rows) and looks up a chunk of the batch's rows at a time (`numpy.searchsorted`),
so the 98% of a nightly export that did not change costs one hash and one vectorised look-up
per row, and is not even parsed. `seen_at` marks the ledger rows some batch row matched: the
others are the candidates for batch mode's and diffing's drops. numpy is used because this
look-up, row by row in Python, was the preview's largest cost.

The hash is XXH3-64 (`xxhash`) of the line, XOR-ed with XXH3-64 of the type and columns: one C
call a line, mapped over the block (a keyword argument, the seed, would cost a Python step a
line). Ledgers made before it hash with BLAKE2b, 5x slower, and keep doing so (the algorithm is
in the ledger's `meta` table): their rows' fingerprints cannot be taken again without the
lines. `sis-watcher ledger rebuild` makes a ledger of the faster kind. A fingerprint only ever
decides whether a row must be compared; a stale or foreign one costs a comparison, never a
wrong count.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable, Iterator

import numpy as np
import numpy.typing as npt
import xxhash

from sis_watcher.ledger.store import BLAKE2B, Ledger

Prints = npt.NDArray[np.int64]


class Fingerprinter:
    """The fingerprints of one source's rows, by the algorithm of the ledger they go to."""

    def __init__(self, algorithm: str, csv_type: str, columns: str) -> None:
        self.algorithm = algorithm
        self.prefix = f"{csv_type}\x1e{columns}\x1e".encode()
        self.salt = np.uint64(xxhash.xxh3_64_intdigest(self.prefix))

    def of_lines(self, lines: list[bytes]) -> Prints:
        """Return the fingerprints of raw lines (of files whose every record is one line)."""
        if self.algorithm == BLAKE2B:
            return blake2b_prints(self.prefix, lines)
        return self.salted(np.fromiter(map(xxhash.xxh3_64_intdigest, lines), np.uint64, len(lines)))

    def of_rows(self, rows: list[list[str]]) -> Prints:
        """Return the fingerprints of parsed rows (their cells joined, hashed as a line is)."""
        return self.of_lines(["\x1f".join(cells).encode() for cells in rows])

    def salted(self, hashes: npt.NDArray[np.uint64]) -> Prints:
        hashes ^= self.salt
        hashes >>= np.uint64(1)  # 63 bits: SQLite's integers are signed
        return hashes.view(np.int64)


def blake2b_prints(prefix: bytes, data: Iterable[bytes]) -> Prints:
    """Return the fingerprints of a ledger made before XXH3: BLAKE2b-64 of prefix and data."""
    copy = hashlib.blake2b(prefix, digest_size=8).copy  # the prefix hashed once, copied a line

    def digest(item: bytes) -> bytes:
        state = copy()
        state.update(item)
        return state.digest()

    digests = b"".join(map(digest, data))
    return (np.frombuffer(digests, dtype=">u8") >> 1).astype(np.int64)


class KnownRows:
    """The fingerprints of the ledger's rows of one type, sorted, and which of them were seen."""

    def __init__(self, fps: Prints, *, is_sorted: bool = False) -> None:
        if not is_sorted:
            fps.sort()
        self.fps = fps  # read-only when it is the kept array itself: no copy of 16 MB
        self.seen_at = np.full(len(self.fps), -1, dtype=np.int32)  # the batch row that matched, by ordinal

    def __len__(self) -> int:
        return len(self.fps)

    def match(self, fps: Prints, *, first: int) -> npt.NDArray[np.bool_]:
        """Return which of `fps` are ledger rows' fingerprints; mark those rows seen at `first + i`."""
        places, found = locate(self.fps, fps)
        self.seen_at[places[found]] = first + np.flatnonzero(found)
        return found

    def seen_at_ordinals(self, fps: Prints) -> npt.NDArray[np.int64]:
        """Return the ordinal of the last batch row that matched each ledger row of `fps` (-1: none)."""
        result = np.full(len(fps), -1, dtype=np.int64)
        places, found = locate(self.fps, fps)
        result[found] = self.seen_at[places[found]]
        return result

    @property
    def seen_count(self) -> int:
        return int(np.count_nonzero(self.seen_at >= 0))

    def unseen(self) -> Iterator[int]:
        return (int(fp) for fp in self.fps[self.seen_at < 0])


def locate(haystack: Prints, needles: Prints) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.bool_]]:
    """
    Return where each needle would sit in the sorted `haystack`, and which needles are in it.

    The needles are sorted first: a sweep through the haystack, not thousands of random probes.
    """
    found = np.zeros(len(needles), dtype=bool)
    places = np.zeros(len(needles), dtype=np.intp)
    if not len(haystack) or not len(needles):
        return places, found
    order = np.argsort(needles, kind="stable")
    places[order] = np.searchsorted(haystack, needles[order])
    inside = places < len(haystack)
    found[inside] = haystack[places[inside]] == needles[inside]
    return places, found


def read_prints(db: sqlite3.Connection, csv_type: str, *, data_set: str | None = None) -> Prints:
    """Return the fingerprints of the rows of `csv_type` (of `data_set`, if given), read row by row."""
    if data_set is None:
        cursor = db.execute("SELECT fp FROM rows WHERE csv_type = ?", (csv_type,))
    else:
        cursor = db.execute("SELECT fp FROM rows WHERE csv_type = ? AND data_set = ?", (csv_type, data_set))
    return np.fromiter((fp for (fp,) in cursor), dtype=np.int64)


def load_known(ledger: Ledger, csv_type: str, *, data_set: str | None) -> KnownRows:
    """
    Return the fingerprints of the ledger's rows of `csv_type` (only `data_set`'s, if given).

    The kept array (`prints`) serves when it can: always without a data set, and with one when
    every row of the type belongs to it.
    """
    db = ledger.db
    other_sets = (
        data_set is not None
        and db.execute(
            "SELECT 1 FROM rows WHERE csv_type = ? AND data_set IS NOT ? LIMIT 1", (csv_type, data_set)
        ).fetchone()
    )
    kept = db.execute("SELECT fps FROM prints WHERE csv_type = ?", (csv_type,)).fetchone()
    if kept is not None and not other_sets:
        return KnownRows(np.frombuffer(kept[0], dtype=np.int64), is_sorted=True)  # kept sorted
    return KnownRows(read_prints(db, csv_type, data_set=data_set))


def keep_prints(db: sqlite3.Connection, csv_type: str, *, removed: Prints, added: Prints) -> None:
    """Update the kept array of `csv_type`: `removed` out, `added` in (read afresh if none is kept)."""
    kept = db.execute("SELECT fps FROM prints WHERE csv_type = ?", (csv_type,)).fetchone()
    if kept is None or not kept[0]:  # none kept, or the type emptied and now (maybe) new again
        fps = read_prints(db, csv_type)
    else:
        old = np.frombuffer(kept[0], dtype=np.int64)
        keep = np.ones(len(old), dtype=bool)
        places, found = locate(old, removed)
        keep[places[found]] = False
        kept_count = int(np.count_nonzero(keep))
        fps = np.empty(kept_count + len(added), dtype=np.int64)  # one array, no intermediate copy
        np.compress(keep, old, out=fps[:kept_count])
        fps[kept_count:] = added
        del old, kept, keep
    fps.sort()
    db.execute("INSERT OR REPLACE INTO prints VALUES (?, ?)", (csv_type, fps.data))
