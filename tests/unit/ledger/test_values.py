"""Unit tests of how the preview reads values: statuses, padding, blanks, duplicate keys, a first batch, skip_deletes."""

from __future__ import annotations

import pytest

from sis_watcher.ledger.changes import TypeChanges
from sis_watcher.ledger.scope import ImportScope

from unit.ledger.helpers import Batches, Table, keys_of, preview_folder, rows_of

USERS = ("user_id", "login_id", "first_name", "email", "status")
LOGINS = ("user_id", "login_id", "existing_user_id", "status")
BASE = [USERS, ("u1", "l1", "Ada", "ada@x.edu", "active"), ("u2", "l2", "Bo", "bo@x.edu", "active")]


@pytest.fixture
def known(batches: Batches) -> Batches:
    """A ledger holding users u1 (Ada) and u2 (Bo)."""
    batches.send({"users.csv": BASE})
    return batches


class TestDeletedStatus:
    @pytest.mark.parametrize("status", ["deleted", "Deleted", "DELETED", " deleted "])
    def test_a_known_row_with_a_deleted_status_is_deleted_and_removed(self, known, ledger, status):
        """A deleted status, in any case and padded, counts the row deleted and removes it from the ledger."""
        table = [*BASE[:2], ("u2", "l2", "Bo", "bo@x.edu", status)]

        changes = known.send({"users.csv": table})

        assert TypeChanges(unchanged=1, deleted=1, ledger_rows=2) == changes.by_type["user"]
        assert {"u1"} == keys_of(ledger, "user")

    @pytest.mark.parametrize("status", ["deleted", "Deleted"])
    def test_a_new_type_counts_its_deleted_rows_deleted_and_keeps_none(self, batches, ledger, status):
        """In a first batch, a row whose status deletes counts as deleted, not added, and is not recorded."""
        table = [*BASE, ("u3", "l3", "Cy", "", status)]

        changes = batches.send({"users.csv": table})

        assert TypeChanges(added=2, deleted=1) == changes.by_type["user"]
        assert {"u1", "u2"} == keys_of(ledger, "user")

    def test_deleting_a_key_the_ledger_lacks_still_counts_deleted(self, known, ledger):
        """A deleted row of a key the ledger does not hold is a deletion Canvas is asked for."""
        table = [*BASE, ("u9", "l9", "", "", "deleted")]

        changes = known.send({"users.csv": table})

        assert TypeChanges(unchanged=2, deleted=1, ledger_rows=2) == changes.by_type["user"]
        assert {"u1", "u2"} == keys_of(ledger, "user")

    def test_logins_are_never_deleted_in_a_first_batch(self, batches, ledger):
        """Canvas forces logins active: a first batch's login with status deleted is added and recorded."""
        table = [LOGINS, ("u1", "l1", "x1", "active"), ("u2", "l2", "x2", "deleted")]

        changes = batches.send({"logins.csv": table})

        assert TypeChanges(added=2) == changes.by_type["login"]
        assert {"u1|l1", "u2|l2"} == keys_of(ledger, "login")

    def test_logins_are_never_deleted_against_the_ledger(self, batches, ledger):
        """A known login sent with status deleted is not counted deleted and stays in the ledger."""
        batches.send({"logins.csv": [LOGINS, ("u1", "l1", "x1", "active"), ("u2", "l2", "x2", "active")]})

        changes = batches.send(
            {"logins.csv": [LOGINS, ("u1", "l1", "x1", "active"), ("u2", "l2", "x2", "Deleted")]}
        )

        assert 0 == changes.by_type["login"].deleted
        assert {"u1|l1", "u2|l2"} == keys_of(ledger, "login")


class TestSkipDeletes:
    def test_deleted_rows_of_a_known_type_are_skipped(self, known, ledger):
        """With skip_deletes a deleted row is neither deleted nor anything else, and the ledger keeps the row."""
        table = [*BASE[:2], ("u2", "l2", "Bo", "bo@x.edu", "deleted")]

        changes = known.send({"users.csv": table}, scope=ImportScope(skip_deletes=True))

        assert TypeChanges(unchanged=1, ledger_rows=2) == changes.by_type["user"]
        assert {"u1", "u2"} == keys_of(ledger, "user")

    def test_deleted_rows_of_a_new_type_are_skipped(self, batches, ledger):
        """With skip_deletes a first batch's deleted rows are not counted and not recorded."""
        table = [*BASE, ("u3", "l3", "Cy", "", "deleted")]

        changes = batches.send({"users.csv": table}, scope=ImportScope(skip_deletes=True))

        assert TypeChanges(added=2) == changes.by_type["user"]
        assert {"u1", "u2"} == keys_of(ledger, "user")


class TestPaddingAndBlanks:
    @pytest.mark.parametrize(
        ("before", "after"),
        [("Ada", " Ada "), (" Ada ", "Ada"), ("Ada", "Ada\t"), ("Ada", "\x00Ada")],
        ids=["padded now", "padded before", "tab", "nul"],
    )
    def test_a_padded_value_equals_the_stripped_one(self, batches, before, after):
        """Values are compared stripped: " x " is the same value as "x"."""
        batches.send({"users.csv": [USERS, ("u1", "l1", before, "", "active")]})

        changes = batches.send({"users.csv": [USERS, ("u1", "l1", after, "", "active")]})

        assert TypeChanges(unchanged=1, ledger_rows=1) == changes.by_type["user"]

    def test_padding_the_key_finds_the_same_row(self, known):
        """A key padded with spaces is the same key."""
        table = [
            USERS,
            (" u1 ", "l1", "Ada", "ada@x.edu", "active"),
            ("u2\t", "l2", "Bo", "bo@x.edu", "active"),
        ]

        changes = known.preview({"users.csv": table}).changes

        assert TypeChanges(unchanged=2, ledger_rows=2) == changes.by_type["user"]

    def test_another_value_is_an_update(self, known):
        """A supplied column with another value updates the row."""
        table = [*BASE[:2], ("u2", "l2", "Bea", "bo@x.edu", "active")]

        changes = known.preview({"users.csv": table}).changes

        assert TypeChanges(unchanged=1, updated=1, ledger_rows=2) == changes.by_type["user"]

    def test_a_column_the_file_leaves_out_is_not_a_change(self, known, ledger):
        """A file without the email column changes no email, and the ledger keeps the emails it had."""
        table = [
            ("user_id", "login_id", "first_name", "status"),
            ("u1", "l1", "Ada", "active"),
            ("u2", "l2", "Bo", "active"),
        ]

        changes = known.send({"users.csv": table})

        assert TypeChanges(unchanged=2, ledger_rows=2) == changes.by_type["user"]
        assert "ada@x.edu" == rows_of(ledger, "user")["u1"]["email"]

    def test_a_blank_cell_recorded_equals_a_column_left_out(self, batches):
        """A row recorded with a blank email is unchanged by a file without the email column."""
        batches.send({"users.csv": [USERS, ("u1", "l1", "Ada", "", "active")]})

        changes = batches.send(
            {"users.csv": [("user_id", "login_id", "first_name", "status"), ("u1", "l1", "Ada", "active")]}
        )

        assert TypeChanges(unchanged=1, ledger_rows=1) == changes.by_type["user"]

    def test_a_blank_cell_sent_equals_a_column_recorded_absent(self, batches):
        """A row recorded without an email column is unchanged by a file whose email cell is blank."""
        batches.send(
            {"users.csv": [("user_id", "login_id", "first_name", "status"), ("u1", "l1", "Ada", "active")]}
        )

        changes = batches.send({"users.csv": [USERS, ("u1", "l1", "Ada", "  ", "active")]})

        assert TypeChanges(unchanged=1, ledger_rows=1) == changes.by_type["user"]

    def test_a_value_for_a_column_recorded_blank_is_an_update(self, batches):
        """An email where the ledger had none is a change."""
        batches.send({"users.csv": [USERS, ("u1", "l1", "Ada", "", "active")]})

        changes = batches.send({"users.csv": [USERS, ("u1", "l1", "Ada", "ada@x.edu", "active")]})

        assert TypeChanges(updated=1, ledger_rows=1) == changes.by_type["user"]

    def test_columns_in_another_order_and_case_are_the_same_row(self, known):
        """Header names are lowercased and matched by name, so a reordered, upper-case header changes nothing."""
        table = [
            ("STATUS", "Email", "user_id", "login_id", "First_Name"),
            ("active", "ada@x.edu", "u1", "l1", "Ada"),
            ("active", "bo@x.edu", "u2", "l2", "Bo"),
        ]

        changes = known.preview({"users.csv": table}).changes

        assert TypeChanges(unchanged=2, ledger_rows=2) == changes.by_type["user"]

    def test_an_update_from_fewer_columns_keeps_the_others(self, known, ledger):
        """An updated row from a file with fewer columns keeps the ledger's values of the others."""
        table = [
            ("user_id", "login_id", "first_name", "status"),
            ("u1", "l1", "Ada", "active"),
            ("u2", "l2", "Bea", "active"),
        ]

        changes = known.send({"users.csv": table})

        assert TypeChanges(unchanged=1, updated=1, ledger_rows=2) == changes.by_type["user"]
        assert {
            "user_id": "u2",
            "login_id": "l2",
            "first_name": "Bea",
            "email": "bo@x.edu",
            "status": "active",
        } == rows_of(ledger, "user")["u2"]

    def test_blank_and_empty_rows_are_not_rows(self, known, tmp_path):
        """Blank lines and rows of empty cells count as nothing, in a known type and in a new one."""
        text = "user_id,login_id,first_name,email,status\n\nu1,l1,Ada,ada@x.edu,active\n,,,,\n  , ,,,\n"
        folder = tmp_path / "blank"
        folder.mkdir()
        (folder / "users.csv").write_text(text, encoding="utf-8")
        (folder / "logins.csv").write_text(
            "user_id,login_id,existing_user_id\n,,\n\nu1,l1,x1\n", encoding="utf-8"
        )

        changes = preview_folder(known.ledger, folder)

        assert TypeChanges(unchanged=1, ledger_rows=2) == changes.by_type["user"]
        assert TypeChanges(added=1) == changes.by_type["login"]


def duplicate(*first_names: str) -> Table:
    return [
        USERS,
        ("u2", "l2", "Bo", "bo@x.edu", "active"),
        *(("u1", "l1", name, "ada@x.edu", "active") for name in first_names),
    ]


class TestDuplicateKeys:
    @pytest.mark.parametrize(
        ("table", "expected", "recorded"),
        [
            (duplicate("Ann", "Ada"), TypeChanges(unchanged=2, ledger_rows=2), "Ada"),
            (duplicate("Ada", "Ann"), TypeChanges(unchanged=1, updated=1, ledger_rows=2), "Ann"),
            (duplicate("Ann", "Amy"), TypeChanges(unchanged=1, updated=1, ledger_rows=2), "Amy"),
            (duplicate("Ada", "Ada"), TypeChanges(unchanged=2, ledger_rows=2), "Ada"),
            (duplicate("Ann", " Ada "), TypeChanges(unchanged=2, ledger_rows=2), "Ada"),
            (duplicate("Ada", " Ann ", "Ada"), TypeChanges(unchanged=2, ledger_rows=2), "Ada"),
        ],
        ids=[
            "last identical to the ledger",
            "first identical to the ledger",
            "neither identical",
            "both identical",
            "last the same value padded",
            "identical, changed, identical",
        ],
    )
    def test_the_last_row_of_a_key_wins(self, known, ledger, table, expected, recorded):
        """Of a key sent twice in one file only the last row counts, as in Canvas, and it is what the ledger records."""
        changes = known.send({"users.csv": table})

        assert expected == changes.by_type["user"]
        assert recorded == rows_of(ledger, "user")["u1"]["first_name"]

    def test_a_key_deleted_after_an_identical_row_is_deleted(self, known, ledger):
        """A row identical to the ledger's followed by the same key deleted counts deleted, not unchanged."""
        table = [*BASE, ("u1", "l1", "Ada", "ada@x.edu", "deleted")]

        changes = known.send({"users.csv": table})

        assert TypeChanges(unchanged=1, deleted=1, ledger_rows=2) == changes.by_type["user"]
        assert {"u2"} == keys_of(ledger, "user")

    def test_a_key_deleted_then_sent_identical_is_unchanged(self, known, ledger):
        """A deleted row followed by the ledger's row byte for byte leaves the key unchanged and in the ledger."""
        table = [USERS, ("u1", "l1", "Ada", "ada@x.edu", "deleted"), *BASE[1:]]

        changes = known.send({"users.csv": table})

        assert TypeChanges(unchanged=2, ledger_rows=2) == changes.by_type["user"]
        assert {"u1", "u2"} == keys_of(ledger, "user")

    def test_a_new_key_sent_twice_is_added_once_with_its_last_values(self, known, ledger):
        """Two rows of a key the ledger lacks are one addition, recorded with the last row's values."""
        table = [*BASE, ("u3", "l3", "Cy", "", "active"), ("u3", "l3", "Cyd", "", "active")]

        changes = known.send({"users.csv": table})

        assert TypeChanges(added=1, unchanged=2, ledger_rows=2) == changes.by_type["user"]
        assert "Cyd" == rows_of(ledger, "user")["u3"]["first_name"]

    def test_a_first_batch_records_the_last_row_of_a_key(self, batches, ledger):
        """In a first batch, the ledger records the last of two rows of one key."""
        batches.send(
            {"users.csv": [USERS, ("u1", "l1", "Ann", "", "active"), ("u1", "l1", "Ada", "", "active")]}
        )

        assert {"u1": "Ada"} == {key: values["first_name"] for key, values in rows_of(ledger, "user").items()}

    def test_duplicates_across_two_files_of_a_type_keep_the_last(self, known, ledger):
        """Two files of one type are read in order: the key's row in the later file wins."""
        first = [USERS, ("u1", "l1", "Ann", "ada@x.edu", "active")]
        second = [USERS, ("u1", "l1", "Ada", "ada@x.edu", "active")]

        changes = known.send({"users_a.csv": first, "users_b.csv": second})

        assert TypeChanges(unchanged=1, ledger_rows=2) == changes.by_type["user"]
        assert "Ada" == rows_of(ledger, "user")["u1"]["first_name"]


class TestFirstBatch:
    def test_a_first_batch_into_an_empty_ledger(self, batches, ledger):
        """With nothing in the ledger, every type is new: all rows added, no baseline; applied, the ledger holds them."""
        files = {
            "users.csv": BASE,
            "courses.csv": [
                ("course_id", "short_name", "long_name", "status"),
                ("c1", "C1", "Course 1", "active"),
            ],
        }

        previewed = batches.preview(files)
        applied = batches.apply(previewed)

        assert {"user": TypeChanges(added=2), "course": TypeChanges(added=1)} == previewed.changes.by_type
        assert None is previewed.changes.baseline
        assert applied
        assert previewed.batch_id == ledger.last_applied()
        assert {"u1": "Ada", "u2": "Bo"} == {
            key: values["first_name"] for key, values in rows_of(ledger, "user").items()
        }
        assert {"c1"} == keys_of(ledger, "course")

    def test_a_later_batch_names_the_last_applied_as_its_baseline(self, known, ledger):
        """The preview's baseline is the last batch the ledger applied."""
        changes = known.preview({"users.csv": BASE}).changes

        assert ledger.last_applied() == changes.baseline
        assert changes.baseline is not None

    def test_the_types_are_counted_in_canvass_import_order(self, batches):
        """By type, the counts follow Canvas's import order, whatever the files' order."""
        files = {
            "a.csv": [("course_id", "user_id", "role", "status"), ("c1", "u1", "student", "active")],
            "b.csv": BASE,
            "c.csv": [("course_id", "short_name", "long_name", "status"), ("c1", "C1", "Course 1", "active")],
        }

        changes = batches.preview(files).changes

        assert ["course", "user", "enrollment"] == list(changes.by_type)


def test_a_blank_cell_is_no_change_to_a_value_the_ledger_holds(batches):
    """A blank cell is an absent column: Canvas keeps the value, so the row is unchanged."""
    header = ("user_id", "login_id", "email", "status")
    batches.send({"users.csv": [header, *((f"u{n}", f"l{n}", f"u{n}@x.edu", "active") for n in range(3))]})

    changes = batches.send(
        {"users.csv": [header, ("u0", "l0", "", "active"), ("u1", "l1", "u1@x.edu", "active")]}
    )

    assert (0, 2) == (changes.by_type["user"].updated, changes.by_type["user"].unchanged)
