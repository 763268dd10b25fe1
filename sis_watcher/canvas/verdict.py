"""
Canvas's verdict on an import, made readable: the outcome table of DESIGN.md as code.

| Canvas ends                                   | batch                                   |
|-----------------------------------------------|-----------------------------------------|
| imported                                      | done                                    |
| imported_with_messages                        | done (failed if warnings_are_failures)  |
| failed, failed_with_messages, aborted         | failed, with Canvas's messages          |
| restored, partially_restored (rolled back)    | failed                                  |

Decisions read `workflow_state` only, never `progress` (reference §2.2).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

TERMINAL_STATES = frozenset(
    {
        "imported",
        "imported_with_messages",
        "failed",
        "failed_with_messages",
        "aborted",
        "restored",
        "partially_restored",
    }
)
FIRST_MESSAGES = 3
BATCH_LEVEL = "(whole import)"
NULL_FILE_NOTE = (
    "a message with no file is about the whole import, for example a change_threshold abort "
    "(too many deletions) or a diffing notice"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    result: Literal["done", "failed"]
    reason: str


def is_terminal(workflow_state: str | None) -> bool:
    """Return True when Canvas will not change this import's state on its own any more."""
    return workflow_state in TERMINAL_STATES


def pairs(messages: Any) -> list[tuple[str | None, str]]:
    """Return Canvas's `[file, message]` pairs, tolerating odd shapes."""
    result: list[tuple[str | None, str]] = []
    if not isinstance(messages, list):
        return result
    for item in messages:
        if isinstance(item, list | tuple) and len(item) >= 2:
            file = item[0] if isinstance(item[0], str) else None
            result.append((file, str(item[1])))
        elif isinstance(item, str):
            result.append((None, item))
    return result


def first_messages_by_file(
    messages: Sequence[tuple[str | None, str]], *, limit: int = FIRST_MESSAGES
) -> dict[str, list[str]]:
    """Group messages by file (None -> "(whole import)"), keeping the first `limit` of each."""
    grouped: dict[str, list[str]] = defaultdict(list)
    for file, message in messages:
        key = file or BATCH_LEVEL
        if len(grouped[key]) < limit:
            grouped[key].append(message)
    return dict(grouped)


def summarise(messages: Sequence[tuple[str | None, str]], *, limit: int = FIRST_MESSAGES) -> str:
    """Return `file: message` for the first few messages, one clause each."""
    shown = [f"{file or BATCH_LEVEL}: {message}" for file, message in messages[:limit]]
    more = len(messages) - len(shown)
    return "; ".join(shown) + (f" (and {more} more)" if more > 0 else "")


def judge(sis_import: dict[str, Any], *, warnings_are_failures: bool) -> Verdict:
    """Return the batch's outcome for a terminal SisImport object."""
    state = str(sis_import.get("workflow_state"))
    import_id = sis_import.get("id")
    errors = pairs(sis_import.get("processing_errors"))
    warnings = pairs(sis_import.get("processing_warnings"))
    counts = (sis_import.get("data") or {}).get("counts") or {}
    error_count = counts.get("error_count", len(errors)) if isinstance(counts, dict) else len(errors)
    warning_count = counts.get("warning_count", len(warnings)) if isinstance(counts, dict) else len(warnings)
    if state == "imported":
        return Verdict(result="done", reason=f"Canvas import {import_id} imported")
    if state == "imported_with_messages":
        text = (
            f"Canvas import {import_id} imported with {warning_count} warning(s) and {error_count} error(s)"
        )
        detail = summarise(errors + warnings)
        reason = f"{text}: {detail}" if detail else text
        if any(file is None for file, _ in errors + warnings):
            reason += f" [{NULL_FILE_NOTE}]"
        return Verdict(result="failed" if warnings_are_failures else "done", reason=reason)
    if state in ("restored", "partially_restored"):
        return Verdict(
            result="failed", reason=f"Canvas import {import_id} was rolled back ({state}) by an admin"
        )
    detail = summarise(errors or warnings)
    if not detail and isinstance(sis_import.get("data"), dict):
        detail = str(sis_import["data"].get("error_message") or "")
    reason = f"Canvas import {import_id} ended {state}"
    if detail:
        reason += f": {detail}"
    if any(file is None for file, _ in errors + warnings):
        reason += f" [{NULL_FILE_NOTE}]"
    return Verdict(result="failed", reason=reason)
