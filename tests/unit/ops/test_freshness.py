"""Export freshness: one "no export" alert per silence, one "resumed" alert, across restarts too."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from sis_watcher.batch.manifest import BatchState
from sis_watcher.core.clock import isoformat
from sis_watcher.ops.freshness import batch_time, newest_batch_id, silence_start, span
from sis_watcher.ops.metrics import Metrics
from sis_watcher.ops.timed_state import STATE_NAME, TimedState

from support import wait_until
from unit.ops.timed import (
    T0,
    SettableClock,
    batch_id_at,
    batch_manifest,
    named,
    put_batch,
    sealed_manifest,
    sealed_time,
    timed_alerts,
)


def test_one_alert_per_silence_and_one_when_exports_resume(tree, found):
    """Two hours without a seal alert once by webhook and email; the next seal alerts "resumed" once."""
    last = batch_id_at(T0 - timedelta(hours=1))
    put_batch(tree.done, batch_manifest(last, BatchState.DONE, filed=T0))
    clock = SettableClock()
    timed = timed_alerts(tree, found, clock, expect_export_every_hours=2)

    clock.advance(minutes=59)
    timed.tick()
    clock.advance(minutes=2)
    for _ in range(3):
        timed.tick()
    clock.advance(hours=5)
    timed.tick()
    found.wait(1)

    assert found.kinds() == ["no_export"]
    [body] = [request.body for request in found.hook.requests]
    assert body["severity"] == "warning"
    assert body["last_batch_id"] == last
    assert body["last_sealed_at"] == isoformat(sealed_time(last))
    assert body["expected_every_hours"] == 2
    assert body["summary"].startswith("no export for 2.0 h: the last batch was sealed 2026-11-27 06:00 -0500")
    assert f"Last batch: {last}, sealed 2026-11-27 06:00 -0500" in body["text"]
    assert found.subjects() == [f"[sis-watcher host1] {body['summary']}"]

    new = sealed_manifest(clock.now())
    timed.batch_sealed(new)
    timed.batch_sealed(new)
    timed.batch_sealed(sealed_manifest(clock.now() + timedelta(seconds=1)))
    clock.advance(hours=1)
    timed.tick()

    assert found.drain() == ["no_export", "exports_resumed"]
    resumed = found.hook.requests[1].body
    assert resumed["severity"] == "info"
    assert resumed["batch_id"] == new.batch_id
    assert resumed["previous_batch_id"] == last
    assert resumed["summary"].startswith(f"exports arrive again after 7.0 h: batch {new.batch_id} sealed")


def test_a_restart_neither_repeats_the_alert_nor_forgets_the_resumed_one(tree, found):
    """A new process with the same state file stays quiet for the alerted silence, then says "resumed"."""
    put_batch(tree.failed, batch_manifest(batch_id_at(T0 - timedelta(hours=3)), BatchState.FAILED, filed=T0))
    clock = SettableClock()
    first = timed_alerts(tree, found, clock, expect_export_every_hours=1)
    first.tick()
    found.wait(1)

    second = timed_alerts(tree, found, clock, expect_export_every_hours=1)
    clock.advance(hours=2)
    second.tick()
    sealed = sealed_manifest(clock.now())
    put_batch(tree.queue, sealed)
    second.batch_sealed(sealed)
    second.tick()
    third = timed_alerts(tree, found, clock, expect_export_every_hours=1)
    third.tick()

    assert found.drain() == ["no_export", "exports_resumed"]


def test_a_batch_sealed_while_the_daemon_was_down_ends_the_silence_at_start(tree, found):
    """`once` sealed a batch while the daemon was down: the next start sends "resumed", no new alert."""
    clock = SettableClock()
    put_batch(tree.done, batch_manifest(batch_id_at(T0 - timedelta(hours=5)), BatchState.DONE, filed=T0))
    timed_alerts(tree, found, clock, expect_export_every_hours=1).tick()
    clock.advance(hours=1)
    put_batch(tree.queue, batch_manifest(batch_id_at(clock.now()), BatchState.QUEUED))

    again = timed_alerts(tree, found, clock, expect_export_every_hours=1)
    again.tick()

    assert found.drain() == ["no_export", "exports_resumed"]


def test_without_any_batch_the_silence_counts_from_the_first_watch(tree, found):
    """No batch ever: the silence starts at the first start and restarts do not reset it."""
    clock = SettableClock()
    timed_alerts(tree, found, clock, expect_export_every_hours=3)
    clock.advance(hours=2)
    restarted = timed_alerts(tree, found, clock, expect_export_every_hours=3)
    restarted.tick()
    assert found.kinds() == []

    clock.advance(hours=1)
    restarted.tick()
    assert found.drain() == ["no_export"]

    [body] = [request.body for request in found.hook.requests]
    assert body["event"] == "no_export"
    assert body["last_batch_id"] is None
    assert body["watching_since"] == "2026-11-27T12:00:00.000000Z"
    assert "no batch sealed since watching began 2026-11-27 07:00 -0500" in body["summary"]
    assert body["silent_seconds"] == 3 * 3600


@pytest.mark.parametrize(
    "garbage",
    [
        "{not json",
        '["a list"]',
        "[" * 100_000,  # the parser's RecursionError
        "\udcff",  # not UTF-8
        '{"last_batch_id": "zzz"}',
        '{"digest_date": "tomorrow"}',
        '{"digest_date": "2026-02-30"}',
        '{"last_batch_id": "20261101T000000Z-000000", "last_sealed_at": "9999-12-31T23:59:59-05:00"}',
        '{"last_batch_id": "20261101T000000Z-000000", "last_sealed_at": "garbage"}',
        '{"watching_since": "0001-01-01T00:00:00+05:00"}',
        '{"digest_until": "yesterday"}',
    ],
)
def test_a_corrupt_state_file_is_named_and_rebuilt_from_the_folders(tree, found, events, garbage):
    """Garbage in the state file: one clear error naming it; the newest batch on disk is used; rewritten."""
    last = batch_id_at(T0 - timedelta(hours=2))
    put_batch(tree.done, batch_manifest(last, BatchState.DONE, filed=T0))
    tree.queue.mkdir(parents=True)
    state = tree.queue / STATE_NAME
    state.write_text(garbage, encoding="utf-8", errors="surrogateescape")
    clock = SettableClock()

    timed = timed_alerts(tree, found, clock, expect_export_every_hours=1)
    timed.tick()
    assert found.drain() == ["no_export"]

    [problem] = named(events, "alerts_state.unreadable")
    assert problem["log_level"] == "error"
    assert problem["path"] == str(state)
    assert json.loads(state.read_text(encoding="utf-8"))["overdue_alerted"] == last


def test_an_unwritable_state_file_is_logged_and_alerts_still_go(tree, found, events):
    """A state path that cannot be written (here a folder) is logged; the alert is still sent once."""
    tree.queue.mkdir(parents=True)
    (tree.queue / STATE_NAME).mkdir()
    clock = SettableClock()
    timed = timed_alerts(tree, found, clock, expect_export_every_hours=1)
    clock.advance(hours=1)
    timed.tick()
    timed.tick()

    assert found.drain() == ["no_export"]
    assert named(events, "alerts_state.unreadable")
    assert named(events, "alerts_state.write_failed")[0]["path"] == str(tree.queue / STATE_NAME)


def test_the_decision_is_logged_without_alert_channels(tree, found, events):
    """With no channel configured the overdue silence is still a warning event in the journal."""
    clock = SettableClock()
    timed = timed_alerts(tree, found, clock, with_channels=False, expect_export_every_hours=0.5)
    clock.advance(minutes=30)
    timed.tick()
    timed.tick()

    [overdue] = named(events, "export.overdue")
    assert overdue["log_level"] == "warning"
    assert overdue["silent_seconds"] == 1800
    assert found.hook.requests == []


def test_the_last_sealed_metric_starts_from_disk_and_follows_seals(tree, found):
    """`sis_watcher_last_sealed_timestamp_seconds` is the newest batch at start, then each seal."""
    last = batch_id_at(T0 - timedelta(hours=4))
    put_batch(tree.done, batch_manifest(last, BatchState.DONE, filed=T0))
    metrics = Metrics(clock=SettableClock())
    clock = SettableClock()

    def gauge():
        return metrics.registry.get_sample_value("sis_watcher_last_sealed_timestamp_seconds")

    assert gauge() == 0
    timed = timed_alerts(tree, found, clock, metrics=metrics)
    assert gauge() == sealed_time(last).timestamp()

    sealed = sealed_manifest(clock.now())
    metrics.batch_sealed(sealed)
    timed.batch_sealed(sealed)
    assert gauge() == T0.timestamp()

    metrics.clock = SettableClock(T0 + timedelta(minutes=1))
    metrics.batch_sealed(sealed.model_copy(update={"sealed_at": "garbage"}))
    assert gauge() == (T0 + timedelta(minutes=1)).timestamp()


def test_the_thread_alerts_by_itself_and_stops(tree, found):
    """Started, the thread notices the silence on its own; `stop` ends it."""
    clock = SettableClock()
    timed = timed_alerts(tree, found, clock, expect_export_every_hours=1)
    timed.start()
    clock.advance(hours=2)

    wait_until(lambda: found.kinds() == ["no_export"], timeout=10, what="the no_export alert")
    timed.stop(timeout=5)

    assert not timed.thread.is_alive()


class FailingOnceClock(SettableClock):
    def __init__(self) -> None:
        super().__init__()
        self.failures = 0

    def now(self):
        if self.failures == 0 and self.moment > T0:
            self.failures += 1
            raise RuntimeError("clock unavailable")
        return super().now()


def test_a_failing_tick_is_logged_and_the_next_one_runs(tree, found, events):
    """An exception in one tick is logged (`timed_alerts.tick_failed`); the thread goes on."""
    clock = FailingOnceClock()
    timed = timed_alerts(tree, found, clock, expect_export_every_hours=1)
    clock.advance(hours=2)
    timed.start()

    wait_until(lambda: found.kinds() == ["no_export"], timeout=10, what="the no_export alert")
    timed.stop(timeout=5)

    assert named(events, "timed_alerts.tick_failed")


def test_disabled_freshness_never_alerts_and_starts_no_thread(tree, found):
    """Without `expect_export_every_hours` or `digest_at` nothing is checked."""
    clock = SettableClock()
    timed = timed_alerts(tree, found, clock)
    timed.opened = False
    timed.start()
    clock.advance(days=30)
    timed.tick()
    timed.stop()

    assert found.kinds() == []
    assert timed.thread.ident is None


def test_a_seal_heard_before_open_is_left_to_the_folders(tree, found):
    """Before `open` a seal changes nothing (`open` sees it on disk); the same id twice counts once."""
    clock = SettableClock()
    timed = timed_alerts(tree, found, clock, expect_export_every_hours=1)
    timed.opened = False
    timed.batch_sealed(sealed_manifest(T0))
    assert timed.state.last_batch_id is None

    timed.opened = True
    timed.batch_sealed(sealed_manifest(T0))
    timed.batch_sealed(sealed_manifest(T0))
    assert timed.state.last_batch_id is not None
    assert batch_time(timed.state.last_batch_id) == T0
    assert not timed.resumed


def test_seals_after_the_clock_went_back_are_exports(tree, found):
    """A seal while the clock ran a day ahead does not hide the real exports that follow (smaller ids)."""
    clock = SettableClock()
    timed = timed_alerts(tree, found, clock, expect_export_every_hours=2)
    timed.batch_sealed(sealed_manifest(T0 + timedelta(days=1)))
    clock.moment = T0 + timedelta(hours=1)  # the clock is corrected; one real export, then silence
    real = sealed_manifest(clock.moment)
    timed.batch_sealed(real)
    for hour in range(2, 5):
        clock.moment = T0 + timedelta(hours=hour)
        timed.tick()

    assert found.drain() == ["no_export"]
    assert found.hook.requests[0].body["last_batch_id"] == real.batch_id


@pytest.mark.parametrize("garbage", ["garbage", "9999-12-31T23:59:59-05:00"])
def test_a_manifest_with_an_unreadable_seal_time_counts_from_its_id(tree, found, garbage):
    """`sealed_at` that is not a usable time: the id's time is used."""
    clock = SettableClock()
    timed = timed_alerts(tree, found, clock, expect_export_every_hours=1)
    manifest = sealed_manifest(T0 - timedelta(minutes=5)).model_copy(update={"sealed_at": garbage})
    timed.batch_sealed(manifest)

    assert timed.state.last_sealed_at == "2026-11-27T11:55:00.000000Z"


def test_a_seal_is_written_by_the_tick_and_a_kill_before_it_is_rebuilt_from_the_folders(tree, found):
    """
    `batch_sealed` (the intake thread) only changes memory; the next tick writes the file, then
    sends "resumed". Killed in between, the next start finds the batch on disk and says "resumed" once.
    """
    put_batch(tree.done, batch_manifest(batch_id_at(T0 - timedelta(hours=3)), BatchState.DONE, filed=T0))
    clock = SettableClock()
    first = timed_alerts(tree, found, clock, expect_export_every_hours=1)
    first.tick()
    found.wait(1)
    state = tree.queue / STATE_NAME
    before = state.read_bytes()

    clock.advance(minutes=10)
    sealed = sealed_manifest(clock.now())
    put_batch(tree.queue, sealed)  # the pipeline seals the batch on disk before it tells the listeners
    first.batch_sealed(sealed)
    assert state.read_bytes() == before  # no write (no fsync) on the intake thread

    # killed here: the next start rebuilds the seal from the folders
    second = timed_alerts(tree, found, clock, expect_export_every_hours=1)
    second.tick()
    assert TimedState.model_validate_json(state.read_bytes()).last_batch_id == sealed.batch_id

    clock.advance(minutes=10)
    later = sealed_manifest(clock.now())
    second.start()
    second.batch_sealed(later)
    wait_until(
        lambda: TimedState.model_validate_json(state.read_bytes()).last_batch_id == later.batch_id,
        timeout=10,
        what="the thread writes the seal",
    )
    second.stop(timeout=5)

    assert found.drain() == ["no_export", "exports_resumed"]
    assert found.hook.requests[1].body["batch_id"] == sealed.batch_id


def test_a_time_out_of_range_is_no_silence():
    """`silence_start` of a time with no UTC equivalent (not validated, e.g. built in code) is None."""
    state = TimedState.model_construct(
        last_batch_id=batch_id_at(T0), last_sealed_at="9999-12-31T23:59:59-05:00", watching_since=None
    )
    assert silence_start(state) is None


def test_newest_batch_id_reads_names_only(tmp_path):
    """Ids sort by time: the newest across folders, with `.N` suffixes and non-batches ignored."""
    (tmp_path / "a" / "20261127T020000Z-000001.2").mkdir(parents=True)
    (tmp_path / "a" / "lost+found").mkdir()
    (tmp_path / "b" / "20261126T020000Z-000001").mkdir(parents=True)

    assert (
        newest_batch_id([tmp_path / "a", tmp_path / "b", tmp_path / "missing"]) == "20261127T020000Z-000001"
    )
    assert newest_batch_id([tmp_path / "missing"]) is None
    assert batch_time("not-an-id") is None


@pytest.mark.parametrize("name", ["20261399T000000Z-000000", "99991231T235959Z-000000"])
def test_a_batch_folder_named_with_an_impossible_time_is_no_export(tree, found, name):
    """A folder whose id is not a date, or year 9999, does not stop `open` and ends no silence."""
    (tree.done / name).mkdir(parents=True)
    clock = SettableClock()
    timed = timed_alerts(tree, found, clock, expect_export_every_hours=1)
    clock.advance(hours=1)
    timed.tick()

    assert batch_time(name) is None
    assert found.drain() == ["no_export"]
    assert found.hook.requests[0].body["last_batch_id"] is None


@pytest.mark.parametrize(
    ("seconds", "expected"), [(1500, "25 min"), (3 * 3600, "3.0 h"), (5 * 86400, "5.0 days")]
)
def test_span(seconds, expected):
    """Durations read as minutes, hours or days."""
    assert span(seconds) == expected
