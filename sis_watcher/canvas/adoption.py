"""
Finding our own import again when a POST's outcome is unknown.

Canvas has no idempotency key (docs/canvas.md §2.6). Before every POST the manifest records
`upload.started_at`. When the outcome is unknown (a timeout or a dropped connection after the
body was sent, a 5xx from a gateway, or a crash between POST and recording the id), the
uploader lists `sis_imports?created_since=<started_at minus RECOVERY_MARGIN>` and decides here:

- an import is a *candidate* if it was created in the window, is not already recorded by
  another of our batches, and (when Canvas says who made it) was made by our token's user;
- a started candidate (it has `csv_attachments`) is *ours* when its attachments are exactly the
  zip's non-empty CSV members by name and size (a users file with passwords is listed as
  `<name>_filtered.csv`, of another size: it matches by name alone);
- ours found: adopt it (the earliest, if Canvas somehow holds two); none found but candidates
  not started yet: wait and look again (Canvas only lists attachments once it starts an import);
  otherwise: it never arrived, upload again. A candidate without attachments that Canvas has not
  finished yet is waited for, even once `importing` (attachments are listed a little after).
  An `initializing` one created more than STALE_INITIALIZING before now (plus RECOVERY_MARGIN
  for the clocks' skew) is not: a direct
  create is `initializing` only while Canvas copies its body, so that is some other client's
  `pre_attachment` import, an orphan of Canvas's 400 early-return trap (docs/canvas.md §A1) or
  an abort that failed, none of which will ever become ours.

Limits: an import made in the window by the same user, from a zip with the same member names
and sizes, is indistinguishable from ours and would be adopted. The margin absorbs clock skew
between this machine and Canvas of up to RECOVERY_MARGIN.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import PurePosixPath
from typing import Any

from sis_watcher.canvas.csv_names import zip_member_is_ignored
from sis_watcher.canvas.verdict import TERMINAL_STATES

RECOVERY_MARGIN = timedelta(minutes=5)
# A direct create's import is `initializing` while Canvas stores the body it was sent: seconds,
# a minute at most within Canvas's request timeout. Twice that, and it is not our direct POST's.
STALE_INITIALIZING = timedelta(minutes=2)

FILTERED_SUFFIX = "_filtered.csv"


@dataclass(frozen=True, slots=True)
class Adopt:
    import_id: int
    duplicates: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Wait:
    import_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Absent:
    looked_at: int


Decision = Adopt | Wait | Absent


def expected_attachments(members: Iterable[tuple[str, int]]) -> Counter[tuple[str, int]]:
    """Return the (basename, size) of each zip member Canvas lists as a csv_attachment."""
    expected: Counter[tuple[str, int]] = Counter()
    for name, size in members:
        if size == 0 or zip_member_is_ignored(name) or not name.lower().endswith(".csv"):
            continue
        expected[(PurePosixPath(name).name, size)] += 1
    return expected


def attachments_match(attachments: Sequence[Any], expected: Counter[tuple[str, int]]) -> bool:
    """
    Return True if Canvas's `csv_attachments` are exactly the expected members.

    Each attachment must match a member by name and size; `<name>_filtered.csv` (a users file
    whose password columns Canvas removed) matches a member `<name>.csv` by name alone, unless a
    member really has that name and size.
    """
    remaining = Counter(expected)
    for attachment in attachments:
        if not isinstance(attachment, dict):
            return False
        name = str(attachment.get("display_name") or attachment.get("filename") or "")
        size = attachment.get("size")
        if isinstance(size, int) and remaining[(name, size)] > 0:
            remaining[(name, size)] -= 1
            continue
        if name.endswith(FILTERED_SUFFIX):
            wanted = name.removesuffix(FILTERED_SUFFIX) + ".csv"
        elif not isinstance(size, int):
            wanted = name
        else:
            return False
        candidates = [key for key, count in remaining.items() if count > 0 and key[0] == wanted]
        if not candidates:
            return False
        remaining[candidates[0]] -= 1
    return not +remaining


def made_by(sis_import: dict[str, Any], user_id: int | None) -> bool:
    """Return True unless Canvas names another user as the import's creator."""
    user = sis_import.get("user")
    if user_id is None or not isinstance(user, dict) or "id" not in user:
        return True
    return bool(user.get("id") == user_id)


def stale_initializing(sis_import: dict[str, Any], now: datetime | None) -> bool:
    """Return True for an import `initializing` since long before `now` (the local clock, skew allowed)."""
    if now is None or sis_import.get("workflow_state") != "initializing":
        return False
    try:
        created = datetime.fromisoformat(str(sis_import.get("created_at")))
    except ValueError:
        return False
    return created.tzinfo is not None and created < now - STALE_INITIALIZING - RECOVERY_MARGIN


def decide(
    imports: Sequence[dict[str, Any]],
    *,
    members: Iterable[tuple[str, int]],
    user_id: int | None,
    known_import_ids: set[int],
    now: datetime | None = None,
) -> Decision:
    """
    Decide, from the imports listed since the upload started, whether one of them is ours.

    `now` (the local clock) lets stale `initializing` imports be passed over.
    """
    expected = expected_attachments(members)
    if not expected:
        return Absent(looked_at=len(imports))
    candidates = [
        item
        for item in imports
        if isinstance(item.get("id"), int) and item["id"] not in known_import_ids and made_by(item, user_id)
    ]
    ours = sorted(
        (item for item in candidates if attachments_match(item.get("csv_attachments") or [], expected)),
        key=lambda item: (str(item.get("created_at") or ""), item["id"]),
    )
    ours = [item for item in ours if item.get("csv_attachments")]
    if ours:
        return Adopt(ours[0]["id"], tuple(item["id"] for item in ours[1:]))
    unstarted = [
        item["id"]
        for item in candidates
        if not item.get("csv_attachments")
        and item.get("workflow_state") not in TERMINAL_STATES
        and not stale_initializing(item, now)
    ]
    if unstarted:
        return Wait(tuple(sorted(unstarted)))
    return Absent(looked_at=len(imports))
