"""Unit tests for `sis_watcher.schedule.watch`: pauses noticed, told once, alerted once across restarts."""

from __future__ import annotations

import threading

import pytest
from structlog.testing import capture_logs

from sis_watcher.core.errors import Stopping
from sis_watcher.ops.events import Monitor
from sis_watcher.schedule import watch as watch_module
from sis_watcher.schedule.pause_file import ALERTED_NAME, PAUSE_NAME, OperatorPause, remove_pause, write_pause
from sis_watcher.schedule.watch import PauseWatch

from unit.schedule.conftest import PauseRecorder

SINCE = "2027-06-25T12:00:00.000000Z"
WINDOW = {"from": "2027-06-25T13:00:00Z", "to": "2027-06-25T23:00:00Z", "reason": "term rollover"}
HOUR = 3600.0


@pytest.fixture
def recorder() -> PauseRecorder:
    return PauseRecorder()


@pytest.fixture
def stopping() -> threading.Event:
    return threading.Event()


@pytest.fixture
def make_watch(make_config, clock, recorder, stopping):
    def build(**sections):
        config = make_config(**sections)
        return PauseWatch(config=config, clock=clock, monitor=Monitor([recorder]), stopping=stopping)

    return build


def pause(queue, *, since=SINCE, reason="audit"):
    write_pause(queue, OperatorPause(reason=reason, since=since, by="alice"))


def events(logs, name):
    return [entry for entry in logs if entry["event"] == name]


class TestTransitions:
    def test_an_operator_pause_begins_and_ends_once_each(self, make_watch, recorder):
        """The monitor hears `pause_began` when the file appears and `pause_ended` when it goes."""
        watch = make_watch()
        assert None is watch.refresh()
        with capture_logs() as logs:
            pause(watch.config.folders.queue)
            notice = watch.refresh()
            assert notice == watch.refresh()
            remove_pause(watch.config.folders.queue)
            assert None is watch.refresh()
        assert ["began", "ended"] == recorder.names()
        assert notice is not None
        assert ("operator", "audit", "alice") == (notice.source, notice.reason, notice.by)
        [began] = events(logs, "uploads.paused_by_operator")
        assert SINCE == began["since"]
        assert events(logs, "uploads.resumed_by_operator")

    def test_a_blackout_starts_and_ends_with_the_clock(self, make_watch, recorder, clock):
        """Before the window nothing; inside it a blackout until its end; after it, over."""
        watch = make_watch(schedule={"blackout": [WINDOW]})
        with capture_logs() as logs:
            assert None is watch.refresh()
            clock.advance(HOUR)
            notice = watch.refresh()
            clock.advance(10 * HOUR)
            assert None is watch.refresh()
        assert notice is not None
        assert ("blackout", "2027-06-25T23:00:00.000000Z") == (notice.source, notice.until)
        assert ["began", "ended"] == recorder.names()
        assert events(logs, "uploads.blackout_started")
        assert events(logs, "uploads.blackout_ended")

    def test_resuming_during_a_blackout_hands_over_to_the_blackout(self, make_watch, recorder, clock):
        """The operator's pause ends, and the blackout in force takes over: uploads still wait."""
        watch = make_watch(schedule={"blackout": [WINDOW]})
        clock.advance(HOUR)
        pause(watch.config.folders.queue)
        watch.refresh()
        remove_pause(watch.config.folders.queue)
        notice = watch.refresh()
        assert notice is not None
        assert "blackout" == notice.source
        assert [("began", "operator"), ("began", "blackout")] == [
            (name, value.source) for name, value in recorder.moments
        ]

    def test_an_operator_pause_inside_a_blackout_leaves_the_windows_start_and_end_alone(
        self, make_watch, recorder, clock
    ):
        """Each source's start and end is logged once, when that source itself begins and is over."""
        watch = make_watch(schedule={"blackout": [WINDOW]})
        queue = watch.config.folders.queue
        with capture_logs() as logs:
            clock.advance(HOUR)
            watch.refresh()
            pause(queue)
            watch.refresh()
            remove_pause(queue)
            watch.refresh()
            pause(queue, since="2027-06-25T14:00:00.000000Z")
            watch.refresh()
            clock.advance(10 * HOUR)  # the window is over; the operator's pause goes on
            assert "operator" == getattr(watch.refresh(), "source", None)
        names = [entry["event"] for entry in logs if entry["event"].startswith("uploads.")]
        assert [
            "uploads.blackout_started",
            "uploads.paused_by_operator",
            "uploads.resumed_by_operator",
            "uploads.paused_by_operator",
            "uploads.blackout_ended",
        ] == names
        assert "ended" not in recorder.names()

    def test_a_new_reason_for_the_same_pause_is_told_again_without_an_end(self, make_watch, recorder):
        """`pause --reason` while paused keeps the start: listeners hear the new reason only."""
        watch = make_watch()
        pause(watch.config.folders.queue)
        watch.refresh()
        pause(watch.config.folders.queue, reason="still auditing")
        watch.refresh()
        assert ["began", "began"] == recorder.names()
        assert "still auditing" == recorder.moments[-1][1].reason

    def test_a_corrupt_pause_file_is_logged_as_an_error_and_holds_uploads(self, make_watch, recorder):
        """`pause.file_unreadable` names the file; the pause is in force until it is fixed."""
        watch = make_watch()
        (watch.config.folders.queue / PAUSE_NAME).write_text("{", encoding="utf-8")
        with capture_logs() as logs:
            notice = watch.refresh()
            watch.refresh()
        assert notice is not None
        assert notice.problem is not None
        [logged] = events(logs, "pause.file_unreadable")
        assert str(watch.config.folders.queue / PAUSE_NAME) == logged["path"]
        assert 1 == recorder.names().count("began")


class TestTooLong:
    def test_one_alert_when_an_operator_pause_outlasts_the_limit(self, make_watch, recorder, clock):
        """Not before the limit, once at it, never again for that pause."""
        watch = make_watch(alerts={"paused_too_long_hours": 1})
        pause(watch.config.folders.queue)
        clock.advance(HOUR / 2)
        watch.refresh()
        clock.advance(HOUR / 2)
        with capture_logs() as logs:
            watch.refresh()
            clock.advance(HOUR)
            watch.refresh()
        [(_, (notice, hours))] = [moment for moment in recorder.moments if moment[0] == "too_long"]
        assert SINCE == notice.since
        assert 1.0 == pytest.approx(hours)
        assert 1 == len(events(logs, "uploads.paused_too_long"))

    def test_the_alert_is_not_repeated_after_a_restart_but_is_for_a_new_pause(
        self, make_watch, recorder, clock
    ):
        """The alert record in the queue folder survives the process; a new pause has a new start."""
        make_watch(alerts={"paused_too_long_hours": 1})
        pause(make_watch().config.folders.queue)
        clock.advance(2 * HOUR)
        make_watch(alerts={"paused_too_long_hours": 1}).refresh()
        restarted = make_watch(alerts={"paused_too_long_hours": 1})
        restarted.refresh()
        restarted.refresh()
        assert 1 == recorder.names().count("too_long")

        pause(restarted.config.folders.queue, since="2027-06-25T13:00:00.000000Z")
        restarted.refresh()
        assert 2 == recorder.names().count("too_long")

    def test_a_blackout_never_alerts_however_long(self, make_watch, recorder, clock):
        """A blackout's end is in the config; it resumes by itself."""
        watch = make_watch(schedule={"blackout": [WINDOW]}, alerts={"paused_too_long_hours": 1})
        clock.advance(9 * HOUR)
        watch.refresh()
        assert "too_long" not in recorder.names()

    @pytest.mark.parametrize("since", ["last tuesday", "0001-01-01T00:00:00+01:00"])
    def test_a_start_no_one_can_read_is_shown_but_never_too_long(self, make_watch, recorder, clock, since):
        """A hand-edited `since` that is not a (representable) time does not alert every few seconds."""
        watch = make_watch(alerts={"paused_too_long_hours": 1})
        pause(watch.config.folders.queue, since=since)
        clock.advance(100 * HOUR)
        assert watch.refresh() is not None
        assert ["began"] == recorder.names()

    def test_an_alert_record_that_cannot_be_written_is_logged(self, make_watch, recorder, clock):
        """The alert still goes out once in this process; the failure is a warning."""
        watch = make_watch(alerts={"paused_too_long_hours": 1})
        (watch.config.folders.queue / ALERTED_NAME).mkdir()
        pause(watch.config.folders.queue)
        clock.advance(2 * HOUR)
        with capture_logs() as logs:
            watch.refresh()
            watch.refresh()
        assert 1 == recorder.names().count("too_long")
        assert events(logs, "pause.alert_record_failed")

    def test_the_record_is_written_before_the_alert_and_without_the_lock(self, make_watch, clock):
        """At most once: the alert is queued after its record; listeners run with the lock free."""
        seen: list[tuple[bool, bool]] = []

        class Checking(PauseRecorder):
            def pause_too_long(self, pause_notice, hours):
                free = watch.lock.acquire(blocking=False)
                if free:
                    watch.lock.release()
                seen.append(((watch.config.folders.queue / ALERTED_NAME).exists(), free))

        watch = make_watch(alerts={"paused_too_long_hours": 1})
        watch.monitor = Monitor([Checking()])
        pause(watch.config.folders.queue)
        clock.advance(2 * HOUR)
        watch.refresh()
        assert [(True, True)] == seen


class TestWorkerSide:
    def test_the_idle_activity_says_the_pause(self, make_watch):
        """With an empty queue the worker's activity is the pause, or plain `idle`."""
        watch = make_watch()
        assert "idle, 0 queued" == watch.idle_activity()
        pause(watch.config.folders.queue)
        assert watch.idle_activity().startswith("paused by operator (alice) since 2027-06-25T12:00:00")

    def test_a_waiting_batch_says_so_once_and_waits(self, make_watch, recorder, monkeypatch):
        """The wait is logged once per batch; the activity names the pause, the batch and the queue."""
        monkeypatch.setattr(watch_module, "PAUSE_RECHECK_SECONDS", 0.01)
        watch = make_watch()
        pause(watch.config.folders.queue)
        notice = watch.refresh()
        assert notice is not None
        (watch.config.folders.queue / "20270625T120000Z-000001").mkdir()
        with capture_logs() as logs:
            watch.wait("20270625T120000Z-000001", notice)
            watch.wait("20270625T120000Z-000001", notice)
        assert 1 == len(events(logs, "batch.waiting_for_resume"))
        text, queued, batch_id = recorder.moments[-1][1]
        assert text.endswith("; 20270625T120000Z-000001 waits to be uploaded")
        assert (1, "20270625T120000Z-000001") == (queued, batch_id)

    def test_a_stop_ends_the_wait(self, make_watch, recorder, stopping, folders):
        """`stopping` set: the wait raises Stopping at once (an unreadable queue only loses the count)."""
        watch = make_watch()
        pause(watch.config.folders.queue)
        notice = watch.refresh()
        assert notice is not None
        folders.queue.rename(folders.queue.with_name("moved"))
        folders.queue.write_text("not a folder", encoding="utf-8")
        stopping.set()
        with pytest.raises(Stopping):
            watch.wait("20270625T120000Z-000001", notice)
        assert (None, "20270625T120000Z-000001") == recorder.moments[-1][1][1:]
