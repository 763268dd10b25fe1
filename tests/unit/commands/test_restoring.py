"""
`commands.restoring` through `run_rollback`: lost answers, queued restores, the waits and stop requests.

Real folders, a batch imported by the real daemon (`once`), the simulator over loopback; its
faults and settings make Canvas lose an answer, queue a restore, restore slowly, or save the
import's end after its Progress.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest

from sis_watcher.batch.manifest import RollbackRecord, load_manifest
from sis_watcher.commands.restoring import Rollback, make_client
from sis_watcher.config.load import load
from sis_watcher.simulator.canvas import CanvasSimulator, FaultKind, SimulatorSettings

from support import TOKEN, wait_until
from unit.commands.rollback_support import (
    FAST,
    QUICK_RETRY,
    done_batch,
    record_of,
    restore_requests,
    rollback,
)


@pytest.fixture(autouse=True)
def token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CANVAS_TOKEN", TOKEN)


@pytest.fixture
def slow_restores() -> Iterator[CanvasSimulator]:
    """A simulator whose restore jobs take a second."""
    with CanvasSimulator(token=TOKEN, settings=SimulatorSettings(restore_seconds=1.0)) as simulator:
        yield simulator


class TestLostAnswers:
    def test_a_lost_answer_is_settled_from_the_import_without_a_second_restore(
        self, tree, run_daemon, canvas
    ):
        """The PUT's answer is lost after Canvas acted: the import's state is followed, no second request."""
        config, batch = done_batch(tree, run_daemon, canvas.url)
        canvas.faults.add(kind=FaultKind.DROP_AFTER_UPLOAD, count=1, path="restore_states")

        code, out, err = rollback(config, batch)

        assert 0 == code, err
        record = load_manifest(batch).rollback
        assert record is not None
        assert ("restored", None) == (record.workflow_state, record.progress_id)
        assert 1 == restore_requests(canvas)
        assert "rolled back (restored)" in out

    def test_a_request_lost_before_canvas_acted_is_sent_again_only_with_force(self, tree, run_daemon, canvas):
        """A dropped request the import never shows: exit 1, record open; run again it refuses; --force asks again."""
        config, batch = done_batch(
            tree, run_daemon, canvas.url, poll={"warn_after_seconds": 0.3, "give_up_after_seconds": 0.3}
        )
        canvas.faults.add(kind=FaultKind.DROP, count=1, path="restore_states")

        code, _out, err = rollback(config, batch)

        assert 1 == code
        assert "did not start restoring within 0.3 s. Canvas may have queued it" in err
        assert "ask again with --force" in err
        assert 1 == restore_requests(canvas)
        assert (None, None) == (record_of(batch).progress_id, record_of(batch).finished_at)
        refused, _out, err = rollback(config, batch)
        assert 1 == refused
        assert "may still be queued in Canvas" in err
        assert "(the import is `imported` now)" in err
        assert 1 == restore_requests(canvas)
        forced, _out, err = rollback(config, batch, force=True)
        assert 0 == forced, err
        assert 2 == restore_requests(canvas)
        assert "restored" == record_of(batch).workflow_state

    def test_a_lost_answer_to_a_queued_restore_is_followed_once_it_starts_never_sent_twice(
        self, tree, run_daemon
    ):
        """The answer to a restore Canvas queued is lost: a rerun while queued refuses; once it runs, it is followed."""
        settings = SimulatorSettings(restore_pickup_delay_seconds=1.5, restore_seconds=0.2)
        with CanvasSimulator(token=TOKEN, settings=settings) as canvas:
            config, batch = done_batch(
                tree, run_daemon, canvas.url, poll={"warn_after_seconds": 0.3, "give_up_after_seconds": 0.3}
            )
            canvas.faults.add(kind=FaultKind.DROP_AFTER_UPLOAD, count=1, path="restore_states")
            import_id = load_manifest(batch).canvas.import_id or 0

            first, _out, first_err = rollback(config, batch)
            second, _out, second_err = rollback(config, batch)
            canvas.wait_for_state(import_id, states=frozenset({"restoring", "restored"}))
            third, _out, third_err = rollback(config, batch)

            assert (1, 1) == (first, second), first_err + second_err
            assert "Canvas may have queued it" in first_err
            assert "may still be queued in Canvas" in second_err
            assert 0 == third, third_err
            assert 1 == restore_requests(canvas)
            assert "restored" == record_of(batch).workflow_state

    def test_a_rollback_killed_before_its_progress_was_saved_is_not_sent_again_without_force(
        self, tree, run_daemon, canvas
    ):
        """An open record without a Progress id (kill -9 during the PUT): refused, exit 1; --force sends it once."""
        config, batch = done_batch(tree, run_daemon, canvas.url)
        manifest = load_manifest(batch)
        manifest.rollback = RollbackRecord(requested_at="2026-12-02T01:00:00Z", options=[])
        manifest.save(batch)

        refused, _out, err = rollback(config, batch)
        forced, _out, forced_err = rollback(config, batch, force=True)

        assert 1 == refused
        assert "an earlier rollback request for import" in err
        assert "(at 2026-12-02T01:00:00Z) may still be queued in Canvas" in err
        assert 0 == forced, forced_err
        assert 1 == restore_requests(canvas)
        assert "restored" == record_of(batch).workflow_state

    def test_a_request_that_never_reached_canvas_is_closed_and_asked_again_without_force(
        self, tree, run_daemon, canvas
    ):
        """Throttled until the retries ran out (nothing reached Canvas): exit 1, record closed; a rerun asks again."""
        config, batch = done_batch(tree, run_daemon, canvas.url)
        canvas.faults.add(kind=FaultKind.THROTTLE_429, count=None, path="restore_states")

        code, _out, err = rollback(config, batch)

        assert 1 == code
        assert "throttled by Canvas" in err
        record = record_of(batch)
        assert record.finished_at is not None
        assert "throttled by Canvas" in (record.error or "")
        canvas.faults.clear()
        again, _out, err = rollback(config, batch)
        assert 0 == again, err
        assert "restored" == record_of(batch).workflow_state

    def test_a_restore_already_running_in_canvas_is_followed(self, tree, run_daemon, slow_restores):
        """An import already `restoring` (an answer lost before it was recorded) is followed, not restored again."""
        config, batch = done_batch(tree, run_daemon, slow_restores.url)
        import_id = load_manifest(batch).canvas.import_id
        with httpx.Client(base_url=slow_restores.url, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
            http.put(f"/api/v1/accounts/self/sis_imports/{import_id}/restore_states")
        slow_restores.wait_for_state(import_id or 0, states=frozenset({"restoring"}))

        code, _out, err = rollback(config, batch)

        assert 0 == code, err
        assert 1 == restore_requests(slow_restores)
        assert "restored" == record_of(batch).workflow_state

    def test_an_import_an_admin_restored_is_recorded_as_it_is(self, tree, run_daemon, canvas):
        """An import already `restored` in Canvas is recorded as rolled back without a request."""
        config, batch = done_batch(tree, run_daemon, canvas.url)
        import_id = load_manifest(batch).canvas.import_id or 0
        with httpx.Client(base_url=canvas.url, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
            http.put(f"/api/v1/accounts/self/sis_imports/{import_id}/restore_states")
        canvas.wait_for_state(import_id, states=frozenset({"restored"}))

        code, _out, err = rollback(config, batch)

        assert 0 == code, err
        assert 1 == restore_requests(canvas)


class TestWaiting:
    def test_a_restore_past_give_up_exits_1_and_a_second_run_follows_the_same_progress(
        self, tree, run_daemon, slow_restores
    ):
        """Past poll.give_up_after_seconds the command exits 1 leaving the record open; run again, it ends it."""
        config, batch = done_batch(
            tree,
            run_daemon,
            slow_restores.url,
            poll={"warn_after_seconds": 0.2, "give_up_after_seconds": 0.2},
        )

        code, _out, err = rollback(config, batch)

        assert 1 == code
        assert "had not finished restoring import" in err
        record = load_manifest(batch).rollback
        assert record is not None
        assert record.finished_at is None
        assert isinstance(record.progress_id, int)
        patient = load(tree.write_config(slow_restores.url, intake=FAST, retry=QUICK_RETRY))
        again, _out, err = rollback(patient, batch)
        assert 0 == again, err
        assert 1 == restore_requests(slow_restores)
        assert record.progress_id == record_of(batch).progress_id

    def test_an_import_saved_after_its_progress_completed_is_waited_for(self, tree, run_daemon):
        """Canvas completes the Progress before it saves the import `restored`: the command waits for it, exit 0."""
        with CanvasSimulator(
            token=TOKEN, settings=SimulatorSettings(restore_save_delay_seconds=1.0)
        ) as canvas:
            config, batch = done_batch(tree, run_daemon, canvas.url)

            code, out, err = rollback(config, batch)

        assert 0 == code, err
        assert "rolled back (restored)" in out
        record = record_of(batch)
        assert ("restored", None, 100.0) == (record.workflow_state, record.error, record.completion)
        assert 2 == (record.statistics or {})["Pseudonym"]["restored"]

    def test_an_import_not_saved_in_time_exits_1_and_a_rerun_records_it(self, tree, run_daemon):
        """The import still `restoring` past the wait after its Progress ended: exit 1, record open; run again, recorded."""
        with CanvasSimulator(
            token=TOKEN, settings=SimulatorSettings(restore_save_delay_seconds=1.5)
        ) as canvas:
            config, batch = done_batch(
                tree, run_daemon, canvas.url, poll={"warn_after_seconds": 0.3, "give_up_after_seconds": 0.3}
            )

            code, _out, err = rollback(config, batch)

            assert 1 == code
            assert "Canvas ended the restore's Progress completed but import" in err
            assert "did not show its final state within 0.3 s; run the command again" in err
            record = record_of(batch)
            assert (None, None) == (record.finished_at, record.workflow_state)
            assert isinstance(record.progress_id, int)
            patient = load(tree.write_config(canvas.url, intake=FAST, retry=QUICK_RETRY))
            again, _out, err = rollback(patient, batch)
            assert 0 == again, err
            assert 1 == restore_requests(canvas)
            assert "restored" == record_of(batch).workflow_state


class TestStopRequested:
    @pytest.mark.parametrize("fault", [None, FaultKind.DROP])
    def test_a_stop_request_while_waiting_unwinds_as_an_interrupt(
        self, tree, run_daemon, slow_restores, fault
    ):
        """The client's stop event set: waiting on the Progress, or on a lost answer, ends as Ctrl-C does."""
        config, batch = done_batch(tree, run_daemon, slow_restores.url)
        if fault is not None:
            slow_restores.faults.add(kind=fault, count=1, path="restore_states")
        stopping = threading.Event()

        def stop_once_asked() -> None:  # the stop request comes while the command waits after the PUT
            wait_until(lambda: restore_requests(slow_restores) == 1, what="the restore request")
            stopping.set()

        stopper = threading.Thread(target=stop_once_asked)
        stopper.start()
        client = make_client(config, stopping=stopping)
        try:
            with pytest.raises(KeyboardInterrupt):
                Rollback(config, batch, load_manifest(batch), client=client).run([])
        finally:
            client.close()
            stopper.join(10)

        assert record_of(batch).finished_at is None
        assert (fault is None) == isinstance(record_of(batch).progress_id, int)
