"""
What file names mean to Canvas: zip members it skips, and names that suggest a CSV type.

Canvas itself decides a file's type by its header alone (`csv_types.detect`); a name is used
only to warn when the header reads as another type than the name suggests.
"""

from __future__ import annotations

# Zip members Canvas skips without a word (IMPORT `IGNORE_FILES`, plus dot-files), docs/canvas.md §3.2.
IGNORED_ZIP_MEMBERS = ("__MACOSX", "desktop.ini", "desktop.db")


def zip_member_is_ignored(name: str) -> bool:
    """Return True for zip members Canvas skips silently (`__MACOSX/`, dot-files, desktop.ini)."""
    parts = [part for part in name.split("/") if part]
    if not parts:
        return True
    if parts[0] == "__MACOSX":
        return True
    base = parts[-1]
    return base.startswith(".") or base in IGNORED_ZIP_MEMBERS


# What a file's name suggests it holds: the common export names ("users.csv",
# "enrollments_2026.csv"), used only to warn when the header reads as another type.
NAME_HINTS: tuple[tuple[str, str], ...] = (
    ("change_sis_id", "change_sis_id"),
    ("differentiation_tag_membership", "differentiation_tag_membership"),
    ("differentiation_tag_set", "differentiation_tag_set"),
    ("differentiation_tag", "differentiation_tag"),
    ("institutional_tag_categor", "institutional_tag_category"),
    ("institutional_tag_association", "institutional_tag_association"),
    ("institutional_tag", "institutional_tag"),
    ("group_membership", "group_membership"),
    ("groups_membership", "group_membership"),
    ("group_categor", "group_category"),
    ("user_observer", "user_observer"),
    ("observer", "user_observer"),
    ("xlist", "xlist"),
    ("enrollment", "enrollment"),
    ("section", "section"),
    ("abstract_course", "abstract_course"),
    ("course", "course"),
    ("term", "term"),
    ("account", "account"),
    ("login", "login"),
    ("admin", "admin"),
    ("user", "user"),
    ("group", "group"),
)


def type_suggested_by_name(file_name: str) -> str | None:
    """Return the CSV type a file name suggests (`"enrollments.csv"` -> `"enrollment"`), if any."""
    lowered = file_name.lower()
    for fragment, type_name in NAME_HINTS:
        if fragment in lowered:
            return type_name
    return None
