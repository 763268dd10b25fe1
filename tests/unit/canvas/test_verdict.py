"""Unit tests for `sis_watcher.canvas.verdict`: Canvas's terminal states turned into done/failed with reasons."""

from __future__ import annotations

from typing import Any

import pytest

from sis_watcher.canvas.verdict import (
    BATCH_LEVEL,
    NULL_FILE_NOTE,
    TERMINAL_STATES,
    ImportAnswer,
    Verdict,
    first_messages_by_file,
    is_terminal,
    pairs,
    summarise,
)
from sis_watcher.canvas.verdict import judge as judge_record


def finished(state: str, **fields: Any) -> dict[str, Any]:
    return {"id": 77, "workflow_state": state, "progress": 100, **fields}


def judge(sis_import: dict[str, Any], *, warnings_are_failures: bool) -> Verdict:
    """Judge a SisImport the way the daemon does: read once by the poll, judged from that record."""
    return judge_record(ImportAnswer.from_json(sis_import), warnings_are_failures=warnings_are_failures)


class TestTerminal:
    @pytest.mark.parametrize(
        ("state", "expected"),
        [
            ("initializing", False),
            ("created", False),
            ("importing", False),
            ("cleanup_batch", False),
            ("restoring", False),
            ("imported", True),
            ("imported_with_messages", True),
            ("failed", True),
            ("failed_with_messages", True),
            ("aborted", True),
            ("partially_restored", True),
            ("restored", True),
            ("restore_failed", True),
            (None, False),
            ("", False),
        ],
    )
    def test_every_workflow_state(self, state, expected):
        """Each of Canvas's 13 states is terminal or not exactly as the reference says (addendum §A2)."""
        assert expected == is_terminal(state)

    def test_terminal_set(self):
        """The terminal set is the eight final states (`restore_failed` among them, addendum §A7)."""
        assert len(TERMINAL_STATES) == 8


class TestJudge:
    def test_imported_is_done(self):
        """imported -> done."""
        assert judge(finished("imported"), warnings_are_failures=True) == Verdict(
            result="done", reason="Canvas import 77 imported"
        )

    def test_imported_ignores_progress(self):
        """The decision reads workflow_state only: progress below 100 changes nothing."""
        assert judge({**finished("imported"), "progress": 12}, warnings_are_failures=False).result == "done"

    @pytest.mark.parametrize(("warnings_are_failures", "result"), [(False, "done"), (True, "failed")])
    def test_imported_with_messages(self, warnings_are_failures, result):
        """imported_with_messages is done, or failed when warnings are failures; counts and messages in the reason."""
        sis_import = finished(
            "imported_with_messages",
            processing_warnings=[["students.csv", "user John Doe has already claimed john_doe's login"]],
            data={"counts": {"warning_count": 27, "error_count": 0}},
        )

        verdict = judge(sis_import, warnings_are_failures=warnings_are_failures)

        assert verdict == Verdict(
            result=result,
            reason=(
                "Canvas import 77 imported with 27 warning(s) and 0 error(s): "
                "students.csv: user John Doe has already claimed john_doe's login"
            ),
        )

    def test_imported_with_messages_without_messages(self):
        """With no message pairs, the reason is the counts alone (taken from the lists when counts are absent)."""
        verdict = judge(finished("imported_with_messages"), warnings_are_failures=False)

        assert verdict.reason == "Canvas import 77 imported with 0 warning(s) and 0 error(s)"

    def test_imported_with_messages_explains_a_whole_import_notice(self):
        """A message with no file (a diffing notice) is named "(whole import)" and explained."""
        sis_import = finished(
            "imported_with_messages",
            processing_warnings=[
                [None, "Diffing not performed because file size difference exceeded threshold"]
            ],
        )

        verdict = judge(sis_import, warnings_are_failures=False)

        assert f"{BATCH_LEVEL}: Diffing not performed" in verdict.reason
        assert NULL_FILE_NOTE in verdict.reason

    @pytest.mark.parametrize("state", ["failed_with_messages", "failed", "aborted"])
    def test_failure_states_are_failed_with_canvas_messages(self, state):
        """failed, failed_with_messages and aborted -> failed, with Canvas's first messages."""
        sis_import = finished(
            state,
            processing_errors=[
                ["courses.csv", "No short_name given for course C001"],
                ["courses.csv", "No short_name given for course C002"],
                ["users.csv", "Bad status"],
                ["users.csv", "Another"],
            ],
        )

        verdict = judge(sis_import, warnings_are_failures=False)

        assert verdict == Verdict(
            result="failed",
            reason=(
                f"Canvas import 77 ended {state}: courses.csv: No short_name given for course C001; "
                "courses.csv: No short_name given for course C002; users.csv: Bad status (and 1 more)"
            ),
        )

    def test_change_threshold_abort_is_explained(self):
        """An abort whose only message has no file (a change_threshold breach) carries the explanation."""
        sis_import = finished(
            "aborted",
            processing_warnings=[
                [None, "1000 enrollments would be deleted and exceeds the set threshold of 10%"]
            ],
        )

        verdict = judge(sis_import, warnings_are_failures=False)

        assert verdict.result == "failed"
        assert verdict.reason == (
            "Canvas import 77 ended aborted: (whole import): 1000 enrollments would be deleted and exceeds "
            f"the set threshold of 10% [{NULL_FILE_NOTE}]"
        )

    def test_failed_without_messages_uses_the_error_message(self):
        """A `failed` import (an exception in Canvas's job) reports data.error_message."""
        sis_import = finished(
            "failed", data={"error_message": "Error while importing CSV. Please contact support."}
        )

        assert judge(sis_import, warnings_are_failures=False).reason == (
            "Canvas import 77 ended failed: Error while importing CSV. Please contact support."
        )

    def test_failed_with_nothing_to_say(self):
        """A failure with no messages and no error_message still names the state."""
        assert judge(finished("failed", data={}), warnings_are_failures=False) == Verdict(
            result="failed", reason="Canvas import 77 ended failed"
        )

    @pytest.mark.parametrize("state", ["restored", "partially_restored"])
    def test_rolled_back_imports_are_failed(self, state):
        """An import an admin rolled back is failed, saying so."""
        assert judge(finished(state), warnings_are_failures=False) == Verdict(
            result="failed", reason=f"Canvas import 77 was rolled back ({state}) by an admin"
        )

    def test_counts_that_are_not_a_mapping_fall_back_to_the_lists(self):
        """Odd `counts` shapes do not break the reason."""
        sis_import = finished(
            "imported_with_messages",
            processing_warnings=[["a.csv", "w"]],
            data={"counts": ["not", "a", "dict"]},
        )

        assert judge(sis_import, warnings_are_failures=False).reason.startswith(
            "Canvas import 77 imported with 1 warning(s) and 0 error(s)"
        )


class TestMessages:
    def test_pairs_tolerates_odd_shapes(self):
        """[file, message] pairs, bare strings, null files and junk are read sensibly."""
        raw = [["a.csv", "one"], [None, "two"], "three", [7, 8], ["short"], 9, ("b.csv", "four", "extra")]

        assert pairs(raw) == [
            ("a.csv", "one"),
            (None, "two"),
            (None, "three"),
            (None, "8"),
            ("b.csv", "four"),
        ]

    @pytest.mark.parametrize("raw", [None, "text", {"a": 1}])
    def test_pairs_of_non_lists_is_empty(self, raw):
        """A missing or non-list value has no messages."""
        assert pairs(raw) == []

    def test_summarise_limits_and_counts_the_rest(self):
        """The summary shows the first few messages and counts the others."""
        messages = [("a.csv", "one"), (None, "two"), ("b.csv", "three"), ("c.csv", "four"), ("d.csv", "five")]

        assert summarise(messages, limit=2) == "a.csv: one; (whole import): two (and 3 more)"
        assert summarise(messages[:1]) == "a.csv: one"
        assert summarise([]) == ""

    def test_first_messages_by_file(self):
        """Messages are grouped by file, null files under "(whole import)", at most `limit` each."""
        messages = [("a.csv", "1"), ("a.csv", "2"), ("a.csv", "3"), (None, "x"), ("b.csv", "y")]

        assert first_messages_by_file(messages, limit=2) == {
            "a.csv": ["1", "2"],
            BATCH_LEVEL: ["x"],
            "b.csv": ["y"],
        }
