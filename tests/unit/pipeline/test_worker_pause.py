"""Unit tests for the worker under a deliberate pause: blackout windows by an injected clock, `pause` files."""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sis_watcher.batch.manifest import BatchState, load_manifest
from sis_watcher.core.clock import SystemClock, isoformat
from sis_watcher.core.errors import CanvasUnavailable
from sis_watcher.ledger.forgetting import REQUEST_NAME
from sis_watcher.ledger.store import LedgerKeeper
from sis_watcher.ops.events import Listener
from sis_watcher.pipeline.upload import attempt_upload
from sis_watcher.pipeline.worker import Worker
from sis_watcher.schedule.pause_file import OperatorPause, write_pause
from sis_watcher.simulator.model.faults import FaultKind

from support import BAD_HEADER_CSV, COURSES_CSV, wait_until

# Ten minutes from now, by the machine's clock (a far jump would make polling give up on the import).
WINDOW_STARTS = (datetime.now(UTC) + timedelta(minutes=10)).replace(microsecond=0)
WINDOW = {"from": WINDOW_STARTS.isoformat(), "to": (WINDOW_STARTS + timedelta(hours=6)).isoformat()}


class ShiftableClock:
    """The machine's clocks, with a wall clock that a test can move to any moment."""

    def __init__(self) -> None:
        self.system = SystemClock()
        self.offset = timedelta()

    def monotonic(self) -> float:
        return self.system.monotonic()

    def now(self) -> datetime:
        return self.system.now() + self.offset

    def move_to(self, moment: datetime) -> None:
        self.offset = moment - self.system.now()


@pytest.fixture
def clock() -> ShiftableClock:
    return ShiftableClock()


@pytest.fixture
def paused_pipeline(build, canvas, clock):
    pipeline = build(canvas.url, schedule={"blackout": [WINDOW]})
    pipeline.context = dataclasses.replace(pipeline.context, clock=clock)
    return pipeline


def run_once(pipeline) -> Worker:
    worker = Worker(context=pipeline.context, wake=threading.Event(), once=True)
    worker.intake_finished.set()
    worker.run()
    return worker


class TestBlackout:
    def test_a_blackout_starting_mid_import_lets_it_finish_and_holds_the_next(
        self, paused_pipeline, canvas, clock
    ):
        """The import in flight is polled to done; the next batch is zipped, not uploaded, until the end."""
        pipeline = paused_pipeline
        importing = pipeline.importing()
        clock.move_to(WINDOW_STARTS + timedelta(seconds=1))
        waiting = pipeline.sealed(("courses.csv", COURSES_CSV))

        worker = run_once(pipeline)

        assert [importing.batch_id] == [path.name for path in pipeline.tree.batches("done")]
        assert BatchState.ZIPPED == load_manifest(waiting).state
        assert 1 == len(canvas.uploads)
        assert worker.incomplete is not None
        assert f"paused by blackout since {isoformat(WINDOW_STARTS)}" in worker.incomplete

        clock.move_to(WINDOW_STARTS + timedelta(hours=6))
        assert run_once(pipeline).incomplete is None
        assert 2 == len(pipeline.tree.batches("done"))
        assert 2 == len(canvas.uploads)

    def test_an_uploading_batch_canvas_never_got_waits_zipped(self, paused_pipeline, canvas, clock):
        """An upload begun before the window that Canvas has no import of is not sent in it (`Absent`)."""
        pipeline = paused_pipeline
        batch = pipeline.zipped()
        batch.manifest.upload.started_at = batch.now_text()
        batch.advance(BatchState.UPLOADING, note="a crash right after writing started_at, before the POST")
        clock.move_to(WINDOW_STARTS)

        worker = run_once(pipeline)

        assert not canvas.uploads
        assert BatchState.ZIPPED == load_manifest(batch.folder).state
        assert worker.incomplete is not None
        assert f"{batch.batch_id} waits, zipped" in worker.incomplete

    def test_an_import_canvas_has_is_adopted_and_finished_in_the_window(self, paused_pipeline, canvas, clock):
        """The import in flight goes on: a recovery that finds it adopts and polls it to done."""
        pipeline = paused_pipeline
        batch = pipeline.zipped()
        canvas.faults.add(kind=FaultKind.STATUS, count=1, method="POST", process_first=True)
        with pytest.raises(CanvasUnavailable):
            attempt_upload(batch, pipeline.context)  # the import exists; its answer was a 500
        assert BatchState.UPLOADING == batch.state
        clock.move_to(WINDOW_STARTS)

        assert run_once(pipeline).incomplete is None
        assert 1 == len(canvas.uploads)
        assert [batch.batch_id] == [path.name for path in pipeline.tree.batches("done")]
        assert load_manifest(pipeline.tree.batches("done")[0]).upload.adopted


@dataclass
class PauseOnRetry(Listener):
    """Writes an operator's pause the first time the upload schedules a retry."""

    queue: Path
    written: bool = False

    def retry_scheduled(self, step: str) -> None:
        if not self.written:
            self.written = True
            write_pause(self.queue, OperatorPause(reason="rollover", since="2031-01-01T00:00:00Z", by="op"))


class TestPauseDuringRetries:
    @pytest.mark.parametrize(
        ("method", "fault"),
        [
            ("direct", FaultKind.THROTTLE_429),  # never reached Canvas: back to zipped, then asked
            ("direct", FaultKind.STATUS),  # outcome unknown: looked for, `Absent`, then asked
            ("pre_attachment", FaultKind.STATUS),
        ],
    )
    def test_a_pause_during_the_uploads_retries_stops_the_next_create(self, build, canvas, method, fault):
        """A pause written while the create is being retried is honoured before the next POST."""
        pipeline = build(canvas.url, upload={"method": method})
        batch = pipeline.zipped()
        canvas.faults.add(kind=fault, count=3, method="POST")
        pipeline.context.monitor.listeners.append(PauseOnRetry(pipeline.config.folders.queue))

        worker = run_once(pipeline)

        assert not canvas.uploads
        assert not canvas.imports
        assert BatchState.ZIPPED == load_manifest(batch.folder).state
        assert worker.incomplete is not None
        assert "paused by operator (op)" in worker.incomplete
        assert 1 == len(pipeline.moments.named("retry_scheduled"))


class TestOperatorPause:
    def test_a_paused_worker_waits_and_goes_on_within_seconds_of_resume(self, build, canvas):
        """In `run` mode the zipped batch waits; removing the pause file sends it within the recheck."""
        pipeline = build(canvas.url)
        queue = pipeline.config.folders.queue
        queue.mkdir(parents=True)
        write_pause(queue, OperatorPause(reason="audit", since="2031-01-01T00:00:00Z", by="alice"))
        pipeline.sealed()
        worker = Worker(context=pipeline.context, wake=threading.Event())
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        try:
            wait_until(
                lambda: any("waits to be uploaded" in text for text in pipeline.moments.named("activity")),
                timeout=5,
                what="the zipped batch waiting",
            )
            assert not canvas.uploads
            (queue / ".pause.json").unlink()
            wait_until(
                lambda: pipeline.tree.batches("done"), timeout=10, what="the batch in done/ after resume"
            )
        finally:
            pipeline.context.stopping.set()
            worker.wake.set()
            thread.join(10)
        assert any(
            text.startswith("paused by operator (alice)") for text in pipeline.moments.named("activity")
        )

    def test_a_rollback_to_forget_is_seen_while_uploads_are_paused(self, build, canvas):
        """A pause may last days: the worker still looks for `rollback`'s request while it waits."""
        pipeline = build(canvas.url)
        pipeline.context = dataclasses.replace(
            pipeline.context, ledger=LedgerKeeper(pipeline.config.ledger_path)
        )
        queue = pipeline.config.folders.queue
        queue.mkdir(parents=True)
        write_pause(queue, OperatorPause(reason="audit", since="2031-01-01T00:00:00Z", by="alice"))
        pipeline.sealed()
        worker = Worker(context=pipeline.context, wake=threading.Event())
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        try:
            wait_until(
                lambda: any("waits to be uploaded" in text for text in pipeline.moments.named("activity")),
                timeout=10,
                what="the zipped batch waiting",
            )
            request = queue / REQUEST_NAME
            request.write_text("{}", encoding="utf-8")
            wait_until(
                lambda: not request.exists(), timeout=10, what="the request taken by the worker's tick"
            )
        finally:
            pipeline.context.stopping.set()
            worker.wake.set()
            thread.join(10)
        assert not canvas.uploads


class TestRefusedTokenAndPause:
    def test_an_operator_pause_does_not_announce_that_canvas_accepts_the_token(self, build, canvas):
        """`upload.resumed` (and its alert) only once Canvas answered a step, not when a pause's wait ends."""
        pipeline = build(canvas.url)
        queue = pipeline.config.folders.queue
        pipeline.zipped()
        canvas.faults.add(kind=FaultKind.REVOKED_TOKEN, count=None, method="POST")
        worker = Worker(context=pipeline.context, wake=threading.Event())
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        try:
            wait_until(lambda: pipeline.moments.named("uploads_paused"), timeout=10, what="the token refused")
            write_pause(
                queue, OperatorPause(reason="fixing the token", since="2031-01-01T00:00:00Z", by="op")
            )
            wait_until(
                lambda: (
                    sum("waits to be uploaded" in text for text in pipeline.moments.named("activity")) >= 2
                ),
                timeout=10,
                what="the zipped batch waiting twice for the operator's resume",
            )
            assert not pipeline.moments.named("uploads_resumed")
            assert worker.auth_block.active
            (queue / ".pause.json").unlink()
            canvas.faults.clear()
            wait_until(lambda: pipeline.tree.batches("done"), timeout=10, what="the batch done")
        finally:
            pipeline.context.stopping.set()
            worker.wake.set()
            thread.join(10)
        names = [
            name for name, _ in pipeline.moments.moments if name in ("uploads_paused", "uploads_resumed")
        ]
        assert ["uploads_paused", "uploads_resumed"] == names
        assert not worker.auth_block.active


class TestValidatedAhead:
    def test_a_bad_export_behind_the_waiting_batch_is_filed_failed_during_the_pause(self, build, canvas):
        """Strict validation goes on behind the head: a refused batch is filed; good ones wait queued."""
        pipeline = build(canvas.url)
        queue = pipeline.config.folders.queue
        queue.mkdir(parents=True)
        write_pause(queue, OperatorPause(reason="rollover", since="2031-01-01T00:00:00Z", by="op"))
        first = pipeline.sealed()
        bad = pipeline.sealed(("users.csv", BAD_HEADER_CSV))
        third = pipeline.sealed(("courses.csv", COURSES_CSV))
        worker = Worker(context=pipeline.context, wake=threading.Event())
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        try:
            wait_until(lambda: pipeline.tree.batches("failed"), timeout=10, what="the bad batch filed failed")
            assert BatchState.ZIPPED == load_manifest(first).state
            assert BatchState.QUEUED == load_manifest(third).state  # previewed and zipped at its turn
            assert not canvas.uploads
            (queue / ".pause.json").unlink()
            wait_until(
                lambda: len(pipeline.tree.batches("done")) == 2, timeout=10, what="both good ones done"
            )
        finally:
            pipeline.context.stopping.set()
            worker.wake.set()
            thread.join(10)
        [failed] = pipeline.tree.batches("failed")
        assert bad.name == failed.name
        reason = load_manifest(failed).outcome.reason or ""
        assert reason.startswith("pre-flight validation found 2 error(s): users.csv row 1")
        assert [first.name, third.name] == [path.name for path in pipeline.tree.batches("done")]
        assert ("batch_filed", (bad.name, "failed")) == next(
            moment for moment in pipeline.moments.moments if moment[0] == "batch_filed"
        )
