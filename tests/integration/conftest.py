"""The real daemon in this process: real threads, a real observer, the simulator over HTTP."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from support import TOKEN

from sis_watcher.config import load
from sis_watcher.daemon import Daemon
from sis_watcher.manifest import Manifest
from sis_watcher.monitor import Listener


@dataclass
class Recorder(Listener):
    """A listener that remembers every moment it is told of, for assertions."""

    moments: list[tuple[str, Any]] = field(default_factory=list)

    def names(self) -> list[str]:
        return [name for name, _ in self.moments]

    def batch_sealed(self, manifest: Manifest) -> None:
        self.moments.append(("batch_sealed", manifest.batch_id))

    def batch_filed(self, manifest: Manifest, path: Path) -> None:
        self.moments.append(("batch_filed", (manifest.batch_id, manifest.state.value)))

    def uploads_paused(self, reason: str) -> None:
        self.moments.append(("uploads_paused", reason))

    def uploads_resumed(self) -> None:
        self.moments.append(("uploads_resumed", None))

    def import_stuck(self, manifest: Manifest, seconds: float) -> None:
        self.moments.append(("import_stuck", manifest.canvas.import_id))

    def retries_stuck(self, manifest: Manifest, seconds: float, reason: str) -> None:
        self.moments.append(("retries_stuck", reason))

    def retries_recovered(self, manifest: Manifest) -> None:
        self.moments.append(("retries_recovered", manifest.batch_id))

    def intake_problem(self, reason: str) -> None:
        self.moments.append(("intake_problem", reason))

    def intake_recovered(self) -> None:
        self.moments.append(("intake_recovered", None))


@dataclass
class Running:
    daemon: Daemon
    thread: threading.Thread
    recorder: Recorder
    result: list[int]

    def stop(self, timeout: float = 15.0) -> int:
        self.daemon.on_signal(15, None)
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the daemon did not stop"
        return self.result[0]


@pytest.fixture
def run_daemon() -> Iterator[Callable[..., Running]]:
    """Start the daemon from a config file in a thread; it is stopped at the end of the test."""
    started: list[Running] = []

    def start(config_path: Path, *, once: bool = False, environ: dict[str, str] | None = None) -> Running:
        config = load(config_path)
        recorder = Recorder()
        daemon = Daemon(config, once=once, environ=environ or {"CANVAS_TOKEN": TOKEN}, listeners=(recorder,))
        result: list[int] = []
        thread = threading.Thread(target=lambda: result.append(daemon.run()), daemon=True)
        thread.start()
        running = Running(daemon, thread, recorder, result)
        started.append(running)
        return running

    yield start
    for running in started:
        if running.thread.is_alive():
            running.stop()
