"""
Prometheus metrics and a health check for the running daemon (optional: `metrics.enabled`).

`Metrics` is a `Listener` that keeps its own `CollectorRegistry` (no global state: two daemons or
two tests in one process never share a counter). `MetricsServer` serves it over plain HTTP on
`metrics.host` (127.0.0.1 by default) from a daemon thread:

    GET /metrics   Prometheus text exposition
    GET /healthz   200 {"status": "ok"}, or 503 {"status": "unhealthy", "problems": [...]}
                   while a stage is dead, uploads are paused or intake has a problem;
                   a deliberate pause (`pause`, a blackout) stays 200 and adds "paused": {...}

Metrics (counters also get Prometheus's `_created` series; `process_*` come from /proc):

    sis_watcher_batches_total{result="done|failed"}    batches filed
    sis_watcher_batches_sealed_total                   batches sealed into the queue
    sis_watcher_last_sealed_timestamp_seconds          when the newest batch was sealed (0: none yet)
    sis_watcher_retries_total{step="upload|poll"}      requests retried after a transient failure
    sis_watcher_canvas_requests_total{status="200|...|error"}   Canvas answers by status code
    sis_watcher_queue_depth                            batches waiting in queue/
    sis_watcher_last_success_timestamp_seconds         when the last batch was filed under done/
    sis_watcher_import_duration_seconds                histogram: end of upload to filing
    sis_watcher_uploads_paused                         1 while Canvas refuses the token
    sis_watcher_intake_problem                         1 while the drop folder is unusable
    sis_watcher_import_stuck                           1 after poll.warn_after_seconds, until filed
    sis_watcher_retries_stuck                          1 while a batch is stuck in retries
    sis_watcher_held_batches                           batches held for approve or discard now
    sis_watcher_batches_held_total                     batches held (each batch attempt once)
    sis_watcher_healthy                                1 when /healthz answers 200
    sis_watcher_paused                                 1 while paused by an operator or a blackout
    sis_watcher_paused_since_timestamp_seconds         when that pause began (0 when not paused)
"""

from __future__ import annotations

import threading
from datetime import datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.process_collector import ProcessCollector

from sis_watcher.batch.manifest import BatchState, Manifest
from sis_watcher.core.clock import Clock, SystemClock, parse_time
from sis_watcher.ops.events import Listener, PauseNotice
from sis_watcher.ops.status_file import HELD_ACTIVITY

# Canvas imports take seconds for a few rows and hours for a whole district's enrollments.
IMPORT_BUCKETS = (5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 28800, 86400)


def import_seconds(manifest: Manifest) -> float | None:
    """
    Return the seconds from the end of the upload to filing, or None if unknown.

    The start is `upload.finished_at` (else Canvas's `created_at`); the end is the history entry
    that moved the batch to its final state. None without an import or readable timestamps.
    """
    start = manifest.upload.finished_at or manifest.canvas.created_at
    ends = [entry.at for entry in manifest.history if entry.state == manifest.state.value]
    if manifest.canvas.import_id is None or start is None or not ends:
        return None
    try:
        seconds = (parse_time(ends[-1]) - parse_time(start)).total_seconds()
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


class Metrics(Listener):
    """The daemon's counters and health, fed by the monitor's moments; thread-safe."""

    def __init__(self, *, clock: Clock | None = None) -> None:
        self.clock = clock or SystemClock()
        self.registry = CollectorRegistry()
        self.batches = self.counter("batches", "Batches filed, by result.", "result")
        for result in ("done", "failed"):
            self.batches.labels(result=result)
        self.sealed = self.counter("batches_sealed", "Batches sealed into the queue.")
        self.last_sealed = self.gauge(
            "last_sealed_timestamp_seconds", "Unix time of the newest batch sealed (0: none yet)."
        )
        self.retries = self.counter("retries", "Requests retried after a transient failure.", "step")
        self.canvas_requests = self.counter("canvas_requests", "Canvas answers by status code.", "status")
        self.queue_depth = self.gauge("queue_depth", "Batches waiting in the queue.")
        self.last_success = self.gauge(
            "last_success_timestamp_seconds", "Unix time of the last batch filed under done/."
        )
        self.import_duration = Histogram(
            "sis_watcher_import_duration_seconds",
            "Seconds from the end of the upload to filing.",
            buckets=IMPORT_BUCKETS,
            registry=self.registry,
        )
        self.paused = self.gauge("uploads_paused", "1 while Canvas refuses the token.")
        self.intake_trouble = self.gauge("intake_problem", "1 while intake has a problem.")
        self.import_stuck_flag = self.gauge("import_stuck", "1 while an import is stuck.")
        self.retries_stuck_flag = self.gauge("retries_stuck", "1 while a batch is stuck in retries.")
        self.held_now = self.gauge("held_batches", "Batches held for approve or discard.")
        self.held_count = self.counter("batches_held", "Batches held for a person (once per attempt).")
        self.deliberate = self.gauge("paused", "1 while uploads are paused by an operator or a blackout.")
        self.deliberate_since = self.gauge(
            "paused_since_timestamp_seconds", "Unix time the deliberate pause began (0 when not paused)."
        )
        self.pause: PauseNotice | None = None
        healthy = self.gauge("healthy", "1 when /healthz answers 200.")
        healthy.set_function(lambda: 0.0 if self.problems() else 1.0)
        ProcessCollector(registry=self.registry)
        self.lock = threading.Lock()
        self.paused_reason: str | None = None
        self.intake_reason: str | None = None
        self.dead_stages: list[str] = []
        self.held: set[str] = set()
        self.held_counted: dict[str, int] = {}  # batch id -> attempt counted; only batches not yet filed

    def counter(self, name: str, text: str, *labels: str) -> Counter:
        return Counter(f"sis_watcher_{name}", text, labels, registry=self.registry)

    def gauge(self, name: str, text: str) -> Gauge:
        return Gauge(f"sis_watcher_{name}", text, registry=self.registry)

    def problems(self) -> list[str]:
        """Return why the daemon is unhealthy (empty when healthy)."""
        with self.lock:
            found = [f"stage {stage} died" for stage in self.dead_stages]
            if self.paused_reason is not None:
                found.append(f"uploads paused: {self.paused_reason}")
            if self.intake_reason is not None:
                found.append(f"intake problem: {self.intake_reason}")
            return found

    def exposition(self) -> bytes:
        """Return the registry in Prometheus's text format."""
        return generate_latest(self.registry)

    def activity(self, text: str, *, queued: int | None = None, batch_id: str | None = None) -> None:
        if queued is not None:
            self.queue_depth.set(queued)
        if batch_id is not None and not text.startswith(HELD_ACTIVITY):
            self.release(batch_id)

    def batch_held(self, manifest: Manifest) -> None:
        attempt = len(manifest.previous_attempts)
        with self.lock:
            self.held.add(manifest.batch_id)
            first = self.held_counted.get(manifest.batch_id) != attempt
            self.held_counted[manifest.batch_id] = attempt
            self.held_now.set(len(self.held))
        if first:
            self.held_count.inc()

    def release(self, batch_id: str) -> None:
        """A held batch was approved (the worker moved on with it) or filed."""
        with self.lock:
            self.held.discard(batch_id)
            self.held_now.set(len(self.held))

    def import_progress(self, manifest: Manifest) -> None:
        self.release(manifest.batch_id)

    def batch_sealed(self, manifest: Manifest) -> None:
        self.sealed.inc()
        try:
            self.last_sealed_at(parse_time(manifest.sealed_at))
        except ValueError:
            self.last_sealed_at(self.clock.now())

    def last_sealed_at(self, moment: datetime) -> None:
        """Show `moment` as the newest seal (also at start, from the newest batch on disk)."""
        self.last_sealed.set(moment.timestamp())

    def batch_filed(self, manifest: Manifest, path: Path) -> None:
        done = manifest.state is BatchState.DONE
        self.batches.labels(result="done" if done else "failed").inc()
        if done:
            self.last_success.set(self.clock.now().timestamp())
        seconds = import_seconds(manifest)
        if seconds is not None:
            self.import_duration.observe(seconds)
        self.import_stuck_flag.set(0)
        self.release(manifest.batch_id)
        with self.lock:
            self.held_counted.pop(manifest.batch_id, None)  # a retry is a new attempt: nothing to remember

    def import_stuck(self, manifest: Manifest, seconds: float) -> None:
        self.import_stuck_flag.set(1)

    def uploads_paused(self, reason: str) -> None:
        with self.lock:
            self.paused_reason = reason
        self.paused.set(1)

    def uploads_resumed(self) -> None:
        with self.lock:
            self.paused_reason = None
        self.paused.set(0)

    def retries_stuck(self, manifest: Manifest, seconds: float, reason: str) -> None:
        self.retries_stuck_flag.set(1)

    def retries_recovered(self, manifest: Manifest) -> None:
        self.retries_stuck_flag.set(0)

    def retry_scheduled(self, step: str) -> None:
        self.retries.labels(step=step).inc()

    def canvas_response(self, status: str) -> None:
        self.canvas_requests.labels(status=status).inc()

    def intake_problem(self, reason: str) -> None:
        with self.lock:
            self.intake_reason = reason
        self.intake_trouble.set(1)

    def intake_recovered(self) -> None:
        with self.lock:
            self.intake_reason = None
        self.intake_trouble.set(0)

    def pause_began(self, pause: PauseNotice) -> None:
        with self.lock:
            self.pause = pause
        self.deliberate.set(1)
        try:
            self.deliberate_since.set(parse_time(pause.since).timestamp())
        except (ValueError, OverflowError):
            self.deliberate_since.set(self.clock.now().timestamp())

    def pause_ended(self, pause: PauseNotice) -> None:
        with self.lock:
            self.pause = None
        self.deliberate.set(0)
        self.deliberate_since.set(0)

    def health(self) -> tuple[HTTPStatus, dict[str, Any]]:
        """Return /healthz's answer: 503 with the problems, else 200 (saying a deliberate pause)."""
        problems = self.problems()
        if problems:
            return HTTPStatus.SERVICE_UNAVAILABLE, {"status": "unhealthy", "problems": problems}
        with self.lock:
            pause = self.pause
        return HTTPStatus.OK, {"status": "ok"} | ({"paused": pause.to_json()} if pause else {})

    def stage_died(self, stage: str) -> None:
        with self.lock:
            if stage not in self.dead_stages:
                self.dead_stages.append(stage)
