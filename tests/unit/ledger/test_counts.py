"""Unit tests of the preview's counts for every keyed CSV type: a first batch, then one that changes it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from sis_watcher.ledger.changes import TypeChanges
from sis_watcher.ledger.identity import key_of, readable_key

from unit.ledger.helpers import Table, keys_of, rows_of

Make = Callable[[int, str, str], list[str]]  # (row number, a value that may change, status) -> cells


@dataclass(frozen=True, slots=True)
class Kind:
    """One CSV type as the tests write it: a header and rows made from a number, a value and a status."""

    csv_type: str
    file: str
    header: tuple[str, ...]
    make: Make
    key_of_first: str  # the ledger's key (as people read it) of row 1
    active: str = "active"
    changes: str | None = None  # the column the second batch changes (None: only key columns)
    deletes: bool = True  # False: the type has no status that deletes (logins are forced active)

    def table(self, *rows: tuple[int, str, str]) -> Table:
        return [self.header, *(self.make(number, value, status) for number, value, status in rows)]

    def __str__(self) -> str:
        return self.csv_type


KINDS = [
    Kind(
        csv_type="user",
        file="users.csv",
        header=("user_id", "login_id", "first_name", "status"),
        make=lambda n, v, s: [f"u{n}", f"l{n}", v, s],
        key_of_first="u1",
        changes="first_name",
    ),
    Kind(
        csv_type="login",
        file="logins.csv",
        header=("user_id", "login_id", "existing_user_id", "email"),
        make=lambda n, v, _s: [f"u{n}", f"l{n}", f"x{n}", v],
        key_of_first="u1|l1",
        changes="email",
        deletes=False,
    ),
    Kind(
        csv_type="account",
        file="accounts.csv",
        header=("account_id", "parent_account_id", "name", "status"),
        make=lambda n, v, s: [f"a{n}", "", v, s],
        key_of_first="a1",
        changes="name",
    ),
    Kind(
        csv_type="term",
        file="terms.csv",
        header=("term_id", "name", "status"),
        make=lambda n, v, s: [f"t{n}", v, s],
        key_of_first="t1",
        changes="name",
    ),
    Kind(
        csv_type="abstract_course",
        file="abstract_courses.csv",
        header=("abstract_course_id", "short_name", "long_name", "status"),
        make=lambda n, v, s: [f"ac{n}", "short", v, s],
        key_of_first="ac1",
        changes="long_name",
    ),
    Kind(
        csv_type="course",
        file="courses.csv",
        header=("course_id", "short_name", "long_name", "term_id", "status"),
        make=lambda n, v, s: [f"c{n}", "short", v, "T1", s],
        key_of_first="c1",
        changes="long_name",
    ),
    Kind(
        csv_type="section",
        file="sections.csv",
        header=("section_id", "course_id", "name", "status"),
        make=lambda n, v, s: [f"s{n}", "c1", v, s],
        key_of_first="s1",
        changes="name",
    ),
    Kind(
        csv_type="xlist",
        file="xlists.csv",
        header=("xlist_course_id", "section_id", "status"),
        make=lambda n, v, s: [f"c-{v}", f"s{n}", s],
        key_of_first="s1",
        changes="xlist_course_id",
    ),
    Kind(
        csv_type="enrollment",
        file="enrollments.csv",
        header=("course_id", "user_id", "role", "start_date", "status"),
        make=lambda n, v, s: ["c1", f"u{n}", "student", v, s],
        key_of_first="course:c1|u1|student",
        changes="start_date",
    ),
    Kind(
        csv_type="admin",
        file="admins.csv",
        header=("user_id", "account_id", "role", "root_account", "status"),
        make=lambda n, v, s: [f"u{n}", "a1", "AccountAdmin", v, s],
        key_of_first="u1|a1|AccountAdmin",
        changes="root_account",
    ),
    Kind(
        csv_type="group_category",
        file="group_categories.csv",
        header=("group_category_id", "category_name", "status"),
        make=lambda n, v, s: [f"gc{n}", v, s],
        key_of_first="gc1",
        changes="category_name",
    ),
    Kind(
        csv_type="group",
        file="groups.csv",
        header=("group_id", "name", "status"),
        make=lambda n, v, s: [f"g{n}", v, s],
        key_of_first="g1",
        active="available",
        changes="name",
    ),
    Kind(
        csv_type="group_membership",
        file="group_memberships.csv",
        header=("group_id", "user_id", "status"),
        make=lambda n, _v, s: ["g1", f"u{n}", s],
        key_of_first="g1|u1",
        active="accepted",
    ),
    Kind(
        csv_type="grade_publishing_results",
        file="grade_publishing_results.csv",
        header=("enrollment_id", "grade_publishing_status", "message"),
        make=lambda n, v, _s: [f"e{n}", "published", v],
        key_of_first="e1",
        changes="message",
        deletes=False,
    ),
    Kind(
        csv_type="user_observer",
        file="user_observers.csv",
        header=("observer_id", "student_id", "status"),
        make=lambda n, _v, s: ["o1", f"st{n}", s],
        key_of_first="o1|st1",
    ),
    Kind(
        csv_type="differentiation_tag_set",
        file="differentiation_tag_sets.csv",
        header=("tag_set_id", "course_id", "set_name", "status"),
        make=lambda n, v, s: [f"ts{n}", "c1", v, s],
        key_of_first="ts1",
        changes="set_name",
    ),
    Kind(
        csv_type="differentiation_tag",
        file="differentiation_tags.csv",
        header=("tag_id", "name", "status"),
        make=lambda n, v, s: [f"tag{n}", v, s],
        key_of_first="tag1",
        active="available",
        changes="name",
    ),
    Kind(
        csv_type="differentiation_tag_membership",
        file="differentiation_tag_memberships.csv",
        header=("tag_id", "user_id", "status"),
        make=lambda n, _v, s: ["tag1", f"u{n}", s],
        key_of_first="tag1|u1",
        active="accepted",
    ),
    Kind(
        csv_type="institutional_tag_category",
        file="institutional_tag_categories.csv",
        header=("category_id", "name", "status"),
        make=lambda n, v, s: [f"cat{n}", v, s],
        key_of_first="cat1",
        changes="name",
    ),
    Kind(
        csv_type="institutional_tag",
        file="institutional_tags.csv",
        header=("institutional_tag_id", "category_id", "name", "status"),
        make=lambda n, v, s: [f"it{n}", "cat1", v, s],
        key_of_first="it1",
        changes="name",
    ),
    Kind(
        csv_type="institutional_tag_association",
        file="institutional_tag_associations.csv",
        header=("institutional_tag_id", "user_id", "status"),
        make=lambda n, _v, s: ["it1", f"u{n}", s],
        key_of_first="it1|u1",
    ),
]


def key_of_row(kind: Kind, number: int) -> str:
    """Return the key (as people read it) of row `number` as the tests write it."""
    key = key_of(kind.csv_type, dict(zip(kind.header, kind.make(number, "one", kind.active), strict=True)))
    assert key is not None
    return readable_key(key)


def first_batch(kind: Kind) -> Table:
    return kind.table(*((number, "one", kind.active) for number in (1, 2, 3)))


def second_batch(kind: Kind) -> Table:
    """Row 1 as before, row 2 changed (where the type has a column to change), row 3 deleted, row 4 new."""
    rows = [(1, "one", kind.active), (2, "two", kind.active)]
    rows += [(3, "one", "deleted")] if kind.deletes else []
    return kind.table(*rows, (4, "one", kind.active))


@pytest.mark.parametrize("kind", KINDS, ids=str)
class TestEveryKeyedType:
    def test_a_first_batch_adds_every_row_and_records_it_by_its_key(self, batches, ledger, kind):
        """Into an empty ledger every row is added; once applied, the ledger holds each row by its key."""
        changes = batches.send({kind.file: first_batch(kind)})

        assert {kind.csv_type: TypeChanges(added=3)} == changes.by_type
        assert {key_of_row(kind, number) for number in (1, 2, 3)} == keys_of(ledger, kind.csv_type)
        assert kind.key_of_first == key_of_row(kind, 1)

    def test_a_second_batch_counts_added_updated_unchanged_and_deleted(self, batches, kind):
        """Against the ledger: a new key is added, a changed value updated, the same row unchanged, a deleted status deleted."""
        batches.send({kind.file: first_batch(kind)})

        changes = batches.send({kind.file: second_batch(kind)})

        changed = 1 if kind.changes else 0
        expected = TypeChanges(
            added=1,
            updated=changed,
            unchanged=2 - changed,
            deleted=1 if kind.deletes else 0,
            dropped=0,
            ledger_rows=3,
        )
        assert expected == changes.by_type[kind.csv_type]

    def test_applying_the_second_batch_leaves_the_rows_canvas_has(self, batches, ledger, kind):
        """After the second batch the deleted row is gone, the new one is there and a changed value is recorded."""
        batches.send({kind.file: first_batch(kind)})
        batches.send({kind.file: second_batch(kind)})

        rows = rows_of(ledger, kind.csv_type)
        expected = {key_of_row(kind, number) for number in ((1, 2, 4) if kind.deletes else (1, 2, 3, 4))}
        assert expected == set(rows)
        if kind.changes is not None:
            written = dict(zip(kind.header, kind.make(2, "two", kind.active), strict=True))
            assert written[kind.changes] == rows[key_of_row(kind, 2)][kind.changes]

    def test_the_same_batch_again_is_all_unchanged(self, batches, kind):
        """A batch sent again byte for byte changes nothing."""
        batches.send({kind.file: first_batch(kind)})

        changes = batches.send({kind.file: first_batch(kind)})

        assert TypeChanges(unchanged=3, ledger_rows=3) == changes.by_type[kind.csv_type]
        assert not changes.changes_anything


def test_change_sis_id_rows_are_counted_but_never_stored(batches, ledger):
    """change_sis_id has no key: its rows count as added every time and the ledger keeps none of them."""
    table = [("old_id", "new_id", "type"), ("u1", "u1-new", "user"), ("c1", "c1-new", "course")]

    first = batches.send({"change_sis_ids.csv": table})
    second = batches.send({"change_sis_ids.csv": table})

    assert TypeChanges(added=2) == first.by_type["change_sis_id"]
    assert TypeChanges(added=2) == second.by_type["change_sis_id"]
    assert 0 == ledger.row_count("change_sis_id")
