"""
The shape of one Canvas SIS importer's rules (`CsvType`) and the header tests it detects by.

The table of every importer, in Canvas's order, is `csv_types.IMPORT_ORDER`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

Header = frozenset[str]


def has_all(*names: str) -> Callable[[Header], bool]:
    """Return a test true when the header has every one of `names`."""
    return lambda header: all(name in header for name in names)


def has_any(*names: str) -> Callable[[Header], bool]:
    """Return a test true when the header has at least one of `names`."""
    return lambda header: any(name in header for name in names)


@dataclass(frozen=True, slots=True, kw_only=True)
class CsvType:
    """
    One Canvas SIS importer.

    `name` is Canvas's singular importer name (as in `data.supplied_batches`), `plural` its key
    in `data.counts`. `required` is a tuple of alternatives: each inner tuple needs at least one
    of its columns present (and non-empty in every row). `statuses` are the accepted values of
    the `status` column, matched like Canvas: case-insensitive prefix.
    """

    name: str
    plural: str
    detect: Callable[[Header], bool]
    required: tuple[tuple[str, ...], ...]
    optional: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ("active", "deleted")
    status_required: bool = True
    blank_allowed: tuple[str, ...] = ()

    def missing_columns(self, header: Iterable[str]) -> list[str]:
        """Return the required column groups absent from `header`, as `a or b` strings."""
        present = set(header)
        return [" or ".join(group) for group in self.required if not present.intersection(group)]

    def status_is_valid(self, value: str) -> bool:
        """Return True if Canvas would accept `value` as a status (case-insensitive prefix)."""
        lowered = value.lower()
        return any(lowered.startswith(status) for status in self.statuses)

    @property
    def known_columns(self) -> frozenset[str]:
        """Every column this importer reads."""
        names = {column for group in self.required for column in group}
        return frozenset(names | set(self.optional) | {"status"})


def abstract_course_test(header: Header) -> bool:
    """abstract_course: `abstract_course_id` and `short_name`, and no `course_id`."""
    return "abstract_course_id" in header and "short_name" in header and "course_id" not in header


LOGIN_KEYS = ("existing_user_id", "existing_integration_id", "existing_canvas_user_id")


def user_test(header: Header) -> bool:
    """user: `user_id` and `login_id`, and none of the login importer's `existing_*` keys."""
    return "user_id" in header and "login_id" in header and not any(key in header for key in LOGIN_KEYS)


def enrollment_test(header: Header) -> bool:
    """enrollment: (`section_id` or `course_id`) and (`user_id` or `user_integration_id`)."""
    return ("section_id" in header or "course_id" in header) and (
        "user_id" in header or "user_integration_id" in header
    )


def institutional_tag_category_test(header: Header) -> bool:
    """institutional_tag_category: `category_id` and `name`, no `tag_id`/`institutional_tag_id`."""
    return (
        "category_id" in header
        and "name" in header
        and "tag_id" not in header
        and "institutional_tag_id" not in header
    )
