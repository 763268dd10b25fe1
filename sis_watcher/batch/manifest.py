"""
`manifest.json`: everything about one batch, rewritten atomically at every state change.

The batch directory is the unit of work; its manifest records how far the batch got, so a
restart resumes it from there. The keys the README names are a contract with users:
`batch_id`, `state`, `files[]` (`name`, `bytes`, `sha256`, `csv_type`, `rows`),
`canvas.import_id`, `canvas.workflow_state`, `canvas.progress`, `canvas.processing_errors`,
`canvas.processing_warnings`, `outcome.result`, `outcome.reason` and `history`; and, with the
ledger, `changes.<csv_type>` (the preview), `changes.baseline`, `changes.csv`, and `hold.reasons[]`;
and `rollback` once `sis-watcher rollback` asked Canvas to undo the batch's import.

States, in order (a batch only moves forward, except `retry` which sends failed -> queued)::

    sealing    the batch folder exists; files are being moved in from the drop folder
    queued     every file is in the batch folder; nothing checked yet
    held       checked, previewed and zipped, but it would change too much: waits for a person
               (`approve` -> zipped, `discard` -> failed); later batches wait behind it
    zipped     checked (validation, preview, hold rules) and zipped; ready to upload
    uploading  `upload.started_at` recorded; a POST may be on its way (outcome unknown on crash)
    importing  Canvas gave an import id; polling until a terminal workflow_state
    reporting  Canvas finished; collecting its errors report before filing
    done       filed (or being filed) under done/
    failed     filed (or being filed) under failed/
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sis_watcher.core.durable import atomic_write_json

MANIFEST_NAME = "manifest.json"
ZIP_NAME = "batch.zip"
ERRORS_NAME = "errors.csv"


class BatchState(StrEnum):
    SEALING = "sealing"
    QUEUED = "queued"
    HELD = "held"
    ZIPPED = "zipped"
    UPLOADING = "uploading"
    IMPORTING = "importing"
    REPORTING = "reporting"
    DONE = "done"
    FAILED = "failed"

    @property
    def is_final(self) -> bool:
        """True for the states that mean the batch belongs in done/ or failed/."""
        return self in (BatchState.DONE, BatchState.FAILED)


class Record(BaseModel):
    """A manifest part: unknown keys are kept (a newer version may have written them)."""

    model_config = ConfigDict(extra="allow", validate_assignment=False)


class MemberEntry(Record):
    """One CSV inside a dropped zip."""

    name: str
    bytes: int
    csv_type: str | None = None
    rows: int | None = None


class PlannedFile(Record):
    """A file sealing is about to move, as intake saw it ready (kept until sealing completes)."""

    name: str
    bytes: int
    mtime_ns: int
    inode: int


class FileEntry(Record):
    """One original file of the batch, kept byte for byte beside the manifest."""

    name: str
    bytes: int
    sha256: str | None = None
    csv_type: str | None = None
    rows: int | None = None
    members: list[MemberEntry] | None = None


class ProblemEntry(Record):
    """A pre-flight problem, as the validator reported it."""

    severity: Literal["error", "warning"]
    file: str
    row: int | None = None
    column: str | None = None
    message: str


class ValidationRecord(Record):
    mode: str
    errors: int = 0
    warnings: int = 0
    problems: list[ProblemEntry] = Field(default_factory=list)


class ZipMember(Record):
    name: str
    bytes: int


class ZipRecord(Record):
    name: str
    bytes: int
    sha256: str
    members: list[ZipMember] = Field(default_factory=list)
    dropped_as_is: bool = False


class UploadRecord(Record):
    started_at: str | None = None
    finished_at: str | None = None
    attempts: int = 0
    unknown_outcomes: int = 0
    adopted: bool = False
    remaster: bool = False  # `retry --remaster`: this attempt sends diffing_remaster_data_set=true
    # The large-upload flow (pipeline/pre_attachment.py), each saved before the step it names:
    method: Literal["direct", "pre_attachment"] | None = None  # how the current attempt sends the zip
    pending_import_id: int | None = None  # the `initializing` import waiting for this zip
    expires_at: str | None = None  # when storage stops accepting the upload
    file_sending_at: str | None = None  # the zip's POST to storage began
    file_sent_at: str | None = None  # the body's last byte was handed to the socket: storage may keep it
    confirming_at: str | None = None  # storage kept it; Canvas's confirmation began
    # Canvas's own `.../files/:id/create_success?uuid=` (S3 style), saved before it is requested:
    # on canvas.base_url's origin and useless without the token, so no storage credential.
    confirmation_url: str | None = None
    abandoned_import_ids: list[int] = Field(default_factory=list)  # aborted as never ours to run
    start_overs: int = 0  # pre_attachment attempts abandoned in a row (capped: the batch fails)
    storage_tells_canvas: bool | None = None  # inst-fs tells Canvas itself; S3: only our confirmation


class CanvasRecord(Record):
    import_id: int | None = None
    workflow_state: str | None = None
    progress: int | None = None
    created_at: str | None = None
    ended_at: str | None = None
    last_polled_at: str | None = None
    processing_errors: list[list[str | None]] = Field(default_factory=list)
    processing_warnings: list[list[str | None]] = Field(default_factory=list)
    counts: dict[str, int] = Field(default_factory=dict)
    error_count: int = 0
    warning_count: int = 0
    error_message: str | None = None
    messages_by_file: dict[str, list[str]] = Field(default_factory=dict)
    errors_report: str | None = None
    stuck_alerted: bool = False
    statistics: dict[str, Any] | None = None
    diffing_threshold_exceeded: bool | None = None


class HoldReason(Record):
    """One hold rule a batch broke: the CSV type, the rule (its config key), the value and the limit."""

    csv_type: str
    rule: str
    value: float
    limit: float
    text: str


class HoldRecord(Record):
    reasons: list[HoldReason] = Field(default_factory=list)
    held_at: str | None = None
    decided_by: str | None = None
    decided_at: str | None = None
    decision: Literal["approved", "discarded"] | None = None
    alerted: bool = False


class RollbackRecord(Record):
    """
    `sis-watcher rollback`: Canvas's `restore_states` of the batch's import (docs/canvas.md §A2).

    Saved before Canvas is asked (`requested_at`, `options`), again once Canvas answered with its
    Progress (`progress_id`), and at the end (`workflow_state` of the import: `restored`,
    `partially_restored` or `restore_failed`; `statistics`, Canvas's `data.statistics` after the
    restore; `finished_at`; `error`, Canvas's words when it refused or failed). A record with
    no `finished_at` is a rollback still running in Canvas: the command, run again, follows it.
    `ledger_forgotten` is false from the end of a rollback of a done batch (with the ledger
    enabled) until the ledger has been rebuilt without it (`ledger.rebuild`), then true; null
    when the ledger has nothing to forget.
    """

    requested_at: str
    options: list[str] = Field(default_factory=list)  # the flags sent: batch_mode, undelete_only, ...
    progress_id: int | None = None
    completion: float | None = None
    workflow_state: str | None = None
    statistics: dict[str, Any] | None = None
    finished_at: str | None = None
    error: str | None = None
    ledger_forgotten: bool | None = None


class Outcome(Record):
    result: Literal["done", "failed"] | None = None
    reason: str | None = None


class HistoryEntry(Record):
    state: str
    at: str
    note: str | None = None


class Manifest(Record):
    """The whole manifest; `save` writes it atomically and durably."""

    schema_version: int = 1
    batch_id: str
    state: BatchState
    sealed_at: str
    source: Literal["csv", "zip"] = "csv"
    trigger_file: str | None = None
    force: bool = False
    files: list[FileEntry] = Field(default_factory=list)
    seal_plan: list[PlannedFile] | None = None
    seal_trigger: PlannedFile | None = None
    validation: ValidationRecord | None = None
    zip: ZipRecord | None = None
    changes: dict[str, Any] | None = None
    hold: HoldRecord | None = None
    upload: UploadRecord = Field(default_factory=UploadRecord)
    canvas: CanvasRecord = Field(default_factory=CanvasRecord)
    outcome: Outcome = Field(default_factory=Outcome)
    rollback: RollbackRecord | None = None
    history: list[HistoryEntry] = Field(default_factory=list)
    previous_attempts: list[dict[str, Any]] = Field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Return the manifest as a JSON-ready dict (sealing's working notes only while sealing)."""
        document = self.model_dump(mode="json")
        for key in ("seal_plan", "seal_trigger", "changes", "hold", "rollback"):
            if document.get(key) is None:
                document.pop(key, None)
        return document

    def save(self, batch_dir: Path) -> None:
        """Write `batch_dir/manifest.json` atomically (temp, fsync, rename, fsync folder)."""
        atomic_write_json(batch_dir / MANIFEST_NAME, self.to_json())

    def move_to(self, state: BatchState, *, at: str, note: str | None = None) -> None:
        """Set the state and append it to the history (the caller saves)."""
        self.state = state
        self.history.append(HistoryEntry(state=state.value, at=at, note=note))


class ManifestUnreadable(Exception):
    """`manifest.json` is missing or not a manifest (a crash before its first write)."""


def load_manifest(batch_dir: Path) -> Manifest:
    """Read `batch_dir/manifest.json`; raise `ManifestUnreadable` if absent or invalid."""
    path = batch_dir / MANIFEST_NAME
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        return Manifest.model_validate(document)
    except FileNotFoundError:
        raise ManifestUnreadable(f"{path} does not exist") from None
    except (ValueError, ValidationError) as error:
        raise ManifestUnreadable(f"{path} is not a valid manifest: {error}") from None
