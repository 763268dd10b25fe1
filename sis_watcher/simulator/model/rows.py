"""
Row-level checks, as Canvas's importers make them (docs/canvas.md §3.4, §5).

Every problem found here is a *warning* (the batch ends `imported_with_messages`); the row is
skipped and not counted. Fields are stripped and empty ones read as missing, like Canvas.
"""

from __future__ import annotations

from dataclasses import dataclass

from sis_watcher.canvas.csv_rules import CsvType
from sis_watcher.simulator.model.store import Change, SisStore

NUL_MESSAGE = "Some of the fields contain NULL character"


@dataclass(frozen=True, slots=True, kw_only=True)
class RowResult:
    """What one data row did: a warning, or a change to the store, or neither (skipped)."""

    warning: str | None = None
    change: Change | None = None
    skipped: bool = False


def label(csv_type: CsvType) -> str:
    """Return the importer's name as Canvas writes it in messages (`group_category` -> `group category`)."""
    return csv_type.name.replace("_", " ")


def first_value(values: dict[str, str], names: tuple[str, ...]) -> str | None:
    """Return the first non-empty value among `names`."""
    return next((values[name] for name in names if values.get(name)), None)


def missing_message(csv_type: CsvType, values: dict[str, str], header: frozenset[str]) -> str | None:
    """Return Canvas's "No X given" message for the first required value that is missing."""
    ident = first_value(values, csv_type.required[0])
    for group in csv_type.required:
        if first_value(values, group) is not None:
            continue
        if all(name in csv_type.blank_allowed and name in header for name in group):
            continue
        column = " or ".join(group)
        if ident is None:
            return f"No {column} given for a {label(csv_type)}"
        return f"No {column} given for {label(csv_type)} {ident}"
    return None


def check_row(
    csv_type: CsvType, values: dict[str, str], *, header: frozenset[str], store: SisStore, skip_deletes: bool
) -> RowResult:
    """Check one row (values already stripped, empty ones absent) and return its effect."""
    if csv_type.name == "user" and any("\x00" in value for value in values.values()):
        return RowResult(warning=NUL_MESSAGE)  # docs/canvas.md §3.4 (user_importer.rb)
    problem = missing_message(csv_type, values, header)
    if problem is not None:
        return RowResult(warning=problem)
    ident = first_value(values, csv_type.required[0]) or ""
    status = values.get("status", "")
    if csv_type.statuses and not csv_type.status_is_valid(status):
        return RowResult(warning=f'Improper status "{status}" for {label(csv_type)} {ident}')
    active = not status.lower().startswith("deleted")
    if skip_deletes and not active:
        return RowResult(skipped=True)  # docs/canvas.md §1.1: skip_deletes skips rows with status deleted
    reference_problem = check_references(csv_type, values, store)
    if reference_problem is not None:
        return RowResult(warning=reference_problem)
    return RowResult(change=change_for(csv_type, values, status=status, store=store))


def check_references(csv_type: CsvType, values: dict[str, str], store: SisStore) -> str | None:
    """Return Canvas's message when a section or enrollment names an object that does not exist."""
    if csv_type.name == "section":
        course_id = values.get("course_id")
        if not store.has_course(course_id):
            return f"Section {values['section_id']} references course {course_id} which doesn't exist"
    if csv_type.name == "login" and not login_user_exists(values, store):
        return f"Could not find the existing user for login with SIS ID {values['user_id']}, skipping"
    if csv_type.name == "enrollment":
        course_id = values.get("course_id")
        section_id = values.get("section_id")
        user_id = values.get("user_id")
        ids = f"Course ID: {course_id or ''}, Section ID: {section_id or ''}"
        if not store.has_course(course_id) and not store.has_section(section_id):
            return f"Neither course nor section existed for user enrollment ({ids}, User ID: {user_id or ''})"
        if section_id and not store.has_section(section_id):
            return f"An enrollment referenced a non-existent section {section_id}"
        if not store.has_user(user_id, values.get("user_integration_id")):
            return f"User not found for enrollment (User ID: {user_id or ''}, {ids})"
    return None


def login_user_exists(values: dict[str, str], store: SisStore) -> bool:
    """Return True if a login row's `existing_*` identifier names a user (Canvas ids are numeric)."""
    if values.get("existing_user_id"):
        return store.has_user(values["existing_user_id"], None)
    if values.get("existing_integration_id"):
        return store.has_user(None, values["existing_integration_id"])
    return values.get("existing_canvas_user_id", "").isdigit()


KEY_COLUMNS = {
    "abstract_course": ("abstract_course_id",),
    "group_category": ("group_category_id",),
    "group": ("group_id",),
    "login": ("user_id",),
    "group_membership": ("group_id", "user_id"),
    "user_observer": ("observer_id", "student_id"),
    "admin": ("user_id", "account_id", "role", "role_id"),
    "differentiation_tag_set": ("tag_set_id",),
    "differentiation_tag": ("tag_id",),
    "differentiation_tag_membership": ("tag_id", "user_id"),
}


def change_for(csv_type: CsvType, values: dict[str, str], *, status: str, store: SisStore) -> Change | None:
    """Return the store change a clean row makes, for the kinds the store keeps or counts."""
    name = csv_type.name
    if name in ("term", "account", "course", "section", "user"):
        key = values[csv_type.required[0][0]]
        parent = values.get("term_id") if name == "course" else values.get("course_id")
        return Change(
            kind=name,
            key=key,
            status=status,
            parent=parent,
            integration_id=values.get("integration_id"),
            email=values.get("email") if name == "user" else None,
        )
    if name == "enrollment":
        section_id = values.get("section_id", "")
        user = values.get("user_id") or values.get("user_integration_id", "")
        role = values.get("role") or values.get("role_id", "")
        course = values.get("course_id") or store.course_of_section(section_id) or ""
        key = f"{course}\x1f{section_id}\x1f{user}\x1f{role}"
        return Change(kind=name, key=key, status=status, parent=course or None)
    columns = KEY_COLUMNS.get(name)
    if columns is None:
        return None  # xlists, change_sis_id, grade_publishing_results, institutional tags: no state counted
    return Change(kind=name, key="\x1f".join(values.get(column, "") for column in columns), status=status)
