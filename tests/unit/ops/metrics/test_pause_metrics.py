"""The metrics and /healthz during a deliberate pause (`pause`, a blackout): shown, never unhealthy."""

from __future__ import annotations

import pytest

from sis_watcher.ops.events import PauseNotice

from unit.ops.metrics.conftest import NOW

OPERATOR = PauseNotice(source="operator", reason="audit", since="2026-11-27T01:00:00Z", by="alice")
BLACKOUT = PauseNotice(
    source="blackout", reason="term rollover", since="2026-11-27T00:00:00Z", until="2026-11-28T00:00:00Z"
)


def test_a_deliberate_pause_is_gauged_with_its_start_and_keeps_health_ok(served):
    """`sis_watcher_paused` 1 and the start as a timestamp; /healthz 200 saying the pause."""
    served.metrics.pause_began(OPERATOR)

    assert served.sample("sis_watcher_paused") == 1
    assert served.sample("sis_watcher_paused_since_timestamp_seconds") == NOW.timestamp() - 7200
    assert served.sample("sis_watcher_uploads_paused") == 0
    assert served.sample("sis_watcher_healthy") == 1
    assert served.health() == (200, {"status": "ok", "paused": OPERATOR.to_json()})

    served.metrics.pause_ended(OPERATOR)

    assert served.sample("sis_watcher_paused") == 0
    assert served.sample("sis_watcher_paused_since_timestamp_seconds") == 0
    assert served.health() == (200, {"status": "ok"})


def test_a_blackout_shows_its_end_and_problems_still_make_health_fail(served):
    """During a blackout a dead stage is still a 503: a pause hides no problem."""
    served.metrics.pause_began(BLACKOUT)
    assert served.health()[1]["paused"]["until"] == "2026-11-28T00:00:00Z"

    served.metrics.stage_died("worker")

    assert served.health() == (503, {"status": "unhealthy", "problems": ["stage worker died"]})


@pytest.mark.parametrize("since", ["last tuesday", "0001-01-01T00:00:00+01:00"])
def test_a_start_no_one_can_read_is_gauged_as_now(served, since):
    """A pause file's `since` that is not a (representable) time still sets a start: when it was noticed."""
    served.metrics.pause_began(PauseNotice(source="operator", reason="x", since=since))

    assert served.sample("sis_watcher_paused_since_timestamp_seconds") == NOW.timestamp()
