"""Unit tests for `sis_watcher.ledger.identity`: each CSV type's key, statuses and values as Canvas reads them."""

from __future__ import annotations

import pytest

from sis_watcher.ledger.identity import clean, is_deleted, key_of, readable_key


def key(csv_type: str, **values: str) -> str | None:
    found = key_of(csv_type, values)
    return readable_key(found) if found is not None else None


@pytest.mark.parametrize(
    ("csv_type", "values", "expected"),
    [
        ("user", {"user_id": "u1", "login_id": "l1"}, "u1"),
        ("login", {"user_id": "u1", "login_id": "l1", "existing_user_id": "x"}, "u1|l1"),
        ("account", {"account_id": "a1", "parent_account_id": "a0"}, "a1"),
        ("term", {"term_id": "T1", "name": "Fall"}, "T1"),
        ("course", {"course_id": "c1", "term_id": "T1"}, "c1"),
        ("section", {"section_id": "s1", "course_id": "c1"}, "s1"),
        ("xlist", {"xlist_course_id": "c2", "section_id": "s1"}, "s1"),
        ("group", {"group_id": "g1", "group_category_id": "gc1"}, "g1"),
        ("group_membership", {"group_id": "g1", "user_id": "u1"}, "g1|u1"),
        ("group_category", {"group_category_id": "gc1", "category_name": "n"}, "gc1"),
        ("user_observer", {"observer_id": "o1", "student_id": "s1"}, "o1|s1"),
        ("abstract_course", {"abstract_course_id": "ac1", "short_name": "n"}, "ac1"),
        ("grade_publishing_results", {"enrollment_id": "e1", "grade_publishing_status": "ok"}, "e1"),
        ("change_sis_id", {"old_id": "u1", "new_id": "u2", "type": "user"}, None),
    ],
)
def test_each_type_is_keyed_by_its_identifying_columns(csv_type, values, expected):
    """A row's key is made of its type's identifying columns (change_sis_id has none)."""
    assert expected == key(csv_type, **values)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (
            {"section_id": "s1", "course_id": "c1", "user_id": "u1", "role": "student"},
            "section:s1|u1|student",
        ),
        ({"course_id": "c1", "user_id": "u1", "role": "student"}, "course:c1|u1|student"),
        ({"section_id": "s1", "user_id": "u1", "role": "Student"}, "section:s1|u1|student"),
        (
            {"section_id": "s1", "user_id": "u1", "user_integration_id": "i1", "role": "student"},
            "section:s1|integration:i1|student",
        ),
        ({"section_id": "s1", "user_id": "u1", "role": "ta", "role_id": "9"}, "section:s1|u1|role_id:9"),
        (
            {"section_id": "s1", "user_id": "u1", "role": "observer", "associated_user_id": "u2"},
            "section:s1|u1|observer|u2",
        ),
        (
            {"section_id": "s1", "user_id": "u1", "role": "student", "associated_user_id": "u2"},
            "section:s1|u1|student",
        ),
        (
            {
                "section_id": "s1",
                "user_id": "u1",
                "role": "teacher",
                "temporary_enrollment_source_user_id": "u3",
            },
            "section:s1|u1|teacher||u3",
        ),
        ({"user_id": "u1", "role": "student"}, None),
        ({"section_id": "s1", "role": "student"}, None),
    ],
)
def test_an_enrollment_is_keyed_by_place_user_role_and_associated_users(values, expected):
    """Section (else course), user (integration id first), role (role_id first), observee for observers, temporary source."""
    assert expected == key("enrollment", **values)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"user_id": "u1", "account_id": "a1", "role": "AccountAdmin"}, "u1|a1|AccountAdmin"),
        ({"user_id": "u1", "role": "AccountAdmin"}, "u1|root|AccountAdmin"),
        ({"user_id": "u1", "account_id": "a1", "role": "AccountAdmin", "role_id": "7"}, "u1|a1|role_id:7"),
        ({"account_id": "a1", "role": "AccountAdmin"}, None),
    ],
)
def test_an_admin_is_keyed_by_user_account_and_role(values, expected):
    """An admin's key is user, account (blank is the root account) and role (by id first)."""
    assert expected == key("admin", **values)


def test_two_roles_of_one_admin_are_two_rows():
    """The same user as two roles in one account is two keys, since the role is part of the identity."""
    assert key("admin", user_id="u1", role="A") != key("admin", user_id="u1", role="B")


def test_a_row_lacking_its_first_key_column_has_no_key():
    """A row without its mandatory key column is not keyed."""
    assert None is key("group_membership", user_id="u1")


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("deleted", True),
        ("Deleted", True),
        ("DELETED", True),
        ("deleted_last_completed", True),
        ("active", False),
    ],
)
def test_a_status_starting_with_deleted_deletes(status, expected):
    """Any status beginning with `deleted`, in any case, asks Canvas to delete the object."""
    assert expected == is_deleted({"status": status})


def test_a_row_without_a_status_is_not_deleted():
    """No status column means no deletion."""
    assert not is_deleted({})


@pytest.mark.parametrize(
    ("value", "expected"),
    [(" x ", "x"), ("x\t\r\n", "x"), ("", None), ("  ", None), ("\x00", None), (None, None)],
)
def test_values_are_read_stripped_and_blank_is_absent(value, expected):
    """A value is stripped of Ruby's whitespace; a blank value is no value."""
    assert expected == clean(value)
