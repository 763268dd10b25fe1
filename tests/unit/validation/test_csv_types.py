"""The csv_types additions the validator relies on: name hints and the known-column set."""

from __future__ import annotations

import pytest

from sis_watcher.canvas.csv_names import type_suggested_by_name, zip_member_is_ignored
from sis_watcher.canvas.csv_types import IMPORT_ORDER, KNOWN_COLUMNS


@pytest.mark.parametrize(
    ("file_name", "expected"),
    [
        ("differentiation_tag_membership.csv", "differentiation_tag_membership"),
        ("differentiation_tag_sets.csv", "differentiation_tag_set"),
        ("differentiation_tags.csv", "differentiation_tag"),
        ("institutional_tag_categories.csv", "institutional_tag_category"),
        ("institutional_tag_associations.csv", "institutional_tag_association"),
        ("institutional_tags.csv", "institutional_tag"),
        ("groups_membership.csv", "group_membership"),
        ("enrollments_2026.csv", "enrollment"),
        ("export.csv", None),
    ],
)
def test_name_hints(file_name, expected):
    """Export names suggest their type, most specific fragment first."""
    assert expected == type_suggested_by_name(file_name)


def test_known_columns_cover_every_importer():
    """Every column any importer reads is a known column, and nothing else is."""
    assert KNOWN_COLUMNS == frozenset().union(*(csv_type.known_columns for csv_type in IMPORT_ORDER))
    assert {"user_id", "status", "section_id", "tag_set_id"} <= KNOWN_COLUMNS
    assert "notes" not in KNOWN_COLUMNS


@pytest.mark.parametrize("name", ["", "/", "__MACOSX/x.csv", "a/.hidden.csv", "desktop.ini"])
def test_members_canvas_ignores(name):
    """Empty names, __MACOSX, dot-files and desktop files are skipped by Canvas."""
    assert zip_member_is_ignored(name)
