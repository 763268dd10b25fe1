"""
Batch ids and the folders named by them.

An id sorts by time (`20261127T020000Z-3f9a1c`); a folder named like one is a batch, anything
else in queue/, done/ or failed/ (`lost+found`, an admin's notes) is not. A seal in progress lives
in a hidden `.sealing-<id>` folder until it is complete.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from pathlib import Path


def new_batch_id(moment: datetime) -> str:
    """
    Return an id that sorts by time, e.g. `20261127T020000Z-3f9a1c`.

    The suffix is the microsecond in five hex digits plus one random one, so ids made in the
    same second still sort in the order they were made.
    """
    moment = moment.astimezone(UTC)
    return f"{moment.strftime('%Y%m%dT%H%M%SZ')}-{moment.microsecond:05x}{secrets.token_hex(1)[0]}"


# A batch folder's name: its id, with `.N` when filing had to avoid a name already taken.
BATCH_FOLDER = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{6}(?:\.\d+)?")


def names_a_folder(batch_id: str) -> bool:
    """True when `batch_id` can name a folder directly inside a batch root (no path, not hidden)."""
    return bool(batch_id) and "/" not in batch_id and not batch_id.startswith(".")


def batch_folders(root: Path) -> list[Path]:
    """
    Return the batch folders directly in `root`, sorted by id (oldest first).

    Only folders named like a batch id count: `lost+found` or an admin's notes folder is not a
    batch. Raise OSError (other than a missing `root`) so a caller can tell "empty" from "unreadable".
    """
    try:
        entries = list(root.iterdir())
    except FileNotFoundError:
        return []
    return sorted(
        (
            path
            for path in entries
            if BATCH_FOLDER.fullmatch(path.name) and path.is_dir() and not path.is_symlink()
        ),
        key=lambda path: path.name,
    )


SEALING_PREFIX = ".sealing-"


def staged_folders(queue: Path) -> list[Path]:
    """Return the `.sealing-<id>` folders of seals not finished yet (a crash or a failed seal)."""
    try:
        return sorted(path for path in queue.iterdir() if path.name.startswith(SEALING_PREFIX))
    except FileNotFoundError:
        return []
