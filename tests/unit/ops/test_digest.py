"""The daily digest: once a day after `digest_at`, the last 24 hours, never twice across restarts."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, time, timedelta

import pytest

from sis_watcher.batch.manifest import BatchState
from sis_watcher.config.load import load
from sis_watcher.core.clock import isoformat
from sis_watcher.core.errors import ConfigError
from sis_watcher.ops.digest import MAX_LISTED, digest_alert, digest_due, gather
from sis_watcher.ops.events import PauseNotice
from sis_watcher.ops.timed_state import STATE_NAME, TimedState

from unit.ops.timed import (
    T0,
    UNUSED_CANVAS,
    ZONE,
    SettableClock,
    batch_id_at,
    batch_manifest,
    named,
    put_batch,
    sealed_manifest,
    timed_alerts,
)

DIGEST_AT = "08:00"  # T0 is 07:00 in the tests' zone (UTC-5)


def a_day_of_batches(tree):
    """Done, failed and held batches around T0 + 1 h, plus one outside the window."""
    now = T0 + timedelta(hours=1)
    done = batch_id_at(now - timedelta(hours=3))
    put_batch(
        tree.done,
        batch_manifest(
            done,
            BatchState.DONE,
            filed=now - timedelta(hours=2),
            reason="Canvas import 7 imported with 2 warning(s)",
            warnings=2,
            summary="user +2",
        ),
    )
    late = batch_id_at(now - timedelta(days=3))  # sealed long ago, held, approved and filed today
    put_batch(
        tree.done,
        batch_manifest(late, BatchState.DONE, filed=now - timedelta(hours=1), reason="imported"),
        mtime=now - timedelta(hours=1),
    )
    failed = batch_id_at(now - timedelta(hours=5))
    put_batch(
        tree.failed,
        batch_manifest(
            failed, BatchState.FAILED, filed=now - timedelta(hours=4), reason="Canvas failed", errors=3
        ),
    )
    old = batch_id_at(now - timedelta(days=2))
    put_batch(
        tree.done,
        batch_manifest(old, BatchState.DONE, filed=now - timedelta(days=2)),
        mtime=now - timedelta(days=2),
    )
    held = batch_id_at(now - timedelta(minutes=30))
    put_batch(
        tree.queue,
        batch_manifest(held, BatchState.HELD, hold=("users: 40% deleted, limit 10%",), summary="user -40"),
    )
    queued = batch_id_at(now - timedelta(minutes=10))
    put_batch(tree.queue, batch_manifest(queued, BatchState.QUEUED))
    return {"done": done, "late": late, "failed": failed, "old": old, "held": held, "queued": queued}


def test_one_digest_a_day_with_the_last_24_hours(tree, found):
    """Before 08:00 nothing; after it one digest by webhook and email with every part; once."""
    ids = a_day_of_batches(tree)
    clock = SettableClock()
    timed = timed_alerts(tree, found, clock, digest_at=DIGEST_AT)
    timed.tick()
    clock.advance(minutes=59)
    timed.tick()
    assert found.kinds() == []

    clock.advance(minutes=1)
    for _ in range(3):
        timed.tick()

    assert found.drain() == ["digest"]
    [body] = [request.body for request in found.hook.requests]
    assert body["severity"] == "info"
    assert body["date"] == "2026-11-27"
    assert body["summary"] == "daily digest 2026-11-27: 2 done, 1 failed, 1 held, 2 queued"
    assert [batch["batch_id"] for batch in body["done"]] == sorted([ids["done"], ids["late"]])
    assert body["failed"] == [
        {
            "batch_id": ids["failed"],
            "reason": "Canvas failed",
            "changes": None,
            "canvas_errors": 3,
            "canvas_warnings": 0,
        }
    ]
    assert body["held"] == [
        {
            "batch_id": ids["held"],
            "reason": None,
            "changes": "user -40",
            "hold_reasons": ["users: 40% deleted, limit 10%"],
        }
    ]
    assert (body["canvas_errors"], body["canvas_warnings"], body["queue_depth"]) == (3, 2, 2)
    assert body["paused"] is None
    assert body["last_batch_id"] == ids["queued"]
    assert body["exports_in_24h"] is True
    text = body["text"]
    assert "Last 24 h, since 2026-11-26 08:00 -0500:" in text
    assert (
        f"  {ids['done']}: Canvas import 7 imported with 2 warning(s); Canvas 0 error(s), 2 warning(s); changes: user +2"
        in text
    )
    assert f"  {ids['held']}: users: 40% deleted, limit 10%; changes: user -40" in text
    assert "Canvas: 3 error(s), 2 warning(s) in the batches filed" in text
    assert "Uploads: running" in text
    assert f"Last export: batch {ids['queued']}, sealed 2026-11-27 07:50 -0500" in text
    assert ids["old"] not in text
    assert found.subjects() == [f"[sis-watcher host1] {body['summary']}"]


def test_a_restart_the_same_day_sends_no_second_digest_and_the_next_day_one(tree, found):
    """The date is kept in the state file: restarts that day are quiet; the next day gets one."""
    clock = SettableClock(T0 + timedelta(hours=2))
    timed_alerts(tree, found, clock, digest_at=DIGEST_AT).tick()
    found.wait(1)

    for _ in range(2):
        clock.advance(hours=6)
        timed_alerts(tree, found, clock, digest_at=DIGEST_AT).tick()
    assert json.loads((tree.queue / STATE_NAME).read_text(encoding="utf-8"))["digest_date"] == "2026-11-27"

    clock.advance(hours=12)  # 2026-11-28 10:00 local
    timed_alerts(tree, found, clock, digest_at=DIGEST_AT).tick()

    assert found.drain() == ["digest", "digest"]
    assert [request.body["date"] for request in found.hook.requests] == ["2026-11-27", "2026-11-28"]


def test_a_daemon_down_at_digest_time_sends_it_when_it_starts_later_that_day(tree, found):
    """Started at 23:00 local with no digest yet today: it goes out at once, and only once."""
    clock = SettableClock(datetime(2026, 11, 28, 4, 0, tzinfo=UTC))  # 23:00 on the 27th, local
    timed = timed_alerts(tree, found, clock, digest_at=DIGEST_AT)
    timed.tick()
    clock.advance(minutes=30)
    timed.tick()
    clock.advance(minutes=40)  # 00:10 on the 28th: not yet 08:00
    timed.tick()

    assert found.drain() == ["digest"]
    assert found.hook.requests[0].body["date"] == "2026-11-27"


def test_a_quiet_day_is_news(tree, found):
    """No batch for days: the digest says so in its title and its last line."""
    last = batch_id_at(T0 - timedelta(days=3))
    put_batch(
        tree.done,
        batch_manifest(last, BatchState.DONE, filed=T0 - timedelta(days=3)),
        mtime=T0 - timedelta(days=3),
    )
    clock = SettableClock(T0 + timedelta(hours=1))
    timed_alerts(tree, found, clock, digest_at=DIGEST_AT).tick()

    assert found.drain() == ["digest"]
    body = found.hook.requests[0].body
    assert (
        body["summary"] == "daily digest 2026-11-27: 0 done, 0 failed, 0 held, 0 queued; no exports in 24 h"
    )
    assert f"No exports in 24 h (last: batch {last}, sealed 2026-11-24 07:00 -0500)" in body["text"]
    assert body["exports_in_24h"] is False


def test_a_fresh_install_without_batches_still_gets_its_digest(tree, found):
    """Never any batch: "none seen yet"."""
    clock = SettableClock(T0 + timedelta(hours=1))
    timed_alerts(tree, found, clock, digest_at=DIGEST_AT).tick()

    assert found.drain() == ["digest"]
    assert "Last export: none seen yet; no exports in 24 h" in found.hook.requests[0].body["text"]


def test_the_digest_says_why_uploads_wait(tree, found):
    """A deliberate pause is shown before Canvas refusing the token; each shows when it is the only one."""
    pause = PauseNotice(source="operator", reason="term rollover", since="2026-11-27T10:00:00Z", by="alice")
    clock = SettableClock(T0 + timedelta(hours=1))
    timed = timed_alerts(tree, found, clock, digest_at=DIGEST_AT)
    timed.uploads_paused("Canvas answered 401")
    timed.pause_began(pause)
    timed.tick()
    timed.pause_ended(pause)
    clock.advance(days=1)
    timed.tick()
    timed.uploads_resumed()
    clock.advance(days=1)
    timed.tick()

    assert found.drain() == ["digest"] * 3
    assert [request.body["paused"] for request in found.hook.requests] == [
        pause.text(),
        "Canvas refuses the token: Canvas answered 401",
        None,
    ]
    assert f"Uploads: paused ({pause.text()})" in found.hook.requests[0].body["text"]


def test_a_digest_at_with_its_own_offset_uses_it(tree, found):
    """`digest_at: "08:00+01:00"` is 07:00 UTC whatever the machine's zone."""
    clock = SettableClock(datetime(2026, 11, 27, 6, 59, tzinfo=UTC))
    timed = timed_alerts(tree, found, clock, digest_at="08:00+01:00", digest_zone=None)
    timed.tick()
    clock.advance(minutes=1)
    timed.tick()

    assert found.drain() == ["digest"]
    assert "since 2026-11-26 08:00 +0100" in found.hook.requests[0].body["text"]


def test_long_lists_are_cut_and_unreadable_manifests_counted(tree):
    """At most MAX_LISTED batches are listed; a corrupt manifest in the window is counted, not fatal."""
    now = T0
    for minute in range(MAX_LISTED + 3):
        batch_id = batch_id_at(now - timedelta(minutes=minute + 1))
        put_batch(tree.failed, batch_manifest(batch_id, BatchState.FAILED, filed=now, reason="bad"))
    broken = tree.failed / batch_id_at(now - timedelta(hours=2))
    broken.mkdir()
    (broken / "manifest.json").write_text("{", encoding="utf-8")
    stale = tree.done / batch_id_at(now - timedelta(days=9))  # old id, old mtime: never opened
    stale.mkdir(parents=True)
    (stale / "manifest.json").write_text("{", encoding="utf-8")
    old = (now - timedelta(days=9)).timestamp()
    os.utime(stale / "manifest.json", (old, old))
    lost = tree.done / batch_id_at(now - timedelta(days=8))  # old id, no manifest: skipped
    lost.mkdir()
    (tree.queue).mkdir(parents=True)
    (tree.queue / batch_id_at(now)).mkdir()  # a queued batch whose manifest is not written yet

    report = gather(queue=tree.queue, done=tree.done, failed=tree.failed, now=now)

    assert len(report.failed) == MAX_LISTED + 3
    assert report.done == []
    assert report.unreadable == 2
    assert report.queued == 1


def test_a_manifest_without_a_readable_filing_time_is_left_out(tree):
    """A history whose final entry is not a time, or that never reached done: not in the window."""
    odd = batch_manifest(batch_id_at(T0), BatchState.DONE, filed=T0)
    odd.history[-1].at = "yesterday"
    put_batch(tree.done, odd)
    put_batch(tree.done, batch_manifest(batch_id_at(T0 - timedelta(minutes=1)), BatchState.DONE))

    report = gather(queue=tree.queue, done=tree.done, failed=tree.root / "file", now=T0)

    assert report.done == []
    assert report.queued == 0


@pytest.mark.parametrize(
    ("sent", "local_now", "expected"),
    [
        (None, datetime(2026, 11, 27, 7, 59, tzinfo=ZONE), None),
        (None, datetime(2026, 11, 27, 8, 0, tzinfo=ZONE), "2026-11-27"),
        ("2026-11-26", datetime(2026, 11, 27, 23, 59, tzinfo=ZONE), "2026-11-27"),
        ("2026-11-27", datetime(2026, 11, 27, 9, 0, tzinfo=ZONE), None),
        ("2027-03-01", datetime(2026, 11, 27, 9, 0, tzinfo=ZONE), "2026-11-27"),  # the clock went back
        ("2027-03-01", datetime(2026, 11, 27, 7, 0, tzinfo=ZONE), None),
    ],
)
def test_digest_due(events, sent, local_now, expected):
    """Due once per local date, at or after the configured time; a date in the future does not block it."""
    assert digest_due(TimedState(digest_date=sent), at=time(8, 0), local_now=local_now) == expected
    went_back = [(event["digest_date"], event["today"]) for event in named(events, "digest.clock_went_back")]
    assert went_back == ([(sent, "2026-11-27")] if expected and sent == "2027-03-01" else [])


def test_freshness_and_digest_share_one_state_file(tree, found):
    """A seal and a digest on the same file keep each other's facts."""
    clock = SettableClock(T0 + timedelta(hours=1))
    timed = timed_alerts(tree, found, clock, digest_at=DIGEST_AT, expect_export_every_hours=48)
    timed.tick()
    timed.batch_sealed(sealed_manifest(clock.now()))
    timed.tick()

    state = TimedState.model_validate_json((tree.queue / STATE_NAME).read_text(encoding="utf-8"))
    assert state.digest_date == "2026-11-27"
    assert state.last_sealed_at == "2026-11-27T13:00:00.000000Z"
    assert found.drain() == ["digest"]


def test_unreadable_folders_are_counted_and_long_lists_cut_in_the_text(tree):
    """done/ and queue/ that are files count as unreadable; the text lists MAX_LISTED and says how many more."""
    tree.root.joinpath("state").mkdir()
    for folder in (tree.done, tree.queue):
        folder.write_text("not a folder", encoding="utf-8")
    for minute in range(MAX_LISTED + 2):
        batch_id = batch_id_at(T0 - timedelta(minutes=minute + 1))
        put_batch(tree.failed, batch_manifest(batch_id, BatchState.FAILED, filed=T0, reason="bad"))

    report = gather(queue=tree.queue, done=tree.done, failed=tree.failed, now=T0)
    alert = digest_alert(report, date="2026-11-27", state=TimedState(), paused=None, zone=ZONE)

    assert report.unreadable == 2
    assert "  ... and 2 more" in alert.lines
    assert "Unreadable manifests or folders skipped: 2" in alert.lines
    assert len(alert.facts["failed"]) == MAX_LISTED
    assert alert.facts["failed_count"] == MAX_LISTED + 2


def filed_batch(tree, moment):
    """A batch filed under done/ at `moment` (sealed an hour before)."""
    batch_id = batch_id_at(moment - timedelta(hours=1))
    put_batch(tree.done, batch_manifest(batch_id, BatchState.DONE, filed=moment, reason="ok"), mtime=moment)
    return batch_id


def digests_at(tree, found, moments, **alerts):
    """Tick a `TimedAlerts` at each of `moments`; return the digests' webhook bodies."""
    clock = SettableClock(moments[0])
    timed = timed_alerts(tree, found, clock, **alerts)
    for moment in moments:
        clock.moment = moment
        timed.tick()
    found.drain()
    return [request.body for request in found.hook.requests]


def listed(bodies):
    return [batch["batch_id"] for body in bodies for batch in body["done"]]


NEW_YORK = {"digest_at": "07:00", "digest_zone": "America/New_York"}


def test_each_digest_starts_where_the_last_ended_across_the_end_of_dst(tree, found):
    """07:00 EDT to 07:00 EST is 25 h: a batch filed at 07:30 EDT is in the second digest, once."""
    batch = filed_batch(tree, datetime(2026, 10, 31, 11, 30, tzinfo=UTC))  # 07:30 EDT, Saturday
    first, second = datetime(2026, 10, 31, 11, 0, 5, tzinfo=UTC), datetime(2026, 11, 1, 12, 0, 5, tzinfo=UTC)

    bodies = digests_at(tree, found, [first, second], **NEW_YORK)

    assert [body["date"] for body in bodies] == ["2026-10-31", "2026-11-01"]
    assert listed(bodies) == [batch]
    assert "Last 25 h, since 2026-10-31 07:00 -0400:" in bodies[1]["text"]
    assert (bodies[1]["since"], bodies[1]["until"]) == (
        "2026-10-31T11:00:05.000000Z",
        "2026-11-01T12:00:05.000000Z",
    )


def test_the_start_of_dst_reports_no_hour_twice(tree, found):
    """07:00 EST to 07:00 EDT is 23 h: a batch filed at 06:30 EST the day before is only in the first."""
    batch = filed_batch(tree, datetime(2027, 3, 13, 11, 30, tzinfo=UTC))  # 06:30 EST, Saturday
    first, second = datetime(2027, 3, 13, 12, 0, 5, tzinfo=UTC), datetime(2027, 3, 14, 11, 0, 5, tzinfo=UTC)

    bodies = digests_at(tree, found, [first, second], **NEW_YORK)

    assert [body["date"] for body in bodies] == ["2027-03-13", "2027-03-14"]
    assert listed(bodies) == [batch]
    assert "Last 23 h, since 2027-03-13 07:00 -0500:" in bodies[1]["text"]


def test_a_late_digest_covers_the_time_since_the_last_one_and_the_next_starts_there(tree, found):
    """Down at 08:00 on the 28th, sent at 23:00: 39 h; the 29th's covers 23:00 to 08:00; each batch once."""
    day = datetime(2026, 11, 27, 13, 0, tzinfo=UTC)  # 08:00 local (UTC-5)
    moments = [day, day + timedelta(days=1, hours=15), day + timedelta(days=2)]
    batches = [filed_batch(tree, day + timedelta(hours=hours)) for hours in (-2, 3, 20, 30, 38, 40, 47)]

    bodies = digests_at(tree, found, moments, digest_at=DIGEST_AT)

    assert [body["date"] for body in bodies] == ["2026-11-27", "2026-11-28", "2026-11-29"]
    assert sorted(listed(bodies)) == sorted(batches)
    assert [body["done_count"] for body in bodies] == [1, 4, 2]
    assert "Last 39 h, since 2026-11-27 08:00 -0500:" in bodies[1]["text"]
    assert "Last 9 h, since 2026-11-28 23:00 -0500:" in bodies[2]["text"]


def test_after_a_long_outage_the_digest_covers_at_most_48_hours(tree, found):
    """A week down: the digest says it covers the last 48 h, and does."""
    day = T0 + timedelta(hours=1)
    old, recent = filed_batch(tree, day + timedelta(days=3)), filed_batch(tree, day + timedelta(days=6))

    bodies = digests_at(tree, found, [day, day + timedelta(days=7)], digest_at=DIGEST_AT)

    assert listed(bodies) == [recent]
    assert old not in bodies[1]["text"]
    assert "Last 48 h, since 2026-12-02 08:00 -0500:" in bodies[1]["text"]


def test_after_the_clock_went_back_the_digest_is_sent_and_covers_24_hours(tree, found):
    """Sent while the clock ran months ahead: today's digest still goes out, for the last 24 hours."""
    tree.queue.mkdir(parents=True)
    ahead = TimedState(digest_date="2027-03-01", digest_until="2027-03-01T13:00:00.000000Z")
    (tree.queue / STATE_NAME).write_text(ahead.model_dump_json(), encoding="utf-8")

    [body] = digests_at(tree, found, [T0 + timedelta(hours=1)], digest_at=DIGEST_AT)

    assert body["date"] == "2026-11-27"
    assert "Last 24 h, since 2026-11-26 08:00 -0500:" in body["text"]
    state = TimedState.model_validate_json((tree.queue / STATE_NAME).read_text(encoding="utf-8"))
    assert (state.digest_date, state.digest_until) == ("2026-11-27", "2026-11-27T13:00:00.000000Z")


@pytest.mark.parametrize(
    ("when", "since"),
    [
        (datetime(2026, 7, 1, 11, 0, tzinfo=UTC), "2026-06-30 07:00 -0400"),  # summer: EDT
        (datetime(2026, 12, 1, 12, 0, tzinfo=UTC), "2026-11-30 07:00 -0500"),  # winter: EST
    ],
)
def test_a_digest_zone_follows_dst(tree, found, when, since):
    """`digest_zone: America/New_York` sends at 07:00 New York time in summer and in winter."""
    bodies = digests_at(tree, found, [when - timedelta(seconds=1), when], **NEW_YORK)

    assert [body["until"] for body in bodies] == [isoformat(when)]
    assert f"Last 24 h, since {since}:" in bodies[0]["text"]


@pytest.mark.parametrize(
    ("alerts", "problem"),
    [
        (
            {"digest_at": "07:00", "digest_zone": "Mars/Base"},
            "alerts.digest_zone: unknown time zone 'Mars/Base'",
        ),
        (
            {"digest_at": "07:00+01:00", "digest_zone": "America/New_York"},
            "alerts: digest_at has its own offset",
        ),
    ],
)
def test_a_digest_zone_that_cannot_be_used_is_a_config_error(tree, alerts, problem):
    """An unknown zone, or a zone and an offset both, is a config error naming the key."""
    with pytest.raises(ConfigError) as caught:
        load(tree.write_config(UNUSED_CANVAS, alerts=alerts))

    [found] = caught.value.problems
    assert found.startswith(problem)
