"""
Aborted imports and Canvas's whole verdict in the stages: `poll.abort_on_give_up`, the operator's
abort request (`pipeline.abort`), the remaster failure's remedy and the whole-file diffing notice.
"""

from __future__ import annotations

from structlog.testing import capture_logs

from sis_watcher.batch.filing import ABORT_NAME, file_away
from sis_watcher.batch.manifest import BatchState
from sis_watcher.batch.requeue import retry_batch
from sis_watcher.canvas.verdict import REMASTER_REQUIRED
from sis_watcher.pipeline.abort import AbortRequest, leave_request, operator_reason, read_request
from sis_watcher.pipeline.conclude import conclude
from sis_watcher.pipeline.poll import poll
from sis_watcher.simulator.canvas import CanvasSimulator, SimulatorSettings
from sis_watcher.simulator.model.faults import FaultKind

from support import TOKEN

GIVE_UP_ABORTING = {"warn_after_seconds": 0.2, "give_up_after_seconds": 0.2, "abort_on_give_up": True}
TERM_BATCH_MODE = {"batch_mode": True, "batch_mode_term_id": "sis_term_id:T1", "change_threshold": 20}
BREACH = "5 enrollments would be deleted and exceeds the set threshold of 20%"


def term_files(enrollments: int) -> list[tuple[str, bytes]]:
    """Term T1 with one course and section, and `enrollments` students in it (docs/canvas.md §2.4)."""
    people = range(enrollments)
    return [
        ("terms.csv", b"term_id,name,status\nT1,Term 1,active\n"),
        (
            "users.csv",
            ("user_id,login_id,status\n" + "".join(f"u{n},l{n},active\n" for n in people)).encode(),
        ),
        ("courses.csv", b"course_id,short_name,long_name,term_id,status\nC0,c0,Course 0,T1,active\n"),
        ("sections.csv", b"section_id,course_id,name,status\nS0,C0,Section 0,active\n"),
        (
            "enrollments.csv",
            (
                "course_id,section_id,user_id,role,status\n"
                + "".join(f"C0,S0,u{n},student,active\n" for n in people)
            ).encode(),
        ),
    ]


def users(count: int) -> tuple[str, bytes]:
    return "users.csv", (
        "user_id,login_id,status\n" + "".join(f"u{n},l{n},active\n" for n in range(count))
    ).encode()


class TestAbortOnGiveUp:
    def test_giving_up_aborts_the_import_and_says_so(self, build, canvas):
        """With abort_on_give_up the stuck import is aborted in Canvas and the reason says so."""
        canvas.faults.add(kind=FaultKind.STUCK_IMPORTING, count=1, method="POST")
        pipeline = build(canvas.url, poll=GIVE_UP_ABORTING)
        batch = pipeline.importing()
        import_id = batch.manifest.canvas.import_id or 0

        poll(batch, pipeline.context)

        saved = pipeline.on_disk(batch)
        assert (BatchState.FAILED, "aborted") == (saved.state, saved.canvas.workflow_state)
        assert saved.outcome.reason is not None
        assert f"Canvas import {import_id} was still importing" in saved.outcome.reason
        assert "and was aborted in Canvas (poll.abort_on_give_up)" in saved.outcome.reason
        assert "aborted" == (canvas.import_json(import_id) or {})["workflow_state"]

    def test_an_import_that_finished_meanwhile_takes_canvas_verdict(self, build, canvas):
        """Canvas answers 404 to the abort because the import just ended: its verdict is taken, no failure."""
        canvas.faults.add(kind=FaultKind.STUCK_IMPORTING, count=1, method="POST")
        canvas.faults.add(kind=FaultKind.STATUS, status=404, count=1, path="/abort$", process_first=True)
        pipeline = build(canvas.url, poll=GIVE_UP_ABORTING)
        batch = pipeline.importing()

        poll(batch, pipeline.context)

        assert (BatchState.REPORTING, "aborted") == (batch.state, batch.manifest.canvas.workflow_state)

    def test_a_404_for_an_import_still_running_fails_without_claiming_an_abort(self, build, canvas):
        """A 404 while the import still runs: the batch fails as on any give-up, without "aborted"."""
        canvas.faults.add(kind=FaultKind.STUCK_IMPORTING, count=1, method="POST")
        canvas.faults.add(kind=FaultKind.STATUS, status=404, count=1, path="/abort$")
        pipeline = build(canvas.url, poll=GIVE_UP_ABORTING)
        batch = pipeline.importing()

        poll(batch, pipeline.context)

        assert BatchState.FAILED == batch.state
        assert "aborted" not in (batch.manifest.outcome.reason or "")


class TestOperatorAbort:
    def test_an_import_aborted_on_request_is_filed_aborted_by_operator(self, build, canvas):
        """A request beside the batch and an import ending `aborted`: the reason says who aborted it."""
        canvas.faults.add(kind=FaultKind.STUCK_IMPORTING, count=1, method="POST")
        pipeline = build(canvas.url)
        batch = pipeline.importing()
        import_id = batch.manifest.canvas.import_id or 0
        leave_request(batch.folder, AbortRequest(by="ops", at="2026-12-01T02:00:00Z", import_id=import_id))
        canvas.queue.abort(import_id)

        poll(batch, pipeline.context)
        conclude(batch, pipeline.context)

        saved = pipeline.on_disk(batch)
        assert BatchState.FAILED == saved.state
        assert (
            f"aborted by operator (ops at 2026-12-01T02:00:00Z): Canvas import {import_id} ended aborted"
            == saved.outcome.reason
        )
        assert batch.path(ABORT_NAME).exists()  # until the batch is filed
        filed = file_away(batch.folder, saved, folders=pipeline.config.folders)
        assert (pipeline.config.folders.failed, False) == (filed.parent, (filed / ABORT_NAME).exists())

    def test_a_request_beside_an_import_that_finished_is_ignored(self, pipeline):
        """An import that ended `imported` despite a request keeps Canvas's verdict; filing drops the request."""
        batch = pipeline.reporting()
        leave_request(
            batch.folder, AbortRequest(by="ops", at="now", import_id=batch.manifest.canvas.import_id or 0)
        )

        conclude(batch, pipeline.context)
        filed = file_away(batch.folder, batch.manifest, folders=pipeline.config.folders)

        assert ("done", f"Canvas import {batch.manifest.canvas.import_id} imported") == (
            batch.manifest.outcome.result,
            batch.manifest.outcome.reason,
        )
        assert (pipeline.config.folders.done, None) == (filed.parent, read_request(filed))

    def test_a_change_threshold_breach_keeps_canvas_reason_despite_a_request(self, build, canvas):
        """A request whose PUT never went (its command was killed): Canvas's own breach abort is no operator's."""
        plain = build(canvas.url)  # the term and its ten enrollments, before batch mode
        first = plain.reporting(*term_files(10))
        conclude(first, plain.context)
        file_away(first.folder, first.manifest, folders=plain.config.folders)
        pipeline = build(canvas.url, **{"import": TERM_BATCH_MODE})
        batch = pipeline.importing(*term_files(5))
        import_id = batch.manifest.canvas.import_id or 0
        leave_request(batch.folder, AbortRequest(by="ops", at="2026-12-01T02:00:00Z", import_id=import_id))

        poll(batch, pipeline.context)
        conclude(batch, pipeline.context)

        reason = batch.manifest.outcome.reason or ""
        assert (BatchState.FAILED, "aborted") == (batch.state, batch.manifest.canvas.workflow_state)
        assert reason.startswith(f"Canvas import {import_id} ended aborted: (whole import): {BREACH}")
        assert "operator" not in reason
        assert operator_reason(batch, answered=True) == (  # a PUT Canvas answered settles it
            f"aborted by operator (ops at 2026-12-01T02:00:00Z): Canvas import {import_id} ended aborted"
        )

    def test_an_earlier_attempts_request_is_not_this_import(self, build, canvas):
        """A request naming another import (an earlier attempt's) labels nothing."""
        canvas.faults.add(kind=FaultKind.STUCK_IMPORTING, count=1, method="POST")
        pipeline = build(canvas.url)
        batch = pipeline.importing()
        import_id = batch.manifest.canvas.import_id or 0
        leave_request(batch.folder, AbortRequest(by="ops", at="then", import_id=import_id + 100))
        canvas.queue.abort(import_id)

        poll(batch, pipeline.context)
        conclude(batch, pipeline.context)

        assert f"Canvas import {import_id} ended aborted" == batch.manifest.outcome.reason

    def test_an_unreadable_request_is_no_request(self, pipeline):
        """A request file that is not a JSON object naming an import is ignored."""
        batch = pipeline.zipped()
        for text in ("[1]", "{", '{"by": "ops", "at": "then"}'):
            batch.path(ABORT_NAME).write_text(text, encoding="utf-8")
            assert read_request(batch.folder) is None


class TestNeverFiled:
    def test_a_crash_after_the_outcome_files_the_batch_without_its_request(self, build, canvas):
        """Killed after the failed outcome was saved, before filing: the next filing leaves the request behind."""
        canvas.faults.add(kind=FaultKind.STUCK_IMPORTING, count=1, method="POST")
        pipeline = build(canvas.url)
        batch = pipeline.importing()
        import_id = batch.manifest.canvas.import_id or 0
        leave_request(batch.folder, AbortRequest(by="ops", at="then", import_id=import_id))
        batch.fail("aborted by operator (ops at then)")  # saved; the process dies here

        filed = file_away(batch.folder, pipeline.on_disk(batch), folders=pipeline.config.folders)

        assert filed.parent == pipeline.config.folders.failed
        assert not (filed / ABORT_NAME).exists()

    def test_retry_leaves_a_stale_request_behind(self, pipeline):
        """A request filed into failed/ (an older version, a race) does not go back to the queue with `retry`."""
        batch = pipeline.zipped()
        batch.fail("aborted by operator (ops at then)")
        filed = file_away(batch.folder, batch.manifest, folders=pipeline.config.folders)
        leave_request(filed, AbortRequest(by="ops", at="then", import_id=1))

        queued = retry_batch(
            pipeline.config.folders, batch.batch_id, force=False, now=pipeline.context.clock.now()
        )

        assert BatchState.QUEUED.value in (queued / "manifest.json").read_text(encoding="utf-8")
        assert not (queued / ABORT_NAME).exists()


class TestWholeVerdict:
    def test_the_remaster_failure_names_its_remedy_and_a_whole_file_is_logged(self, build):
        """After an over-threshold import, the remaster failure's reason names `retry --remaster <id>`."""
        settings = SimulatorSettings(
            sis_diffing_max_skip=0, pickup_delay_seconds=0.0, min_import_seconds=0.01
        )
        with CanvasSimulator(token=TOKEN, settings=settings) as simulator:
            diffing = {"diffing_data_set_identifier": "users", "change_threshold": 10}
            pipeline = build(simulator.url, **{"import": diffing})
            first = pipeline.reporting(users(2))
            conclude(first, pipeline.context)
            whole = pipeline.reporting(users(50))
            with capture_logs() as logs:
                conclude(whole, pipeline.context)
            failing = pipeline.reporting(users(50))
            conclude(failing, pipeline.context)

        assert whole.manifest.canvas.diffing_threshold_exceeded is True
        assert "import.diffing_threshold_exceeded" in [entry["event"] for entry in logs]
        reason = failing.manifest.outcome.reason or ""
        assert BatchState.FAILED == failing.state
        assert REMASTER_REQUIRED in reason
        assert reason.endswith(f"then run `sis-watcher retry --remaster {failing.batch_id}`")
