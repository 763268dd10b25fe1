"""
Fixtures for the simulator's contract tests.

`canvas_target` runs a test against the simulator and, only when `CANVAS_TEST_URL` and
`CANVAS_TEST_TOKEN` are set, also against that real Canvas test environment (the target is
generated, never skipped). Tests that need faults or inspection use `sim` directly.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from sis_watcher.simulator.canvas import CanvasSimulator, SimulatorSettings

from unit.simulator.helpers import TOKEN, Target


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Add the real Canvas target only when its environment variables are set."""
    if "canvas_target" in metafunc.fixturenames:
        names = ["simulator"]
        if os.environ.get("CANVAS_TEST_URL") and os.environ.get("CANVAS_TEST_TOKEN"):
            names.append("canvas")
        metafunc.parametrize("canvas_target", names, indirect=True)


@pytest.fixture
def sim() -> Iterator[CanvasSimulator]:
    """A fresh simulator, faster than the defaults (imports take about 20 ms)."""
    settings = SimulatorSettings(
        pickup_delay_seconds=0.0, min_import_seconds=0.02, errors_attachment_delay_seconds=0.0
    )
    with CanvasSimulator(token=TOKEN, settings=settings) as simulator:
        yield simulator


@pytest.fixture
def make_sim() -> Iterator[Callable[..., CanvasSimulator]]:
    """Start simulators with custom settings; all are stopped at the end."""
    started: list[CanvasSimulator] = []

    def make(**settings: Any) -> CanvasSimulator:
        simulator = CanvasSimulator(token=TOKEN, settings=SimulatorSettings(**settings)).start()
        started.append(simulator)
        return simulator

    yield make
    for simulator in started:
        simulator.stop()


@pytest.fixture
def canvas_target(request: pytest.FixtureRequest) -> Iterator[Target]:
    """The simulator, or the real Canvas test environment named by CANVAS_TEST_URL/TOKEN."""
    if request.param == "canvas":
        url = os.environ["CANVAS_TEST_URL"].rstrip("/")
        account = os.environ.get("CANVAS_TEST_ACCOUNT", "self")
        yield Target("canvas", url, os.environ["CANVAS_TEST_TOKEN"], account, None)
        return
    with CanvasSimulator(token=TOKEN) as simulator:
        yield Target("simulator", simulator.url, TOKEN, "self", simulator)


@pytest.fixture
def client(sim: CanvasSimulator) -> Iterator[httpx.Client]:
    """An authenticated client of `sim`."""
    with httpx.Client(base_url=sim.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10) as http:
        yield http
