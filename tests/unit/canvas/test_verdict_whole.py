"""Canvas's whole verdict: `restore_failed` and the diffing remaster failure (docs/canvas.md §A2, §A4)."""

from __future__ import annotations

from sis_watcher.canvas.verdict import REMASTER_REQUIRED, ImportAnswer, is_terminal, judge, needs_remaster


def answer(**fields: object) -> ImportAnswer:
    return ImportAnswer.from_json({"id": 77, **fields})


def test_restore_failed_is_terminal_and_fails_the_batch_with_canvas_words():
    """A poll meeting `restore_failed` (an admin's rollback that failed) fails the batch with the error message."""
    finished = answer(workflow_state="restore_failed", data={"error_message": "boom"})

    verdict = judge(finished, warnings_are_failures=False)

    assert is_terminal("restore_failed")
    assert not is_terminal("restoring")
    assert "failed" == verdict.result
    assert (
        "Canvas import 77 was rolled back by an admin and the rollback failed (restore_failed): boom"
        == verdict.reason
    )
    assert judge(answer(workflow_state="restore_failed"), warnings_are_failures=False).reason.endswith(
        "(restore_failed)"
    )


def test_the_remaster_failure_is_recognised_by_its_exact_words():
    """Only `failed_with_messages` with Canvas's exact remaster text needs a remaster."""
    remaster = answer(workflow_state="failed_with_messages", processing_errors=[[None, REMASTER_REQUIRED]])
    other = answer(
        workflow_state="failed_with_messages", processing_errors=[[None, "A remaster is required"]]
    )
    imported = answer(workflow_state="imported", processing_errors=[[None, REMASTER_REQUIRED]])

    assert needs_remaster(remaster)
    assert not needs_remaster(other)
    assert not needs_remaster(imported)
    assert (
        f"Canvas import 77 ended failed_with_messages: (whole import): {REMASTER_REQUIRED}"
        in judge(remaster, warnings_are_failures=False).reason
    )
