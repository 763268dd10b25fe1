"""What a batch alert says: Canvas's verdict and its first messages, the first pre-flight problems."""

from __future__ import annotations

from typing import Any

from sis_watcher.batch.manifest import Manifest
from sis_watcher.canvas.verdict import first_messages_by_file, pairs

MAX_FILES = 5
MAX_PROBLEMS = 5


def duration(seconds: float) -> str:
    """Return `seconds` for people: `45 min` or `2.5 h`."""
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def canvas_details(manifest: Manifest) -> tuple[list[str], dict[str, list[str]]]:
    """Return the lines about Canvas's verdict and its first messages by file."""
    canvas = manifest.canvas
    by_file = canvas.messages_by_file or first_messages_by_file(
        pairs(canvas.processing_errors) + pairs(canvas.processing_warnings)
    )
    shown = dict(list(by_file.items())[:MAX_FILES])
    lines = []
    if canvas.import_id is not None:
        lines.append(
            f"Canvas import {canvas.import_id}: {canvas.workflow_state} "
            f"({canvas.error_count} error(s), {canvas.warning_count} warning(s))"
        )
    if shown:
        lines.append("Canvas's first messages:")
        lines.extend(f"  {file}: {message}" for file, messages in shown.items() for message in messages)
    return lines, shown


def validation_details(manifest: Manifest) -> tuple[list[str], list[dict[str, Any]]]:
    """Return the lines and records of the first pre-flight problems, errors first."""
    problems = manifest.validation.problems if manifest.validation is not None else []
    first = sorted(problems, key=lambda problem: problem.severity != "error")[:MAX_PROBLEMS]
    records = [
        problem.model_dump(include={"severity", "file", "row", "column", "message"}) for problem in first
    ]
    lines = ["Validation problems:"] if first else []
    for problem in first:
        row = f" row {problem.row}" if problem.row is not None else ""
        column = f" ({problem.column})" if problem.column else ""
        lines.append(f"  {problem.file}{row}{column}: {problem.message}")
    return lines, records
