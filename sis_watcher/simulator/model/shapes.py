"""The JSON Canvas answers with: SisImport, File, SisImportError, account and user (docs/canvas.md §2, §6)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sis_watcher.simulator.model.imports import ImportRow
from sis_watcher.simulator.model.outcome import SisMessage
from sis_watcher.simulator.model.settings import SimulatorSettings

MAX_LISTED_MESSAGES = 24
OPTION_FIELDS = (
    "batch_mode",
    "batch_mode_term_id",
    "multi_term_batch_mode",
    "override_sis_stickiness",
    "add_sis_stickiness",
    "update_sis_id_if_login_claimed",
    "clear_sis_stickiness",
    "diffing_data_set_identifier",
    "diffing_remaster",
    "diffed_against_import_id",
    "diffing_drop_status",
    "diffing_user_remove_status",
    "skip_deletes",
    "change_threshold",
    "diff_row_count_threshold",
)


def timestamp(moment: datetime | None) -> str | None:
    """Canvas's API time format: UTC, whole seconds, `Z`."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


@dataclass(frozen=True, slots=True, kw_only=True)
class Context:
    """What JSON rendering needs besides the row: the hosts, the clock and the identity."""

    api_url: str
    settings: SimulatorSettings
    now: float


def file_json(
    context: Context, *, attachment_id: int, name: str, size: int, moment: datetime | None, content_type: str
) -> dict[str, Any]:
    """A File object (ATTJSON); `url` is the download on the API host that redirects to storage."""
    verifier = f"v{attachment_id:08d}"
    return {
        "id": attachment_id,
        "uuid": f"uuid{attachment_id:016d}",
        "folder_id": None,
        "display_name": name,
        "filename": name,
        "upload_status": "success",
        "content-type": content_type,
        "url": f"{context.api_url}/files/{attachment_id}/download?download_frd=1&verifier={verifier}",
        "size": size,
        "created_at": timestamp(moment),
        "updated_at": timestamp(moment),
        "unlock_at": None,
        "locked": False,
        "hidden": False,
        "lock_at": None,
        "hidden_for_user": False,
        "thumbnail_url": None,
        "modified_at": timestamp(moment),
        "mime_class": "file",
        "media_entry_id": None,
        "category": "uncategorized",
        "locked_for_user": False,
    }


def listed(messages: list[SisMessage], *, failure: bool) -> list[list[str | None]]:
    """At most 24 `[file, message]` pairs plus the "and N more" pair (docs/canvas.md §2.3)."""
    chosen = [[message.file, message.message] for message in messages if message.failure == failure]
    if len(chosen) <= MAX_LISTED_MESSAGES:
        return chosen
    kind = "errors" if failure else "warnings"
    extra = len(chosen) - MAX_LISTED_MESSAGES
    return [
        *chosen[:MAX_LISTED_MESSAGES],
        [f"and {extra} more {kind} that were not included", f"Download the error file to see all {kind}."],
    ]


def import_json(row: ImportRow, context: Context) -> dict[str, Any]:
    """Return one SisImport as Canvas shapes it (docs/canvas.md §2.1: field order and nulls)."""
    settings = context.settings
    result: dict[str, Any] = {
        "id": row.id,
        "created_at": timestamp(row.created_at),
        "started_at": timestamp(row.started_at),
        "ended_at": timestamp(row.ended_at),
        "updated_at": timestamp(row.updated_at),
        "progress": row.live_progress(context.now),
        "workflow_state": row.workflow_state,
        "data": dict(row.data),
    }
    options = row.options
    for name in OPTION_FIELDS:
        if name == "diffed_against_import_id":
            result[name] = row.diffed_against_import_id
        else:
            result[name] = getattr(options, name)
    errors = listed(row.messages, failure=True)
    warnings = listed(row.messages, failure=False)
    if errors:
        result["processing_errors"] = errors
    if warnings:
        result["processing_warnings"] = warnings
    if options.diffing_data_set_identifier is not None:
        result["diffing_threshold_exceeded"] = row.diffing_threshold_exceeded
    if (
        row.errors_file is not None
        and row.errors_ready_mono is not None
        and context.now >= row.errors_ready_mono
    ):
        size = row.errors_file.stat().st_size
        result["errors_attachment"] = file_json(
            context,
            attachment_id=row.errors_attachment_id,
            name=row.errors_file.name,
            size=size,
            moment=row.ended_at,
            content_type="text/csv",
        )
    result["user"] = user_json(settings)
    outcome = row.outcome
    if outcome is not None and row.attachment_ids:
        files = [file for file in outcome.files if file.attachment_name]
        result["csv_attachments"] = [
            file_json(
                context,
                attachment_id=attachment_id,
                name=file.attachment_name or "",
                size=file.attachment_size,
                moment=row.started_at,
                content_type="text/csv",
            )
            for attachment_id, file in zip(row.attachment_ids, files, strict=True)
        ]
    return result


def error_json(row: ImportRow, message: SisMessage) -> dict[str, Any]:
    """One SisImportError (docs/canvas.md §6.5)."""
    return {
        "sis_import_id": row.id,
        "file": message.file,
        "message": message.message,
        "row_info": message.row_info,
        "row": message.row,
    }


def user_json(settings: SimulatorSettings) -> dict[str, Any]:
    """The API user, as `user` in a SisImport and as `GET users/self`."""
    return {
        "id": settings.user_id,
        "name": settings.user_name,
        "created_at": "2020-01-01T00:00:00Z",
        "sortable_name": settings.user_name,
        "short_name": settings.user_name,
    }


def account_json(settings: SimulatorSettings, *, sub: bool) -> dict[str, Any]:
    """The root account, or the one configured sub-account."""
    root = settings.account_id
    return {
        "id": settings.sub_account_id if sub else root,
        "name": f"{settings.account_name} (sub-account)" if sub else settings.account_name,
        "workflow_state": "active",
        "parent_account_id": root if sub else None,
        "root_account_id": root if sub else None,
        "uuid": f"simulated-account-{settings.sub_account_id if sub else root}",
        "default_storage_quota_mb": 500,
        "default_user_storage_quota_mb": 50,
        "default_group_storage_quota_mb": 50,
        "default_time_zone": "Etc/UTC",
        "sis_account_id": settings.sub_sis_account_id if sub else settings.root_sis_account_id,
        "integration_id": None,
        "sis_import_id": None,
    }
