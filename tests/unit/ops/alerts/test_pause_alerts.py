"""The "paused too long" alert: what it says, and once per pause."""

from __future__ import annotations

from sis_watcher.ops.events import Listener, Monitor, PauseNotice

PAUSE = PauseNotice(
    source="operator", reason="term rollover", since="2027-06-25T12:00:00.000000Z", by="alice"
)


def test_a_pause_too_long_alerts_once_with_who_since_and_what_to_run(webhook, alerter):
    """The alert names the operator, the start, the reason and `resume`; a repeat is not sent."""
    hook = webhook()
    alerts = alerter({"webhook": {"url": hook.url}})

    alerts.pause_too_long(PAUSE, 80.0)
    alerts.pause_too_long(PAUSE, 81.0)
    alerts.stop(timeout=5)

    [request] = hook.requests
    body = request.body
    assert "paused_too_long" == body["event"]
    assert "warning" == body["severity"]
    assert "uploads paused by an operator for 80.0 h: term rollover" == body["summary"]
    assert ("alice", PAUSE.since, 80.0) == (body["by"], body["since"], body["hours"])
    assert "Paused by alice since 2027-06-25T12:00:00.000000Z: term rollover" in body["text"]
    assert "sis-watcher resume -c CONFIG" in body["text"]


def test_a_new_pause_alerts_again(webhook, alerter):
    """Another pause (another start) is another alert; an unknown operator is said so."""
    hook = webhook()
    alerts = alerter({"webhook": {"url": hook.url}})

    alerts.pause_too_long(PAUSE, 73.0)
    alerts.pause_too_long(PauseNotice(source="operator", reason="again", since="2027-07-01T00:00:00Z"), 0.5)
    alerts.stop(timeout=5)

    assert ["paused_too_long", "paused_too_long"] == [request.body["event"] for request in hook.requests]
    assert "Paused by unknown since" in hook.requests[1].body["text"]
    assert "for 30 min" in hook.requests[1].body["summary"]


def test_the_monitor_fans_out_the_pause_moments():
    """`pause_began`, `pause_ended` and `pause_too_long` reach every listener; the defaults do nothing."""
    heard: list[str] = []

    class Ear(Listener):
        def pause_began(self, pause: PauseNotice) -> None:
            heard.append(f"began {pause.source}")

        def pause_ended(self, pause: PauseNotice) -> None:
            heard.append(f"ended {pause.source}")

        def pause_too_long(self, pause: PauseNotice, hours: float) -> None:
            heard.append(f"too long {hours}")

    monitor = Monitor([Listener(), Ear()])
    monitor.pause_began(PAUSE)
    monitor.pause_too_long(PAUSE, 2.0)
    monitor.pause_ended(PAUSE)

    assert ["began operator", "too long 2.0", "ended operator"] == heard


def test_the_pause_reads_well():
    """`text()` is the phrase of status, the STATUS= line and `once`; a blackout says its end."""
    blackout = PauseNotice(source="blackout", reason="rollover", since="S", until="U")
    assert "paused by operator (alice) since 2027-06-25T12:00:00.000000Z: term rollover" == PAUSE.text()
    assert "paused by operator since S: x" == PauseNotice(source="operator", reason="x", since="S").text()
    assert "paused by blackout since S until U: rollover" == blackout.text()
