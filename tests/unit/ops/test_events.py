"""Unit tests for `sis_watcher.ops.events`: one call fans out to every listener, failures isolated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from sis_watcher.batch.manifest import BatchState, Manifest
from sis_watcher.ops.events import Listener, Monitor

MANIFEST = Manifest(batch_id="B1", state=BatchState.DONE, sealed_at="2026-11-27T02:00:00.000000Z")
PATH = Path("/state/done/B1")

MOMENTS: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
    ("activity", ("idle, 0 queued",), {"queued": 0, "batch_id": None}),
    ("batch_sealed", (MANIFEST,), {}),
    ("batch_filed", (MANIFEST, PATH), {}),
    ("import_progress", (MANIFEST,), {}),
    ("import_stuck", (MANIFEST, 7200.0), {}),
    ("uploads_paused", ("401",), {}),
    ("uploads_resumed", (), {}),
    ("retries_stuck", (MANIFEST, 1800.0, "Canvas unreachable"), {}),
    ("retries_recovered", (MANIFEST,), {}),
    ("retry_scheduled", ("upload",), {}),
    ("canvas_response", ("200",), {}),
    ("intake_problem", ("drop missing",), {}),
    ("intake_recovered", (), {}),
    ("stage_died", ("worker",), {}),
]


class Recorder(Listener):
    """Records every moment it hears, by overriding the dispatch point of each method."""

    def __init__(self) -> None:
        self.heard: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def __getattribute__(self, name: str) -> Any:
        if name in {moment for moment, _args, _kwargs in MOMENTS}:
            heard = object.__getattribute__(self, "heard")
            return lambda *args, **kwargs: heard.append((name, args, kwargs))
        return object.__getattribute__(self, name)


class Broken(Listener):
    """A listener that fails at every moment it hears about a batch."""

    def batch_sealed(self, manifest: Manifest) -> None:
        raise RuntimeError("webhook down")


class TestMonitor:
    @pytest.mark.parametrize(
        ("moment", "args", "kwargs"), MOMENTS, ids=[moment for moment, _a, _k in MOMENTS]
    )
    def test_every_moment_reaches_every_listener(self, moment, args, kwargs):
        """Each Monitor method calls the same method, with the same arguments, on each listener in turn."""
        first, second = Recorder(), Recorder()
        monitor = Monitor([first])
        monitor.add(second)

        getattr(monitor, moment)(*args, **kwargs)

        assert first.heard == [(moment, args, kwargs)]
        assert second.heard == [(moment, args, kwargs)]

    def test_a_raising_listener_is_logged_and_the_others_still_hear(self):
        """A listener that raises is logged with the moment; the listeners after it are still called."""
        after = Recorder()
        monitor = Monitor([Broken(), after])

        with capture_logs() as events:
            monitor.batch_sealed(MANIFEST)

        assert after.heard == [("batch_sealed", (MANIFEST,), {})]
        [event] = events
        assert event["event"] == "monitor.listener_failed"
        assert event["log_level"] == "error"
        assert event["listener"] == "Broken"
        assert event["moment"] == "batch_sealed"
        assert event["exc_info"] is True

    def test_no_listeners_is_fine(self):
        """A monitor with nobody listening does nothing."""
        Monitor().stage_died("worker")

    @pytest.mark.parametrize(
        ("moment", "args", "kwargs"), MOMENTS, ids=[moment for moment, _a, _k in MOMENTS]
    )
    def test_base_listener_ignores_every_moment(self, moment, args, kwargs):
        """The base Listener's methods all do nothing, so listeners override only what they need."""
        assert getattr(Listener(), moment)(*args, **kwargs) is None
