"""
The configuration file: YAML in, frozen typed sections out.

`load(path)` reads the file with `yaml.safe_load`, validates it with pydantic (unknown keys,
wrong types, out-of-range values) and then with our cross-field rules, and raises one
`ConfigError` listing *every* problem by its dotted key path. Nothing downstream sees a dict.
Relative folder paths are taken relative to the config file's own folder.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import SplitResult, urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sis_watcher.core.errors import ConfigError

Seconds = Annotated[float, Field(ge=0)]
PositiveSeconds = Annotated[float, Field(gt=0)]


class Section(BaseModel):
    """A config section: frozen, and strict about keys it does not know."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=False)


def is_loopback_host(host: str) -> bool:
    """Return True for `localhost` and loopback IP literals (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def checked_https_url(value: str, *, example: str) -> SplitResult:
    """Return `value` split, or raise ValueError unless it is https:// (or http:// to loopback)."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        msg = f"must be an absolute URL such as {example}"
        raise ValueError(msg)
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        msg = "must use https:// (http:// is allowed only for a loopback host)"
        raise ValueError(msg)
    return parts


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


class ImportOptions(Section):
    """
    Canvas's own create parameters. `None` (or `false` for a flag) means *not sent*.

    Flags are sent only when true: false is Canvas's default for every one of them, and merely
    sending `multi_term_batch_mode` (even `false`) switches it on (reference §1.1).
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

    @field_validator("batch_mode_term_id", mode="before")
    @classmethod
    def term_id_as_text(cls, value: object) -> object:
        """Accept a numeric Canvas term id as well as `sis_term_id:X`."""
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    def as_params(self) -> dict[str, str]:
        """Return the query parameters to send: true flags and set values only."""
        params: dict[str, str] = {}
        for name, value in self.model_dump().items():
            if value is None or value is False:
                continue
            params[name] = "true" if value is True else str(value)
        return params


class RetrySettings(Section):
    initial_backoff_seconds: PositiveSeconds = 1.0
    max_backoff_seconds: PositiveSeconds = 300.0
    max_elapsed_seconds: PositiveSeconds = 3600.0


class PollSettings(Section):
    interval_seconds: PositiveSeconds = 2.0
    max_interval_seconds: PositiveSeconds = 60.0
    warn_after_seconds: PositiveSeconds = 7200.0
    give_up_after_seconds: PositiveSeconds = 86400.0


class ValidationSettings(Section):
    mode: Literal["strict", "warn", "off"] = "strict"


class GuardSettings(Section):
    max_shrink_percent: Annotated[float, Field(gt=0, le=100)] | None = None


class OutcomeSettings(Section):
    warnings_are_failures: bool = False


class LoggingSettings(Section):
    format: Literal["auto", "json", "console"] = "auto"
    level: Literal["debug", "info", "warning", "error"] = "info"


class WebhookSettings(Section):
    url: str
    timeout_seconds: PositiveSeconds = 10.0

    @field_validator("url")
    @classmethod
    def https_unless_loopback(cls, value: str) -> str:
        """Alerts carry batch details: https only, http only to this machine."""
        checked_https_url(value, example="https://hooks.slack.com/services/...")
        return value


class EmailSettings(Section):
    host: str
    port: Annotated[int, Field(ge=1, le=65535)] = 587
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password_file: Path | None = None
    sender: str = Field(alias="from")
    to: tuple[str, ...] = Field(min_length=1)
    timeout_seconds: PositiveSeconds = 30.0
    ca_file: Path | None = None  # PEM bundle to trust instead of the system's (a private relay's CA)

    @model_validator(mode="after")
    def no_clear_text_password(self) -> EmailSettings:
        """A login over `security: none` would send the password in clear text off this machine."""
        if self.security == "none" and self.username is not None and not is_loopback_host(self.host):
            msg = (
                "security: none with a username would send the SMTP password in clear text; "
                "use starttls or tls (none with a login is allowed only for a loopback host)"
            )
            raise ValueError(msg)
        return self


class AlertSettings(Section):
    webhook: WebhookSettings | None = None
    email: EmailSettings | None = None
    on_warnings: bool = False
    retries_stuck_after_seconds: PositiveSeconds = 1800.0


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
    validation: ValidationSettings = ValidationSettings()
    guard: GuardSettings = GuardSettings()
    outcome: OutcomeSettings = OutcomeSettings()
    keep_zip: bool = True
    logging: LoggingSettings = LoggingSettings()
    alerts: AlertSettings = AlertSettings()
    metrics: MetricsSettings = MetricsSettings()
    retention: RetentionSettings = RetentionSettings()


def section_of(raw: dict[str, Any], name: str) -> dict[str, Any]:
    """Return `raw[name]` if it is a mapping, else an empty one (its type error is reported apart)."""
    value = raw.get(name)
    return value if isinstance(value, dict) else {}


def number_of(section: dict[str, Any], key: str, default: float) -> float:
    """Return a numeric setting, or its default when unset or of the wrong type."""
    value = section.get(key, default)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default


TRUE_SPELLINGS = frozenset({"1", "on", "t", "true", "y", "yes"})


def truthy(value: object) -> bool:
    """Return True for every spelling of true that pydantic accepts for a flag (1, "yes", ...)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value == 1
    return isinstance(value, str) and value.strip().lower() in TRUE_SPELLINGS


def logical_problems(raw: dict[str, Any]) -> list[str]:
    """
    Return the cross-field contradictions in the document `raw`.

    They are checked on the raw mapping, so they are reported together with type errors.
    """
    return import_problems(section_of(raw, "import")) + folder_problems(raw) + ordering_problems(raw)


def import_problems(options: dict[str, Any]) -> list[str]:
    """Return contradictions between Canvas import options."""
    problems: list[str] = []
    batch_mode = truthy(options.get("batch_mode"))
    multi_term = truthy(options.get("multi_term_batch_mode"))
    if batch_mode and not options.get("batch_mode_term_id") and not multi_term:
        problems.append(
            "import.batch_mode: needs import.batch_mode_term_id (or import.multi_term_batch_mode "
            "with import.change_threshold)"
        )
    if multi_term and options.get("change_threshold") is None:
        problems.append("import.multi_term_batch_mode: needs import.change_threshold (Canvas requires it)")
    if options.get("diffing_data_set_identifier") and (batch_mode or multi_term):
        problems.append(
            "import.diffing_data_set_identifier: cannot be combined with batch mode "
            "(Canvas silently ignores diffing in batch mode)"
        )
    stickiness = truthy(options.get("add_sis_stickiness")) or truthy(options.get("clear_sis_stickiness"))
    if stickiness and not truthy(options.get("override_sis_stickiness")):
        problems.append(
            "import.add_sis_stickiness/clear_sis_stickiness: need import.override_sis_stickiness: true "
            "(Canvas ignores them otherwise)"
        )
    if truthy(options.get("diffing_remaster_data_set")) and not options.get("diffing_data_set_identifier"):
        problems.append("import.diffing_remaster_data_set: needs import.diffing_data_set_identifier")
    return problems


def folder_problems(raw: dict[str, Any]) -> list[str]:
    """Return folders configured twice under different names."""
    problems: list[str] = []
    seen: dict[Path, str] = {}
    for name, value in section_of(raw, "folders").items():
        if not isinstance(value, str) or not value:
            continue
        resolved = Path(value).resolve()
        if resolved in seen:
            problems.append(f"folders.{name}: is the same folder as folders.{seen[resolved]}")
        seen.setdefault(resolved, name)
    return problems


def ordering_problems(raw: dict[str, Any]) -> list[str]:
    """Return durations whose order is reversed (a first wait longer than its cap)."""
    problems: list[str] = []
    pairs = (
        ("intake", "settle_seconds", 5.0, "max_wait_seconds", 600.0),
        ("poll", "interval_seconds", 2.0, "max_interval_seconds", 60.0),
        ("poll", "warn_after_seconds", 7200.0, "give_up_after_seconds", 86400.0),
        ("retry", "initial_backoff_seconds", 1.0, "max_backoff_seconds", 300.0),
    )
    for section_name, shorter, shorter_default, longer, longer_default in pairs:
        section = section_of(raw, section_name)
        if number_of(section, shorter, shorter_default) > number_of(section, longer, longer_default):
            problems.append(f"{section_name}.{shorter}: must not be longer than {section_name}.{longer}")
    return problems


def format_validation_error(error: ValidationError) -> list[str]:
    """Turn pydantic's errors into `dotted.key: message` lines."""
    problems = []
    for detail in error.errors():
        path = ".".join(str(part) for part in detail["loc"] if not str(part).startswith("function-"))
        message = detail["msg"]
        if detail["type"] == "extra_forbidden":
            message = "unknown key"
        elif detail["type"] == "missing":
            message = "required key is missing"
        message = message.removeprefix("Value error, ")
        problems.append(f"{path}: {message}" if path else message)
    return problems


def resolve_paths(raw: dict[str, Any], base: Path) -> None:
    """Make relative folder and file paths relative to the config file's folder (in place)."""
    sections = {"folders": ("drop", "queue", "done", "failed"), "canvas": ("token_file",)}
    for section, keys in sections.items():
        values = raw.get(section)
        if not isinstance(values, dict):
            continue
        for key in keys:
            value = values.get(key)
            if isinstance(value, str) and value.strip():
                path = Path(value).expanduser()
                values[key] = str(path if path.is_absolute() else base / path)
    email = section_of(section_of(raw, "alerts"), "email")
    for key in ("password_file", "ca_file"):
        value = email.get(key)
        if isinstance(value, str) and value and not Path(value).is_absolute():
            email[key] = str(base / value)


def parse(raw: object, *, source: str, base: Path) -> Config:
    """
    Given the YAML document `raw` read from `source`, return the `Config`.

    Raise `ConfigError` listing every problem found.
    """
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(source, ["the file must be a YAML mapping of sections (canvas:, folders:, ...)"])
    resolve_paths(raw, base)
    problems = []
    config = None
    try:
        config = Config.model_validate(raw)
    except ValidationError as error:
        problems.extend(format_validation_error(error))
    problems.extend(logical_problems(raw))
    if problems or config is None:
        raise ConfigError(source, problems)
    return config


def load(path: Path) -> Config:
    """Read and check the config file at `path`; raise `ConfigError` with every problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(str(path), [f"cannot read the file: {error}"]) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(str(path), [f"not valid YAML: {error}"]) from None
    return parse(raw, source=str(path), base=path.resolve().parent)
