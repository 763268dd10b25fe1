"""
How Canvas identifies a row of each CSV type, and what the batch-mode rule needs of it.

A row's identity is its key in the ledger (docs/canvas.md §A5): users by `user_id`, courses by
`course_id`, enrollments by their section (or course), user, role, observed user and temporary
source, user_observers by the (observer, student) pair, admins by user, account and role, and so
on. Values are read as Canvas reads them: header names lowercased, values stripped of Ruby's
whitespace, a blank value the same as an absent column.

Where Canvas's own diff key is coarser than the object it finds (user_observers keyed by the
observer alone, admins without the role), the key here follows the object, so one observer of
two students is two rows. `change_sis_id` rows rename objects rather than describe them and
have no identity; they are counted but never stored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

RUBY_WHITESPACE = " \t\n\v\f\r\x00"
KEY_SEPARATOR = "\x1f"  # never in a CSV value Canvas accepts as an id
VALUE_SEPARATOR = "\x1f"
BATCH_MODE_TYPES = ("course", "section", "enrollment")  # the only types batch mode deletes
OBSERVER_ROLES = ("observer",)

Row = Mapping[str, str]


def clean(value: str | None) -> str | None:
    """Return a value as Canvas reads it: stripped; blank is absent (None)."""
    if value is None:
        return None
    stripped = value.strip(RUBY_WHITESPACE)
    return stripped or None


def joined(*parts: str | None) -> str | None:
    """Return the parts of a key as one string, or None when the first (mandatory) part is absent."""
    if parts[0] is None:
        return None
    return KEY_SEPARATOR.join(part or "" for part in parts).rstrip(KEY_SEPARATOR)


def columns_key(*columns: str) -> Callable[[Row], str | None]:
    """Return a key made of `columns`, the first of which must be present."""
    return lambda row: joined(*(row.get(column) for column in columns))


def enrollment_key(row: Row) -> str | None:
    """
    An enrollment: its section (or, without one, its course), user, role and associated users.

    `user_integration_id` wins over `user_id` when not blank, `role_id` over `role`, and
    `associated_user_id` counts only for observers, as Canvas's enrollment importer finds them.
    """
    place = f"section:{row['section_id']}" if row.get("section_id") else None
    if place is None and row.get("course_id"):
        place = f"course:{row['course_id']}"
    integration = row.get("user_integration_id")
    user = f"integration:{integration}" if integration else row.get("user_id")
    if place is None or user is None:
        return None
    role = f"role_id:{row['role_id']}" if row.get("role_id") else (row.get("role") or "").lower()
    observed = row.get("associated_user_id") if role.startswith(OBSERVER_ROLES) else None
    return joined(place, user, role, observed, row.get("temporary_enrollment_source_user_id"))


def admin_key(row: Row) -> str | None:
    """An admin: user, account (blank is the root account) and role (by id, else by name)."""
    role = f"role_id:{row['role_id']}" if row.get("role_id") else row.get("role")
    return joined(row.get("user_id"), row.get("account_id") or "root", role)


KEYS: dict[str, Callable[[Row], str | None]] = {
    "user": columns_key("user_id"),
    "login": columns_key("user_id", "login_id"),
    "account": columns_key("account_id"),
    "term": columns_key("term_id"),
    "abstract_course": columns_key("abstract_course_id"),
    "course": columns_key("course_id"),
    "section": columns_key("section_id"),
    "xlist": columns_key("section_id"),
    "enrollment": enrollment_key,
    "admin": admin_key,
    "group_category": columns_key("group_category_id"),
    "group": columns_key("group_id"),
    "group_membership": columns_key("group_id", "user_id"),
    "grade_publishing_results": columns_key("enrollment_id"),
    "user_observer": columns_key("observer_id", "student_id"),
    "differentiation_tag_set": columns_key("tag_set_id"),
    "differentiation_tag": columns_key("tag_id"),
    "differentiation_tag_membership": columns_key("tag_id", "user_id"),
    "institutional_tag_category": columns_key("category_id"),
    "institutional_tag": columns_key("institutional_tag_id"),
    "institutional_tag_association": columns_key("institutional_tag_id", "user_id"),
}


def key_of(csv_type: str, row: Row) -> str | None:
    """Return the row's identity, or None for a type without one or a row lacking its key."""
    key = KEYS.get(csv_type)
    return key(row) if key is not None else None


def is_deleted(row: Row) -> bool:
    """Return True when the row's status asks Canvas to delete the object (`deleted...`)."""
    status = row.get("status")
    return status is not None and status.lower().startswith("deleted")


def readable_key(key: str) -> str:
    """Return a key for people (parts joined by `|`)."""
    return key.replace(KEY_SEPARATOR, "|")
