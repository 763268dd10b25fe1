"""
The configuration file: YAML in, frozen typed sections out.

`load(path)` reads the file with `yaml.safe_load`, validates it with pydantic (unknown keys,
wrong types, out-of-range values) and then with our cross-field rules, and raises one
`ConfigError` listing *every* problem by its dotted key path. Nothing downstream sees a dict.
Relative folder paths are taken relative to the config file's own folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from sis_watcher.config.settings import Config
from sis_watcher.core.errors import ConfigError


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
    return (
        import_problems(section_of(raw, "import"))
        + folder_problems(raw)
        + ordering_problems(raw)
        + renamed_problems(raw)
    )


def renamed_problems(raw: dict[str, Any]) -> list[str]:
    """Return a key set under both its old and its new name with different values."""
    old = section_of(raw, "guard").get("max_shrink_percent")
    new = section_of(raw, "hold").get("max_shrink_percent")
    if old is not None and new is not None and old != new:
        return [
            (
                "guard.max_shrink_percent: is the old name of hold.max_shrink_percent, which is set "
                "to another value; keep only hold.max_shrink_percent"
            )
        ]
    return []


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
    sections = {
        "folders": ("drop", "queue", "done", "failed"),
        "canvas": ("token_file",),
        "ledger": ("path",),
    }
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
