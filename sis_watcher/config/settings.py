"""
The configuration's typed sections: one frozen pydantic model per top-level key of the YAML file.

Each section refuses keys it does not know and checks its own values; the rules that span
sections are in `config.load`. `config.example.yaml` documents every key and its default.
The `alerts:` and `schedule:` sections are in `config.alerting` and `config.schedule`; the base
model and the duration types in `config.base`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from sis_watcher.config.alerting import AlertSettings
from sis_watcher.config.base import PositiveSeconds, Seconds, Section, checked_https_url
from sis_watcher.config.schedule import ScheduleSettings
from sis_watcher.core.backoff import RetryPolicy


class CanvasSettings(Section):
    base_url: str
    account_id: str = "self"
    token_file: Path | None = None
    timeout_seconds: PositiveSeconds = 60.0
    proxy: str | None = None

    @field_validator("proxy")
    @classmethod
    def proxy_url(cls, value: str | None) -> str | None:
        """An outgoing proxy as a URL (`http://proxy.school.edu:3128`); TLS to Canvas runs through it."""
        if value is None:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            msg = "must be a URL such as http://proxy.school.edu:3128"
            raise ValueError(msg)
        return value

    @field_validator("token_file", mode="before")
    @classmethod
    def token_file_path(cls, value: object) -> object:
        """An empty path is a mistake, not "no file": leave the key out (or null) for that."""
        if isinstance(value, str) and not value.strip():
            msg = "must be a file path (leave it out or set null to use CANVAS_TOKEN)"
            raise ValueError(msg)
        return value

    @field_validator("account_id", mode="before")
    @classmethod
    def account_id_as_text(cls, value: object) -> object:
        """Accept `account_id: 1` as well as `"1"`."""
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("base_url")
    @classmethod
    def https_unless_loopback(cls, value: str) -> str:
        """The token travels in every request: https only, plain http only to this machine."""
        parts = checked_https_url(value, example="https://school.instructure.com")
        if parts.query or parts.fragment:
            msg = "must not have a query string or fragment"
            raise ValueError(msg)
        return value.rstrip("/")


class FolderSettings(Section):
    drop: Path
    queue: Path
    done: Path
    failed: Path


DEFAULT_IGNORE = (".*", "*.tmp", "*.part", "*.partial", "*.filepart", "*.crdownload", "*.swp", "~*")


CANVAS_MAX_ZIP_MEMBERS = 100_000


class IntakeSettings(Section):
    include: tuple[str, ...] = ("*.csv", "*.zip")
    ignore: tuple[str, ...] = DEFAULT_IGNORE
    settle_seconds: Seconds = 5.0
    quiet_seconds: Seconds = 30.0
    max_wait_seconds: PositiveSeconds = 600.0
    trigger_file: str | None = None
    polling: bool = False
    rescan_seconds: PositiveSeconds = 60.0
    max_batch_files: Annotated[int, Field(ge=1, le=CANVAS_MAX_ZIP_MEMBERS)] = 10_000

    @field_validator("trigger_file")
    @classmethod
    def plain_file_name(cls, value: str | None) -> str | None:
        """The trigger is a name in the drop folder, not a path."""
        if value is not None and (not value or "/" in value or value in (".", "..")):
            msg = "must be a plain file name such as READY"
            raise ValueError(msg)
        return value


EnrollmentDropStatus = Literal["deleted", "inactive", "completed", "deleted_last_completed"]


NOT_CANVAS_OPTIONS = {"skip_unchanged"}


class ImportOptions(Section):
    """
    Canvas's own create parameters. `None` (or `false` for a flag) means *not sent*.

    Flags are sent only when true: false is Canvas's default for every one of them, and merely
    sending `multi_term_batch_mode` (even `false`) switches it on (docs/canvas.md §1.1).
    """

    batch_mode: bool | None = None
    batch_mode_term_id: str | None = None
    multi_term_batch_mode: bool | None = None
    batch_mode_enrollment_drop_status: Literal["deleted", "inactive", "completed"] | None = None
    skip_deletes: bool | None = None
    override_sis_stickiness: bool | None = None
    add_sis_stickiness: bool | None = None
    clear_sis_stickiness: bool | None = None
    update_sis_id_if_login_claimed: bool | None = None
    diffing_data_set_identifier: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    diffing_remaster_data_set: bool | None = None
    diffing_drop_status: EnrollmentDropStatus | None = None
    diffing_user_remove_status: Literal["deleted", "suspended"] | None = None
    change_threshold: Annotated[int, Field(ge=1, le=100)] | None = None
    diff_row_count_threshold: Annotated[int, Field(ge=1)] | None = None
    # Ours, not Canvas's (never sent): file a batch that changes nothing without a request.
    skip_unchanged: bool = False

    @field_validator("batch_mode_term_id", mode="before")
    @classmethod
    def term_id_as_text(cls, value: object) -> object:
        """Accept a numeric Canvas term id as well as `sis_term_id:X`."""
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    def as_params(self) -> dict[str, str]:
        """Return the query parameters to send: true flags and set values only."""
        params: dict[str, str] = {}
        for name, value in self.model_dump(exclude=NOT_CANVAS_OPTIONS).items():
            if value is None or value is False:
                continue
            params[name] = "true" if value is True else str(value)
        return params


class RetrySettings(Section):
    initial_backoff_seconds: PositiveSeconds = 1.0
    max_backoff_seconds: PositiveSeconds = 300.0
    max_elapsed_seconds: PositiveSeconds = 3600.0

    def policy(self) -> RetryPolicy:
        """Return the retry policy these settings describe (jitter up to 1 s, never above the first wait)."""
        return RetryPolicy(
            initial_seconds=self.initial_backoff_seconds,
            max_backoff_seconds=self.max_backoff_seconds,
            max_elapsed_seconds=self.max_elapsed_seconds,
            jitter_seconds=min(1.0, self.initial_backoff_seconds),
        )


class PollSettings(Section):
    interval_seconds: PositiveSeconds = 2.0
    max_interval_seconds: PositiveSeconds = 60.0
    warn_after_seconds: PositiveSeconds = 7200.0
    give_up_after_seconds: PositiveSeconds = 86400.0
    abort_on_give_up: bool = False


class UploadSettings(Section):
    """
    How the zip reaches Canvas (README "Large uploads").

    `auto` sends zips above `direct_max_bytes` by Canvas's `pre_attachment` file-upload flow,
    smaller ones as a direct POST; `direct` and `pre_attachment` force one.
    """

    method: Literal["auto", "direct", "pre_attachment"] = "auto"
    direct_max_bytes: Annotated[int, Field(ge=0)] = 25_000_000


class ValidationSettings(Section):
    mode: Literal["strict", "warn", "off"] = "strict"


Percent = Annotated[float, Field(gt=0, le=100)]


class GuardSettings(Section):
    """The shrink guard's old home: `guard.max_shrink_percent` is read as `hold.max_shrink_percent`."""

    max_shrink_percent: Percent | None = None


class HoldSettings(Section):
    """
    When a batch waits for a person instead of going to Canvas (README "The hold").

    The ledger rules count only for CSV types with at least `min_rows` rows in the ledger;
    `max_shrink_percent` compares rows with the last batch filed done, as the shrink guard did.
    """

    max_delete_percent: Percent | None = 10.0
    max_delete_rows: Annotated[int, Field(ge=0)] | None = None
    max_new_percent: Annotated[float, Field(gt=0)] | None = None
    max_shrink_percent: Percent | None = None
    min_rows: Annotated[int, Field(ge=0)] = 50


class LedgerSettings(Section):
    """The ledger of what sis-watcher has had imported (`path` defaults beside the queue folder)."""

    enabled: bool = True
    path: Path | None = None


class OutcomeSettings(Section):
    warnings_are_failures: bool = False


class LoggingSettings(Section):
    format: Literal["auto", "json", "console"] = "auto"
    level: Literal["debug", "info", "warning", "error"] = "info"


class MetricsSettings(Section):
    enabled: bool = False
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 9464


class RetentionSettings(Section):
    done_days: Annotated[float, Field(gt=0)] | None = None


class Config(Section):
    canvas: CanvasSettings
    folders: FolderSettings
    intake: IntakeSettings = IntakeSettings()
    import_options: ImportOptions = Field(default=ImportOptions(), alias="import")
    retry: RetrySettings = RetrySettings()
    poll: PollSettings = PollSettings()
    upload: UploadSettings = UploadSettings()
    validation: ValidationSettings = ValidationSettings()
    guard: GuardSettings = GuardSettings()
    hold: HoldSettings = HoldSettings()
    ledger: LedgerSettings = LedgerSettings()
    outcome: OutcomeSettings = OutcomeSettings()
    keep_zip: bool = True
    logging: LoggingSettings = LoggingSettings()
    alerts: AlertSettings = AlertSettings()
    metrics: MetricsSettings = MetricsSettings()
    retention: RetentionSettings = RetentionSettings()
    schedule: ScheduleSettings = ScheduleSettings()

    @property
    def ledger_path(self) -> Path:
        """The ledger file: `ledger.path`, else `ledger.sqlite` beside the queue folder."""
        return self.ledger.path or self.folders.queue.parent / "ledger.sqlite"

    @property
    def max_shrink_percent(self) -> float | None:
        """The shrink rule's limit: `hold.max_shrink_percent`, or its old name `guard.max_shrink_percent`."""
        return self.hold.max_shrink_percent or self.guard.max_shrink_percent
