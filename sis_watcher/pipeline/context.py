"""The shared collaborators every worker step needs, injected once (STYLE.md 9)."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from sis_watcher.batch.manifest import BatchState, Manifest
from sis_watcher.canvas.client import CanvasClient
from sis_watcher.canvas.retry import RetryPolicy
from sis_watcher.config.settings import Config
from sis_watcher.core.clock import Clock, isoformat
from sis_watcher.ops.events import Monitor


@dataclass(frozen=True, slots=True, kw_only=True)
class Pipeline:
    config: Config
    client: CanvasClient
    clock: Clock
    stopping: threading.Event
    policy: RetryPolicy
    monitor: Monitor
    zip_workers: int = 2

    def now_text(self) -> str:
        return isoformat(self.clock.now())

    def advance(self, manifest: Manifest, state: BatchState, *, note: str | None = None) -> None:
        """Move `manifest` to `state` (appending history); the caller saves it."""
        manifest.move_to(state, at=self.now_text(), note=note)

    def fail(self, manifest: Manifest, reason: str) -> None:
        """Record a failed outcome and the `failed` state; the caller saves and files it."""
        manifest.outcome.result = "failed"
        manifest.outcome.reason = reason
        self.advance(manifest, BatchState.FAILED, note=reason[:500])
