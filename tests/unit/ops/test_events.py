"""Unit tests for `sis_watcher.ops.events`: one call reaches every listener, failures isolated."""

from __future__ import annotations

from pathlib import Path

from structlog.testing import capture_logs

from sis_watcher.batch.manifest import BatchState, Manifest
from sis_watcher.ops.events import Listener, Monitor

MANIFEST = Manifest(batch_id="B1", state=BatchState.DONE, sealed_at="2026-11-27T02:00:00.000000Z")
PATH = Path("/state/done/B1")


class Filed(Listener):
    """Remembers the batches it heard were filed (and nothing else: the base ignores the rest)."""

    def __init__(self) -> None:
        self.filed: list[tuple[str, Path]] = []

    def batch_filed(self, manifest: Manifest, path: Path) -> None:
        self.filed.append((manifest.batch_id, path))


class Broken(Listener):
    """A listener that fails at every batch it hears about."""

    def batch_filed(self, manifest: Manifest, path: Path) -> None:
        raise RuntimeError("webhook down")


class TestMonitor:
    def test_a_moment_reaches_every_listener_in_order_added(self):
        """Listeners given at creation and added later all hear the moment, with its arguments."""
        first, second = Filed(), Filed()
        monitor = Monitor([first])
        monitor.add(second)

        monitor.batch_filed(MANIFEST, PATH)

        assert [("B1", PATH)] == first.filed
        assert [("B1", PATH)] == second.filed

    def test_a_raising_listener_is_logged_and_the_others_still_hear(self):
        """A listener that raises is logged with the moment; the listeners after it are still called."""
        after = Filed()
        monitor = Monitor([Broken(), after])

        with capture_logs() as events:
            monitor.batch_filed(MANIFEST, PATH)

        assert [("B1", PATH)] == after.filed
        [event] = events
        assert event["event"] == "monitor.listener_failed"
        assert event["log_level"] == "error"
        assert event["listener"] == "Broken"
        assert event["moment"] == "batch_filed"
        assert event["exc_info"] is True

    def test_a_listener_ignores_the_moments_it_does_not_override(self):
        """Listeners override only what they need; the other moments reach them harmlessly."""
        listener = Filed()
        Monitor([listener]).uploads_paused("401")

        assert [] == listener.filed
