"""Unit tests for `sis_watcher.canvas.adoption`: is one of the listed imports the one our lost POST made?"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

from sis_watcher.canvas.adoption import (
    Absent,
    Adopt,
    Wait,
    attachments_match,
    decide,
    expected_attachments,
    made_by,
)

USER = 42
MEMBERS = [("users.csv", 120), ("courses.csv", 80)]


def attachment(name: str, size: int | None) -> dict[str, Any]:
    found: dict[str, Any] = {"id": hash(name) % 1000, "display_name": name, "filename": name}
    if size is not None:
        found["size"] = size
    return found


def sis_import(
    import_id: int,
    *,
    attachments: list[dict[str, Any]] | None = None,
    state: str = "importing",
    user: int | None = USER,
    created_at: str = "2026-11-27T02:00:05Z",
) -> dict[str, Any]:
    found: dict[str, Any] = {"id": import_id, "workflow_state": state, "created_at": created_at}
    if attachments is not None:
        found["csv_attachments"] = attachments
    if user is not None:
        found["user"] = {"id": user, "name": "SIS bot"}
    return found


def ours(import_id: int, **options: Any) -> dict[str, Any]:
    return sis_import(
        import_id, attachments=[attachment("users.csv", 120), attachment("courses.csv", 80)], **options
    )


def run(
    imports: list[dict[str, Any]],
    *,
    members=MEMBERS,
    user_id: int | None = USER,
    known: set[int] | None = None,
):
    return decide(imports, members=members, user_id=user_id, known_import_ids=known or set())


class TestDecide:
    def test_matching_import_is_adopted(self):
        """An import by our user whose attachments are our members by name and size is ours."""
        assert run([ours(7)]) == Adopt(7)

    def test_nothing_listed_is_absent(self):
        """No import since the upload started: it never arrived, upload again."""
        assert run([]) == Absent(looked_at=0)

    def test_other_users_import_is_ignored(self):
        """An identical import made by another user is not ours."""
        assert run([ours(7, user=99)]) == Absent(looked_at=1)

    def test_import_without_a_user_is_considered(self):
        """When Canvas does not say who made an import, it can still be ours."""
        assert run([ours(7, user=None)]) == Adopt(7)

    def test_unknown_own_user_accepts_any_creator(self):
        """If we do not know our user id, the creator is not checked."""
        assert run([ours(7, user=99)], user_id=None) == Adopt(7)

    def test_known_ids_are_ignored(self):
        """An import another of our batches already recorded is never adopted twice."""
        assert run([ours(7)], known={7}) == Absent(looked_at=1)

    def test_imports_without_an_integer_id_are_ignored(self):
        """Odd list entries without an integer id are skipped."""
        assert run([{**ours(7), "id": "7"}, {"workflow_state": "created"}]) == Absent(looked_at=2)

    @pytest.mark.parametrize("state", ["created", "initializing"])
    def test_unstarted_candidate_means_wait(self, state):
        """A queued import has no attachments yet: wait and look again rather than upload twice."""
        assert run([sis_import(9, state=state), sis_import(8, state=state)]) == Wait((8, 9))

    def test_unstarted_import_of_another_user_is_not_waited_for(self):
        """Another user's queued import is no reason to wait."""
        assert run([sis_import(9, state="created", user=99)]) == Absent(looked_at=1)

    def test_started_import_with_other_files_is_not_ours(self):
        """Attachments that differ by name or size mean another import: absent."""
        other_size = sis_import(5, attachments=[attachment("users.csv", 121), attachment("courses.csv", 80)])
        other_names = sis_import(6, attachments=[attachment("users.csv", 120)])

        assert run([other_size, other_names]) == Absent(looked_at=2)

    def test_finished_import_without_attachments_is_not_waited_for(self):
        """An import that failed before listing attachments is not unstarted: absent."""
        assert run([sis_import(5, state="failed")]) == Absent(looked_at=1)

    def test_ours_wins_over_waiting(self):
        """A matching started import is adopted even when another is still queued."""
        assert run([sis_import(9, state="created"), ours(7)]) == Adopt(7)

    def test_two_matches_adopt_the_earliest_and_list_duplicates(self):
        """If Canvas somehow holds two, the earliest is adopted and the rest reported as duplicates."""
        imports = [
            ours(12, created_at="2026-11-27T02:00:09Z"),
            ours(10, created_at="2026-11-27T02:00:01Z"),
            ours(11, created_at="2026-11-27T02:00:01Z"),
        ]

        assert run(imports) == Adopt(10, (11, 12))

    def test_zip_of_only_empty_members_is_never_matched(self):
        """A zip whose members are all empty has nothing Canvas lists: never adopted, never waited for when started."""
        members = [("users.csv", 0)]

        assert run([sis_import(3, attachments=[])], members=members) == Absent(looked_at=1)


class TestAttachments:
    def test_expected_ignores_empty_macosx_hidden_and_non_csv_members(self):
        """Canvas lists only non-empty CSVs, by base name, skipping __MACOSX, dot-files and other types."""
        members = [
            ("users.csv", 10),
            ("sub/dir/Courses.CSV", 20),
            ("empty.csv", 0),
            ("__MACOSX/._users.csv", 4),
            ("__MACOSX/users.csv", 4),
            (".hidden.csv", 5),
            ("READY", 0),
            ("notes.txt", 9),
            ("desktop.ini", 3),
        ]

        assert expected_attachments(members) == Counter({("users.csv", 10): 1, ("Courses.CSV", 20): 1})

    def test_members_in_folders_match_by_base_name(self):
        """A member inside a folder is listed by Canvas under its file name only."""
        members = [("2026/users.csv", 10)]

        assert run([sis_import(4, attachments=[attachment("users.csv", 10)])], members=members) == Adopt(4)

    def test_filtered_password_file_matches_by_name_alone(self):
        """A users file with passwords is listed as `<name>_filtered.csv` of another size: matched by name."""
        attachments = [attachment("users_filtered.csv", 55), attachment("courses.csv", 80)]

        assert attachments_match(attachments, expected_of({"users.csv": 120, "courses.csv": 80}))

    def test_member_really_named_filtered_still_matches(self):
        """A member whose own name ends in `_filtered.csv` is listed under that name and must still match."""
        members = [("grades_filtered.csv", 30)]
        attachments = [attachment("grades_filtered.csv", 30)]

        assert run([sis_import(4, attachments=attachments)], members=members) == Adopt(4)

    def test_attachment_without_size_matches_by_name(self):
        """An attachment whose size Canvas left out matches by name."""
        assert attachments_match([attachment("users.csv", None)], expected_of({"users.csv": 10}))

    def test_filename_is_used_when_display_name_is_missing(self):
        """`filename` stands in for a missing `display_name`."""
        assert attachments_match([{"filename": "users.csv", "size": 10}], expected_of({"users.csv": 10}))

    @pytest.mark.parametrize(
        "attachments",
        [
            ["users.csv"],
            [{"size": 10}],
            [{"display_name": "users.csv", "size": 10}, {"display_name": "extra.csv", "size": 1}],
            [],
        ],
    )
    def test_odd_or_extra_attachments_do_not_match(self, attachments):
        """Non-objects, nameless entries, extra files or none at all are not a match."""
        assert not attachments_match(attachments, expected_of({"users.csv": 10}))


class TestMadeBy:
    @pytest.mark.parametrize(
        ("item", "user_id", "expected"),
        [
            ({"user": {"id": 42}}, 42, True),
            ({"user": {"id": 43}}, 42, False),
            ({"user": {"name": "no id"}}, 42, True),
            ({"user": "42"}, 42, True),
            ({}, 42, True),
            ({"user": {"id": 43}}, None, True),
        ],
    )
    def test_creator_rules(self, item, user_id, expected):
        """Only an import that names another user as its creator is excluded."""
        assert expected == made_by(item, user_id)


def expected_of(sizes: dict[str, int]) -> Counter[tuple[str, int]]:
    """Return the expected-attachments counter for {name: size}."""
    return expected_attachments(sizes.items())


class TestMultisets:
    def test_two_members_with_the_same_base_name_need_two_attachments(self):
        """Members `a/users.csv` and `b/users.csv` of one size need two listed attachments."""
        expected = expected_attachments([("a/users.csv", 10), ("b/users.csv", 10)])

        assert not attachments_match([{"display_name": "users.csv", "size": 10}], expected)
        assert attachments_match([{"display_name": "users.csv", "size": 10}] * 2, expected)

    def test_a_member_really_named_filtered_matches_itself(self):
        """A member truly called `x_filtered.csv` matches an attachment of that name and size."""
        expected = expected_attachments([("x_filtered.csv", 42)])

        assert attachments_match([{"display_name": "x_filtered.csv", "size": 42}], expected)

    def test_an_importing_candidate_without_attachments_is_waited_for(self):
        """Canvas lists attachments a moment after it starts: `importing` without them means wait."""
        imports = [{"id": 9, "workflow_state": "importing", "csv_attachments": []}]

        assert Wait((9,)) == decide(
            imports, members=[("users.csv", 10)], user_id=None, known_import_ids=set()
        )


class TestStaleInitializing:
    NOW = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)

    @pytest.mark.parametrize(
        ("created_at", "waited_for"),
        [
            ("2026-12-02T01:52:30+00:00", False),  # 7.5 minutes: past 2 minutes plus the 5 of skew
            ("2026-12-02T01:53:30+00:00", True),  # 6.5 minutes: may be a fresh direct create, clocks apart
            ("not a time", True),
            ("2026-12-02T01:00:00", True),  # no zone: cannot be compared, waited for
        ],
    )
    def test_only_a_recent_initializing_import_is_waited_for(self, created_at, waited_for):
        """An `initializing` import older than STALE_INITIALIZING and the clock margin is not our direct POST's."""
        imports = [{"id": 9, "workflow_state": "initializing", "created_at": created_at}]

        decision = decide(
            imports, members=[("users.csv", 10)], user_id=None, known_import_ids=set(), now=self.NOW
        )

        assert (Wait((9,)) if waited_for else Absent(looked_at=1)) == decision
