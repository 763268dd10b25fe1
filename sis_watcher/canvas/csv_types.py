"""
Every SIS CSV type Canvas accepts, as data: how Canvas recognises it and what it requires.

Shared by the validator and the Canvas simulator, so the two cannot disagree. Sources are the
importer files cited in docs/canvas.md §3.3 (detection) and §5 (columns).

Detection follows Canvas exactly: only the header row counts, cells are lowercased but *not*
trimmed (`" login_id"` matches nothing), and the first type in `IMPORT_ORDER` whose test
passes wins. The file name plays no part.
"""

from __future__ import annotations

from collections.abc import Iterable

from sis_watcher.canvas.csv_rules import (
    LOGIN_KEYS,
    CsvType,
    abstract_course_test,
    enrollment_test,
    has_all,
    has_any,
    institutional_tag_category_test,
    user_test,
)

IMPORT_ORDER: tuple[CsvType, ...] = (
    CsvType(
        name="change_sis_id",
        plural="change_sis_ids",
        detect=has_any("old_id", "old_integration_id"),
        required=(("old_id", "old_integration_id"), ("new_id", "new_integration_id"), ("type",)),
        statuses=(),
        status_required=False,
    ),
    CsvType(
        name="account",
        plural="accounts",
        detect=has_all("account_id", "parent_account_id"),
        required=(("account_id",), ("parent_account_id",), ("name",), ("status",)),
        optional=("integration_id",),
        blank_allowed=("parent_account_id",),
    ),
    CsvType(
        name="term",
        plural="terms",
        detect=has_all("term_id", "name"),
        required=(("term_id",), ("name",), ("status",)),
        optional=("integration_id", "date_override_enrollment_type", "start_date", "end_date"),
    ),
    CsvType(
        name="abstract_course",
        plural="abstract_courses",
        detect=abstract_course_test,
        required=(("abstract_course_id",), ("short_name",), ("long_name",), ("status",)),
        optional=("term_id", "account_id", "fallback_account_id", "integration_id"),
    ),
    CsvType(
        name="course",
        plural="courses",
        detect=has_all("course_id", "short_name"),
        required=(("course_id",), ("short_name",), ("long_name",), ("status",)),
        optional=(
            "account_id",
            "term_id",
            "integration_id",
            "start_date",
            "end_date",
            "course_format",
            "blueprint_course_id",
            "grade_passback_setting",
            "homeroom_course",
            "friendly_name",
            "abstract_course_id",
            "fallback_account_id",
        ),
        statuses=("active", "deleted", "completed", "unpublished", "published"),
    ),
    CsvType(
        name="section",
        plural="sections",
        detect=has_all("section_id", "name"),
        required=(("section_id",), ("course_id",), ("name",), ("status",)),
        optional=("integration_id", "start_date", "end_date"),
    ),
    CsvType(
        name="xlist",
        plural="xlists",
        detect=has_all("xlist_course_id", "section_id"),
        required=(("xlist_course_id",), ("section_id",), ("status",)),
    ),
    CsvType(
        name="user",
        plural="users",
        detect=user_test,
        required=(("user_id",), ("login_id",), ("status",)),
        optional=(
            "integration_id",
            "password",
            "ssha_password",
            "authentication_provider_id",
            "first_name",
            "last_name",
            "full_name",
            "sortable_name",
            "short_name",
            "email",
            "pronouns",
            "declared_user_type",
            "canvas_password_notification",
            "home_account",
        ),
        statuses=("active", "suspended", "deleted"),
    ),
    CsvType(
        name="login",
        plural="logins",
        detect=has_any(*LOGIN_KEYS),
        required=(("user_id",), ("login_id",), LOGIN_KEYS),
        optional=(
            "root_account",
            "integration_id",
            "password",
            "ssha_password",
            "authentication_provider_id",
            "email",
        ),
        statuses=(),
        status_required=False,
    ),
    CsvType(
        name="enrollment",
        plural="enrollments",
        detect=enrollment_test,
        required=(
            ("course_id", "section_id"),
            ("user_id", "user_integration_id"),
            ("role", "role_id"),
            ("status",),
        ),
        optional=(
            "root_account",
            "start_date",
            "end_date",
            "associated_user_id",
            "limit_section_privileges",
            "notify",
            "temporary_enrollment_source_user_id",
        ),
        statuses=("active", "deleted", "completed", "inactive", "deleted_last_completed"),
    ),
    CsvType(
        name="admin",
        plural="admins",
        detect=has_all("account_id", "user_id"),
        required=(("user_id",), ("account_id",), ("role", "role_id"), ("status",)),
        optional=("root_account",),
        blank_allowed=("account_id",),
    ),
    CsvType(
        name="group_category",
        plural="group_categories",
        detect=has_all("group_category_id", "category_name"),
        required=(("group_category_id",), ("category_name",), ("status",)),
        optional=("account_id", "course_id"),
    ),
    CsvType(
        name="group",
        plural="groups",
        detect=has_all("group_id", "name"),
        required=(("group_id",), ("name",), ("status",)),
        optional=("group_category_id", "account_id", "course_id"),
        statuses=("available", "deleted", "closed", "completed"),
    ),
    CsvType(
        name="group_membership",
        plural="group_memberships",
        detect=has_all("group_id", "user_id"),
        required=(("group_id",), ("user_id",), ("status",)),
        statuses=("accepted", "deleted"),
    ),
    CsvType(
        name="grade_publishing_results",
        plural="grade_publishing_results",
        detect=has_all("enrollment_id", "grade_publishing_status"),
        required=(("enrollment_id",), ("grade_publishing_status",)),
        optional=("message",),
        statuses=(),
        status_required=False,
    ),
    CsvType(
        name="user_observer",
        plural="user_observers",
        detect=has_all("observer_id", "student_id"),
        required=(("observer_id",), ("student_id",), ("status",)),
    ),
    CsvType(
        name="differentiation_tag_set",
        plural="differentiation_tag_sets",
        detect=has_all("tag_set_id", "set_name"),
        required=(("tag_set_id",), ("course_id",), ("set_name",), ("status",)),
    ),
    CsvType(
        name="differentiation_tag",
        plural="differentiation_tags",
        detect=has_all("tag_id", "name"),
        required=(("tag_id",), ("name",), ("status",)),
        optional=("tag_set_id", "course_id"),
        statuses=("available", "deleted"),
    ),
    CsvType(
        name="differentiation_tag_membership",
        plural="differentiation_tag_memberships",
        detect=has_all("tag_id", "user_id"),
        required=(("tag_id",), ("user_id",), ("status",)),
        statuses=("accepted", "deleted"),
    ),
    CsvType(
        name="institutional_tag_category",
        plural="institutional_tag_categories",
        detect=institutional_tag_category_test,
        required=(("category_id",), ("name",), ("status",)),
        optional=("description",),
    ),
    CsvType(
        name="institutional_tag",
        plural="institutional_tags",
        detect=has_all("institutional_tag_id", "category_id", "name"),
        required=(("institutional_tag_id",), ("category_id",), ("name",), ("status",)),
        optional=("description",),
    ),
    CsvType(
        name="institutional_tag_association",
        plural="institutional_tag_associations",
        detect=has_all("institutional_tag_id", "user_id"),
        required=(("institutional_tag_id",), ("user_id",), ("status",)),
    ),
)


BY_NAME: dict[str, CsvType] = {csv_type.name: csv_type for csv_type in IMPORT_ORDER}


# Every column some importer reads: a header cell outside this set is ignored by Canvas.
KNOWN_COLUMNS: frozenset[str] = frozenset().union(*(csv_type.known_columns for csv_type in IMPORT_ORDER))


def normalise_header(cells: Iterable[str]) -> list[str]:
    """Lowercase header cells the way Canvas does: downcased, never trimmed."""
    return [cell.lower() for cell in cells]


def detect(cells: Iterable[str]) -> CsvType | None:
    """
    Return the importer Canvas would pick for a header row, or None.

    None is Canvas's "Couldn't find Canvas CSV import headers". `cells` are the raw header
    cells; a leading BOM must already be removed.
    """
    header = frozenset(normalise_header(cells))
    for csv_type in IMPORT_ORDER:
        if csv_type.detect(header):
            return csv_type
    return None
