"""
Canvas's verdict on an import, made readable: the README's outcome table as code.

| Canvas ends                                   | batch                                   |
|-----------------------------------------------|-----------------------------------------|
| imported                                      | done                                    |
| imported_with_messages                        | done (failed if warnings_are_failures)  |
| failed, failed_with_messages, aborted         | failed, with Canvas's messages          |
| restored, partially_restored (rolled back)    | failed                                  |
| restore_failed (a rollback that failed)       | failed, with Canvas's error_message     |

Decisions read `workflow_state` only, never `progress` (docs/canvas.md §2.2). A poll only
meets the last three when someone rolled the import back in Canvas before the poll saw it
finish (`restoring` is not terminal: the poll waits for the rollback's end); the rows are then
not what the batch sent, so the batch is failed either way, and `restore_failed` also names
Canvas's `data.error_message` (§A2). The diffing remaster failure (§A4) is recognised by its
exact text (`needs_remaster`), so the caller can name the remedy; so is an import Canvas
aborted itself (`aborted_by_canvas`: a change_threshold breach, §2.4), whoever asked for an abort.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

TERMINAL_STATES = frozenset(
    {
        "imported",
        "imported_with_messages",
        "failed",
        "failed_with_messages",
        "aborted",
        "restored",
        "partially_restored",
        "restore_failed",
    }
)
REMASTER_REQUIRED = "Too many consecutive batches exceeded the change threshold. A remaster is required."
CANVAS_ABORTS = (  # Canvas's own words when it aborts an import itself (docs/canvas.md §2.4)
    "would be deleted and exceeds the set threshold of",  # a batch-mode change_threshold breach
    "Terms not found. Terms must be included with multi_term_batch_mode",
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
    if not isinstance(messages, list | tuple):
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


class FinishedImport(Protocol):
    """What the verdict reads of a finished import: what the poll recorded from Canvas's answer."""

    @property
    def import_id(self) -> int | None: ...
    @property
    def workflow_state(self) -> str | None: ...
    @property
    def processing_errors(self) -> Sequence[Sequence[str | None]]: ...
    @property
    def processing_warnings(self) -> Sequence[Sequence[str | None]]: ...
    @property
    def error_count(self) -> int: ...
    @property
    def warning_count(self) -> int: ...
    @property
    def error_message(self) -> str | None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportAnswer:
    """The parts of a finished SisImport's JSON the verdict needs, read once and tolerantly."""

    import_id: int | None
    workflow_state: str | None
    ended_at: str | None = None
    processing_errors: tuple[tuple[str | None, str], ...] = ()
    processing_warnings: tuple[tuple[str | None, str], ...] = ()
    counts: dict[str, int] = field(default_factory=dict)
    error_count: int = 0
    warning_count: int = 0
    error_message: str | None = None

    @classmethod
    def from_json(cls, sis_import: dict[str, Any]) -> ImportAnswer:
        """Read Canvas's SisImport object; odd shapes give empty values, never an exception."""
        data = sis_import.get("data")
        data = data if isinstance(data, dict) else {}
        raw_counts = data.get("counts")
        counts = (
            {key: value for key, value in raw_counts.items() if isinstance(value, int)}
            if isinstance(raw_counts, dict)
            else {}
        )
        errors = tuple(pairs(sis_import.get("processing_errors")))
        warnings = tuple(pairs(sis_import.get("processing_warnings")))
        message = data.get("error_message")
        import_id = sis_import.get("id")
        ended_at = sis_import.get("ended_at")
        return cls(
            import_id=import_id if isinstance(import_id, int) else None,
            workflow_state=str(sis_import.get("workflow_state")),
            ended_at=ended_at if isinstance(ended_at, str) else None,
            processing_errors=errors,
            processing_warnings=warnings,
            counts=counts,
            error_count=counts.get("error_count", len(errors)),
            warning_count=counts.get("warning_count", len(warnings)),
            error_message=str(message) if message else None,
        )


def needs_remaster(finished: FinishedImport) -> bool:
    """True when Canvas failed the import because its diffing data set needs a remaster (§A4)."""
    return finished.workflow_state == "failed_with_messages" and any(
        message.strip() == REMASTER_REQUIRED for _file, message in pairs(finished.processing_errors)
    )


def aborted_by_canvas(finished: FinishedImport) -> bool:
    """True when Canvas aborted the import itself (a change_threshold breach, no terms), by its message."""
    messages = pairs(finished.processing_errors) + pairs(finished.processing_warnings)
    return finished.workflow_state == "aborted" and any(
        words in message for _file, message in messages for words in CANVAS_ABORTS
    )


def judge(finished: FinishedImport, *, warnings_are_failures: bool) -> Verdict:
    """Return the batch's outcome for a finished import."""
    state = str(finished.workflow_state)
    import_id = finished.import_id
    errors = pairs(finished.processing_errors)
    warnings = pairs(finished.processing_warnings)
    error_count, warning_count = finished.error_count, finished.warning_count
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
    if state == "restore_failed":
        words = f": {finished.error_message}" if finished.error_message else ""
        return Verdict(
            result="failed",
            reason=f"Canvas import {import_id} was rolled back by an admin and the rollback failed "
            f"(restore_failed){words}",
        )
    detail = summarise(errors or warnings)
    if finished.error_message:
        detail = f"{finished.error_message}; {detail}" if detail else finished.error_message
    reason = f"Canvas import {import_id} ended {state}"
    if detail:
        reason += f": {detail}"
    if any(file is None for file, _ in errors + warnings):
        reason += f" [{NULL_FILE_NOTE}]"
    return Verdict(result="failed", reason=reason)
