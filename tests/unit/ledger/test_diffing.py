"""Unit tests of diffing in the preview: what Canvas drops from a data set when the batch lacks it."""

from __future__ import annotations

import pytest

from sis_watcher.ledger.apply import apply_batch
from sis_watcher.ledger.changes import TypeChanges
from sis_watcher.ledger.scope import ImportScope

from unit.ledger.helpers import APPLIED_AT, Batches, keys_of

USERS = ("user_id", "login_id", "status")
COURSES = ("course_id", "short_name", "long_name", "status")
X = ImportScope(data_set="X")
Y = ImportScope(data_set="Y")


def users(*numbers: int) -> list[tuple[str, ...]]:
    return [USERS, *((f"u{n}", f"l{n}", "active") for n in numbers)]


@pytest.fixture
def two_data_sets(batches: Batches) -> Batches:
    """u1, u2, u3 and course c1 last sent with data set X; u4 with data set Y."""
    batches.send(
        {"users.csv": users(1, 2, 3), "courses.csv": [COURSES, ("c1", "C1", "Course 1", "active")]}, scope=X
    )
    batches.send({"users.csv": users(4)}, scope=Y)
    return batches


def test_a_first_batch_of_a_data_set_drops_nothing(batches):
    """A data set with no rows in the ledger yet has nothing to drop, even beside another data set's rows."""
    batches.send({"users.csv": users(1, 2)}, scope=X)

    changes = batches.preview({"users.csv": users(9)}, scope=Y).changes

    assert TypeChanges(added=1, ledger_rows=2) == changes.by_type["user"]


def test_rows_of_the_same_data_set_the_batch_lacks_are_dropped(two_data_sets):
    """u3 was sent with data set X and this X batch lacks it: dropped; u4 of data set Y is not."""
    changes = two_data_sets.preview({"users.csv": users(1, 2)}, scope=X).changes

    assert TypeChanges(unchanged=2, dropped=1, ledger_rows=4) == changes.by_type["user"]


def test_the_dropped_rows_leave_the_ledger(two_data_sets, ledger):
    """Applied, the X batch removes u3 and keeps Y's u4."""
    two_data_sets.send({"users.csv": users(1, 2)}, scope=X)

    assert {"u1", "u2", "u4"} == keys_of(ledger, "user")


def test_rows_of_another_data_set_are_not_dropped(two_data_sets):
    """A Y batch lacking u1, u2 and u3 drops none of them: they belong to X."""
    changes = two_data_sets.preview({"users.csv": users(4, 5)}, scope=Y).changes

    assert TypeChanges(added=1, unchanged=1, ledger_rows=4) == changes.by_type["user"]


def test_a_type_the_batch_does_not_supply_is_not_dropped(two_data_sets):
    """An X batch of users only leaves X's courses alone."""
    changes = two_data_sets.preview({"users.csv": users(1, 2, 3)}, scope=X).changes

    assert ["user"] == list(changes.by_type)
    assert 0 == changes.by_type["user"].dropped


def test_without_a_data_set_nothing_is_dropped(two_data_sets):
    """A batch sent without diffing drops nothing, whatever it lacks."""
    changes = two_data_sets.preview({"users.csv": users(1)}).changes

    assert TypeChanges(unchanged=1, ledger_rows=4) == changes.by_type["user"]


def test_a_row_sent_with_another_data_set_moves_to_it(two_data_sets, ledger):
    """u4, sent unchanged in an X batch, belongs to X afterwards: an X batch lacking it drops it, a Y batch does not."""
    two_data_sets.send({"users.csv": users(1, 2, 3, 4)}, scope=X)

    from_y = two_data_sets.preview({"users.csv": users(5)}, scope=Y).changes
    from_x = two_data_sets.preview({"users.csv": users(1, 2, 3)}, scope=X).changes

    assert 0 == from_y.by_type["user"].dropped
    assert 1 == from_x.by_type["user"].dropped


def test_a_deleted_row_of_the_data_set_is_deleted_not_dropped(two_data_sets):
    """A row the X batch sends with status deleted counts as deleted; only the lacking u3 is dropped."""
    table = [*users(1), ("u2", "l2", "deleted")]

    changes = two_data_sets.preview({"users.csv": table}, scope=X).changes

    assert TypeChanges(unchanged=1, deleted=1, dropped=1, ledger_rows=4) == changes.by_type["user"]


def test_a_whole_file_applied_drops_nothing(two_data_sets, ledger):
    """When Canvas applied the file whole (diffing threshold exceeded), the rows diffing would drop stay."""
    previewed = two_data_sets.preview({"users.csv": users(1, 2)}, scope=X)

    assert apply_batch(
        ledger,
        previewed.batch_id,
        batch_dir=previewed.folder,
        errored=[],
        applied_at=APPLIED_AT,
        whole_file_applied=True,
    )
    assert {"u1", "u2", "u3", "u4"} == keys_of(ledger, "user")
