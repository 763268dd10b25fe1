"""Fixtures for the metrics tests: a fixed clock, a served `Metrics`, and manifests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sis_watcher.batch.manifest import BatchState, CanvasRecord, HistoryEntry, Manifest, Outcome, UploadRecord
from sis_watcher.ops.metrics import Metrics
from sis_watcher.ops.metrics_server import MetricsServer

NOW = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)


class FixedClock:
    def monotonic(self) -> float:
        return 1000.0

    def now(self) -> datetime:
        return NOW


class Served:
    """A `Metrics` behind a running `MetricsServer`, with an HTTP client for it."""

    def __init__(self, *, host: str = "127.0.0.1") -> None:
        self.metrics = Metrics(clock=FixedClock())
        self.server = MetricsServer(self.metrics, host=host, port=0)
        self.server.start()
        self.client = httpx.Client(base_url=self.server.url, timeout=5, trust_env=False)

    def sample(self, name: str, **labels: str) -> float | None:
        """Return the value of sample `name` with exactly `labels`, fetched over HTTP now."""
        response = self.client.get("/metrics")
        response.raise_for_status()
        for family in text_string_to_metric_families(response.text):
            for sample in family.samples:
                if sample.name == name and sample.labels == labels:
                    return sample.value
        return None

    def health(self) -> tuple[int, dict[str, Any]]:
        response = self.client.get("/healthz")
        return response.status_code, response.json()

    def close(self) -> None:
        self.client.close()
        self.server.stop()


@pytest.fixture
def serve() -> Iterator[Callable[..., Served]]:
    """Start served metrics (port 0); every one is stopped at the end of the test."""
    started: list[Served] = []

    def start(**options: Any) -> Served:
        served = Served(**options)
        started.append(served)
        return served

    yield start
    for served in started:
        served.close()


@pytest.fixture
def served(serve: Callable[..., Served]) -> Served:
    """One served `Metrics` on 127.0.0.1."""
    return serve()


def filed(state: BatchState, *, uploaded: str | None, filed_at: str, import_id: int | None = 7) -> Manifest:
    """A filed batch uploaded at `uploaded` and moved to `state` at `filed_at`."""
    return Manifest(
        batch_id="20261127T020000Z-3f9a1c",
        state=state,
        sealed_at="2026-11-27T02:00:00Z",
        upload=UploadRecord(finished_at=uploaded),
        canvas=CanvasRecord(import_id=import_id, workflow_state="imported"),
        outcome=Outcome(result="done" if state is BatchState.DONE else "failed", reason="test"),
        history=[
            HistoryEntry(state="queued", at="2026-11-27T02:00:00Z"),
            HistoryEntry(state="reporting", at="2026-11-27T02:02:00Z"),
            HistoryEntry(state=state.value, at=filed_at),
        ],
    )
