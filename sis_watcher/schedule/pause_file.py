"""
`queue/.pause.json`: a person's `sis-watcher pause`, kept until `resume`.

The file is the pause: it is written (atomically) by `pause` and removed by `resume`, whether a
daemon runs or not, and the daemon only ever reads it, every few seconds; so the daemon can
never undo a `resume` by writing back a file a person just removed. It lives in the queue
folder, which both the daemon and the commands reach and which survives restarts; it is not a
batch folder, so no scan takes it. What the daemon must remember about a pause (that the
"paused too long" alert went out) goes into a file of its own, `queue/.pause-alerted.json`,
holding the `since` of the pause it alerted about.

    {"reason": "term rollover", "since": "2027-06-25T22:00:00.000000Z", "by": "alice"}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from sis_watcher.core.durable import DocumentUnreadable, atomic_write_json, fsync_dir, read_json_document

PAUSE_NAME = ".pause.json"
ALERTED_NAME = ".pause-alerted.json"
NO_REASON = "no reason given"


@dataclass(frozen=True, slots=True, kw_only=True)
class OperatorPause:
    """What `pause` recorded: why, since when (ISO 8601 UTC) and who."""

    reason: str
    since: str
    by: str


class PauseFileUnreadable(Exception):
    """The pause file exists but cannot be read or makes no sense; `path` names it."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"the pause file {path} cannot be read: {problem}")
        self.path = path
        self.problem = problem


def pause_path(queue: Path) -> Path:
    return queue / PAUSE_NAME


def read_pause(queue: Path) -> OperatorPause | None:
    """Return the operator's pause, None when there is none; raise PauseFileUnreadable when corrupt."""
    path = pause_path(queue)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as error:
        raise PauseFileUnreadable(path, str(error)) from error
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as error:  # RecursionError: `[[[[...` nested too deep
        raise PauseFileUnreadable(path, f"not JSON ({error})") from error
    if not isinstance(document, dict) or not isinstance(document.get("since"), str):
        raise PauseFileUnreadable(path, 'not an object with a "since" time')
    return OperatorPause(
        reason=str(document.get("reason") or NO_REASON),
        since=document["since"],
        by=str(document.get("by") or "unknown"),
    )


def write_pause(queue: Path, pause: OperatorPause) -> None:
    """Record the pause atomically and durably (OSError if the queue folder cannot be written)."""
    atomic_write_json(pause_path(queue), {"reason": pause.reason, "since": pause.since, "by": pause.by})


def remove_pause(queue: Path) -> bool:
    """Remove the pause (and its alert record) durably; return True if there was a pause file."""
    path = pause_path(queue)
    existed = path.exists()
    path.unlink(missing_ok=True)
    (queue / ALERTED_NAME).unlink(missing_ok=True)
    if existed:
        fsync_dir(queue)
    return existed


def alerted_since(queue: Path) -> str | None:
    """Return the `since` of the pause the "paused too long" alert went out for (None if none)."""
    try:
        document = read_json_document(queue / ALERTED_NAME)
    except (OSError, DocumentUnreadable):  # absent, or corrupt (even `[[[[...`): alert again
        return None
    since = document.get("since") if isinstance(document, dict) else None
    return since if isinstance(since, str) else None


def record_alerted(queue: Path, since: str) -> None:
    """Remember that the pause begun at `since` was alerted about (it survives restarts)."""
    atomic_write_json(queue / ALERTED_NAME, {"since": since})
