"""
Fixtures for the stage tests: a config on disk, a real `StageContext`, batches in every state.

Batches are made the way the daemon makes them: files dropped, sealed with the real intake
rules, then taken forward by the real stages against the Canvas simulator on loopback.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from sis_watcher.batch.folder import Batch
from sis_watcher.batch.manifest import BatchState, Manifest, load_manifest
from sis_watcher.batch.sealing import seal
from sis_watcher.canvas.client import CanvasClient
from sis_watcher.canvas.credentials import TokenSource
from sis_watcher.config.load import load
from sis_watcher.config.settings import Config
from sis_watcher.core.backoff import RetryPolicy
from sis_watcher.core.clock import SystemClock
from sis_watcher.intake.readiness import SealPlanner, scan
from sis_watcher.ops.events import Listener, Monitor
from sis_watcher.pipeline.context import StageContext
from sis_watcher.pipeline.poll import poll
from sis_watcher.pipeline.prepare import prepare
from sis_watcher.pipeline.upload import upload
from sis_watcher.simulator.canvas import CanvasSimulator

from support import TOKEN, USERS_CSV, Tree, drop_file

FAST_POLL = {"interval_seconds": 0.02, "max_interval_seconds": 0.05}
FAST_POLICY = RetryPolicy(
    initial_seconds=0.01, max_backoff_seconds=0.05, max_elapsed_seconds=2, jitter_seconds=0
)


@dataclass
class Moments(Listener):
    """A listener that remembers the moments the stages report, in order."""

    moments: list[tuple[str, Any]] = field(default_factory=list)

    def named(self, name: str) -> list[Any]:
        return [value for moment, value in self.moments if moment == name]

    def activity(self, text: str, *, queued: int | None = None, batch_id: str | None = None) -> None:
        self.moments.append(("activity", text))

    def batch_filed(self, manifest: Manifest, path: Path) -> None:
        self.moments.append(("batch_filed", (manifest.batch_id, manifest.state.value)))

    def import_progress(self, manifest: Manifest) -> None:
        self.moments.append(("import_progress", manifest.canvas.workflow_state))

    def import_stuck(self, manifest: Manifest, seconds: float) -> None:
        self.moments.append(("import_stuck", manifest.canvas.import_id))

    def uploads_paused(self, reason: str) -> None:
        self.moments.append(("uploads_paused", reason))

    def uploads_resumed(self) -> None:
        self.moments.append(("uploads_resumed", None))

    def retries_stuck(self, manifest: Manifest, seconds: float, reason: str) -> None:
        self.moments.append(("retries_stuck", manifest.batch_id))

    def retries_recovered(self, manifest: Manifest) -> None:
        self.moments.append(("retries_recovered", manifest.batch_id))

    def retry_scheduled(self, step: str) -> None:
        self.moments.append(("retry_scheduled", step))


@dataclass
class Pipeline:
    """One config, its stage context and a recording listener, plus ways to make batches."""

    tree: Tree
    config: Config
    context: StageContext
    moments: Moments

    def sealed(self, *files: tuple[str, bytes]) -> Path:
        """Drop `files` (users.csv by default) and seal them into a queued batch; return its folder."""
        for name, data in files or (("users.csv", USERS_CSV),):
            drop_file(self.tree.drop, name, data)
        planner = SealPlanner(self.config.intake)
        planner.observe(scan(self.tree.drop, self.config.intake), 0.0)
        [plan] = planner.plans(1000.0)
        result = seal(plan, folders=self.config.folders, now=self.context.clock.now())
        assert result.batch_dir is not None
        return result.batch_dir

    def open(self, batch_dir: Path) -> Batch:
        return Batch(batch_dir, load_manifest(batch_dir), clock=self.context.clock)

    def zipped(self, *files: tuple[str, bytes]) -> Batch:
        batch = self.open(self.sealed(*files))
        prepare(batch, self.context)
        assert BatchState.ZIPPED == batch.state
        return batch

    def importing(self, *files: tuple[str, bytes]) -> Batch:
        batch = self.zipped(*files)
        upload(batch, self.context)
        assert BatchState.IMPORTING == batch.state
        return batch

    def reporting(self, *files: tuple[str, bytes]) -> Batch:
        batch = self.importing(*files)
        poll(batch, self.context)
        assert BatchState.REPORTING == batch.state
        return batch

    def on_disk(self, batch: Batch) -> Manifest:
        """Return the manifest as saved in the batch folder (not the one in memory)."""
        return load_manifest(batch.folder)


@pytest.fixture
def build(tree) -> Iterator[Callable[..., Pipeline]]:
    """Make a `Pipeline` for a Canvas URL and config sections; its client is closed at the end."""
    clients: list[CanvasClient] = []

    def make(url: str, *, policy: RetryPolicy = FAST_POLICY, **sections: dict[str, Any]) -> Pipeline:
        sections["poll"] = {**FAST_POLL, **sections.get("poll", {})}
        config = load(tree.write_config(url, **sections))
        stopping = threading.Event()
        client = CanvasClient(
            base_url=config.canvas.base_url,
            account_id=config.canvas.account_id,
            token_source=TokenSource(token_file=None, environ={"CANVAS_TOKEN": TOKEN}),
            timeout_seconds=config.canvas.timeout_seconds,
            stopping=stopping,
        )
        clients.append(client)
        moments = Moments()
        context = StageContext(
            config=config,
            client=client,
            clock=SystemClock(),
            stopping=stopping,
            policy=policy,
            monitor=Monitor([moments]),
        )
        return Pipeline(tree=tree, config=config, context=context, moments=moments)

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def pipeline(build: Callable[..., Pipeline], canvas: CanvasSimulator) -> Pipeline:
    """A pipeline on the default simulator with fast poll and retry timings."""
    return build(canvas.url)
