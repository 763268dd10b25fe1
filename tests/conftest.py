"""Fixtures shared by every test tier: the simulator, a folder tree, the daemon in-process or as a service."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import structlog

from sis_watcher.batch.manifest import Manifest
from sis_watcher.config.load import load
from sis_watcher.daemon.service import Daemon
from sis_watcher.ops.events import Listener
from sis_watcher.simulator.canvas import CanvasSimulator, SimulatorSettings

from support import TOKEN, Service, Tree, make_tree


@pytest.fixture(autouse=True)
def reset_structlog() -> Iterator[None]:
    """Each test starts with structlog's defaults (no logger caching leaking between tests)."""
    yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


@pytest.fixture
def canvas() -> Iterator[CanvasSimulator]:
    """A fast Canvas simulator on loopback accepting `support.TOKEN`."""
    with CanvasSimulator(token=TOKEN, settings=SimulatorSettings()) as simulator:
        yield simulator


@pytest.fixture
def simulator() -> Iterator[Callable[..., CanvasSimulator]]:
    """Start simulators with given `SimulatorSettings` (storage style, support, expiry); stopped at the end."""
    started: list[CanvasSimulator] = []

    def start(**settings: Any) -> CanvasSimulator:
        started.append(CanvasSimulator(token=TOKEN, settings=SimulatorSettings(**settings)).start())
        return started[-1]

    yield start
    for running in started:
        running.stop()


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    """A drop folder and the paths of queue/, done/ and failed/ under a temporary root."""
    return make_tree(tmp_path)


@pytest.fixture
def service() -> Iterator[Callable[..., Service]]:
    """Start `sis-watcher run|once` subprocesses; every one is killed at the end of the test."""
    started: list[Service] = []

    def start(config: Path, **options: object) -> Service:
        running = Service(config, **options)  # type: ignore[arg-type]
        started.append(running)
        return running

    yield start
    for running in started:
        running.close()


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


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[str, Callable[[], list[str]]]]:
    """A datagram socket standing in for systemd's: its address, and a drain of all it received so far."""
    address = str(tmp_path / "notify.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(address)
    listener.settimeout(0.05)
    received: list[str] = []

    def drain() -> list[str]:
        try:
            while True:
                received.append(listener.recv(4096).decode())
        except TimeoutError:
            return received

    yield address, drain
    listener.close()
