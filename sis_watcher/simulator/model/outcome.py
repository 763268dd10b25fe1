"""What processing found in an upload: its CSV files, Canvas's messages and the counts."""

from __future__ import annotations

from dataclasses import dataclass, field

from sis_watcher.canvas.csv_types import IMPORT_ORDER

MAX_KEPT_MESSAGES = 1_000_000


@dataclass(frozen=True, slots=True, kw_only=True)
class SisMessage:
    """One SisBatchError: `failure` ones are errors, the rest warnings; `row` counts the header as 1."""

    file: str | None
    message: str
    row: int | None = None
    failure: bool = False
    row_info: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CsvFile:
    """One CSV Canvas found; `attachment_name` is None when Canvas stores no copy (empty file)."""

    path: str
    size: int
    sha256: str
    rows: int
    csv_type: str | None
    attachment_name: str | None
    attachment_size: int


@dataclass(slots=True, kw_only=True)
class ProcessingOutcome:
    """Everything an import's result is derived from."""

    files: list[CsvFile] = field(default_factory=list)
    messages: list[SisMessage] = field(default_factory=list)
    error_count: int = 0
    warning_count: int = 0
    counts: dict[str, int] = field(default_factory=lambda: {t.plural: 0 for t in IMPORT_ORDER})
    supplied: list[str] = field(default_factory=list)
    rows: int = 0
    uncompressed_size: int = 0
    error_message: str | None = None

    def add(self, message: SisMessage) -> None:
        """Count a message, keeping at most `MAX_KEPT_MESSAGES` of them."""
        if message.failure:
            self.error_count += 1
        else:
            self.warning_count += 1
        if len(self.messages) < MAX_KEPT_MESSAGES:
            self.messages.append(message)
