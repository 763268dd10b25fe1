"""Fixtures shared by every test tier: the Canvas simulator, a folder tree, running services."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import structlog
from support import TOKEN, Service, Tree, make_tree

from sis_watcher.simulator.server import CanvasSimulator, SimulatorSettings


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
