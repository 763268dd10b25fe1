"""
The create parameters of `POST sis_imports`, read and checked like the controller (§1.1).

Booleans go through `value_to_boolean`; options are stored only when they take effect.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

TermResolver = Callable[[str], "int | None"]
TRUE_VALUES = frozenset({"1", "true", "t", "yes", "y", "on"})
ENROLLMENT_DROP_STATUSES = ("deleted", "inactive", "completed", "deleted_last_completed")
USER_REMOVE_STATUSES = ("deleted", "suspended")


def value_to_boolean(value: str | None) -> bool:
    """Canvas's `value_to_boolean`: `1`, `true`, `yes`, `on` (any case) are true."""
    return value is not None and value.strip().lower() in TRUE_VALUES


def integer_or_none(value: str | None) -> int | None:
    """Return `value` as an integer, or None when absent or not a number."""
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateOptions:
    """The options of one import, as stored on the SisBatch and echoed in its JSON."""

    batch_mode: bool | None = None
    batch_mode_term_id: int | None = None
    multi_term_batch_mode: bool | None = None
    override_sis_stickiness: bool | None = None
    add_sis_stickiness: bool | None = None
    clear_sis_stickiness: bool | None = None
    update_sis_id_if_login_claimed: bool = False
    diffing_data_set_identifier: str | None = None
    diffing_remaster: bool | None = None
    diffing_drop_status: str | None = None
    diffing_user_remove_status: str | None = None
    batch_mode_enrollment_drop_status: str | None = None
    skip_deletes: bool = False
    change_threshold: int | None = None
    diff_row_count_threshold: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Refusal:
    """A create the controller refuses: `status` and Canvas's JSON body."""

    status: int
    body: dict[str, object]
    keep_initializing: bool = False


def check_enums(params: dict[str, str]) -> Refusal | None:
    """Return the 400 for an invalid drop or remove status (docs/canvas.md §1.1, §6.6)."""
    checks = (
        ("diffing_drop_status", ENROLLMENT_DROP_STATUSES),
        ("diffing_user_remove_status", USER_REMOVE_STATUSES),
        ("batch_mode_enrollment_drop_status", ENROLLMENT_DROP_STATUSES),
    )
    for name, allowed in checks:
        value = params.get(name)
        if value is not None and value not in allowed:
            return Refusal(status=400, body={"message": f"Invalid {name}"})
    return None


def read_options(params: dict[str, str], *, resolve_term: TermResolver) -> CreateOptions | Refusal:
    """
    Return the options of a create, or the refusal Canvas answers instead.

    `resolve_term` maps a `batch_mode_term_id` to an active term's Canvas id (None: not found).
    A refusal with `keep_initializing` still creates the row, left in `initializing` (the
    `multi_term_batch_mode` trap, docs/canvas.md §1.1).
    """
    refusal = check_enums(params)
    if refusal is not None:
        return refusal
    multi_term_sent = "multi_term_batch_mode" in params  # docs/canvas.md §1.1: presence, not value
    batch_mode = value_to_boolean(params.get("batch_mode")) or multi_term_sent
    term_id = None
    if value_to_boolean(params.get("batch_mode")) and not multi_term_sent:
        reference = (params.get("batch_mode_term_id") or "").strip()
        if not reference:
            message = "Batch mode specified, but the given batch_mode_term_id cannot be found."
            return Refusal(status=400, body={"message": message})
        term_id = resolve_term(reference)
        if term_id is None:
            return Refusal(
                status=404, body={"errors": [{"message": "The specified resource does not exist."}]}
            )
    change_threshold = integer_or_none(params.get("change_threshold"))
    if multi_term_sent and change_threshold is None:
        message = "change_threshold is required to use multi term_batch mode."
        return Refusal(status=400, body={"message": message}, keep_initializing=True)
    override = value_to_boolean(params.get("override_sis_stickiness"))
    diffing = None if batch_mode else (params.get("diffing_data_set_identifier") or None)
    row_threshold = integer_or_none(params.get("diff_row_count_threshold"))
    return CreateOptions(
        batch_mode=True if batch_mode else None,
        batch_mode_term_id=term_id,
        multi_term_batch_mode=value_to_boolean(params["multi_term_batch_mode"]) if multi_term_sent else None,
        override_sis_stickiness=True if override else None,
        add_sis_stickiness=True if override and value_to_boolean(params.get("add_sis_stickiness")) else None,
        clear_sis_stickiness=True
        if override and value_to_boolean(params.get("clear_sis_stickiness"))
        else None,
        update_sis_id_if_login_claimed=value_to_boolean(params.get("update_sis_id_if_login_claimed")),
        diffing_data_set_identifier=diffing,
        diffing_remaster=value_to_boolean(params.get("diffing_remaster_data_set")) if diffing else None,
        diffing_drop_status=params.get("diffing_drop_status") if diffing else None,
        diffing_user_remove_status=params.get("diffing_user_remove_status") if diffing else None,
        batch_mode_enrollment_drop_status=params.get("batch_mode_enrollment_drop_status")
        if batch_mode
        else None,
        skip_deletes=value_to_boolean(params.get("skip_deletes")),
        change_threshold=change_threshold,
        diff_row_count_threshold=row_threshold if row_threshold is not None and row_threshold > 0 else None,
    )
