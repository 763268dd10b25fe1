"""Helpers for the freshness and digest tests: a settable clock, batch folders, a wired `TimedAlerts`."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sis_watcher.batch.ids import new_batch_id
from sis_watcher.batch.manifest import (
    BatchState,
    CanvasRecord,
    HistoryEntry,
    HoldReason,
    HoldRecord,
    Manifest,
    Outcome,
)
from sis_watcher.config.alerting import AlertSettings
from sis_watcher.config.load import load
from sis_watcher.core.clock import isoformat
from sis_watcher.ops.alerts.dispatch import Alerter
from sis_watcher.ops.freshness import batch_time
from sis_watcher.ops.metrics import Metrics
from sis_watcher.ops.timed_alerts import TimedAlerts

from loopback_servers import Relay, Webhook, relay
from support import Tree, wait_until

UNUSED_CANVAS = "https://canvas.example.edu"
T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
ZONE = timezone(timedelta(hours=-5), "EST")


class SettableClock:
    """Wall-clock time that moves only when a test says so."""

    def __init__(self, now: datetime = T0) -> None:
        self.moment = now

    def now(self) -> datetime:
        return self.moment

    def monotonic(self) -> float:
        return (self.moment - T0).total_seconds() + 1000.0

    def advance(self, **delta: float) -> None:
        self.moment += timedelta(**delta)


def batch_manifest(
    batch_id: str,
    state: BatchState,
    *,
    filed: datetime | None = None,
    reason: str | None = None,
    errors: int = 0,
    warnings: int = 0,
    summary: str | None = None,
    hold: tuple[str, ...] = (),
) -> Manifest:
    """A manifest as the pipeline leaves it: filed at `filed` (done/failed), or held."""
    history = [HistoryEntry(state="queued", at=isoformat(T0 - timedelta(days=30)))]
    if filed is not None:
        history.append(HistoryEntry(state=state.value, at=isoformat(filed)))
    return Manifest(
        batch_id=batch_id,
        state=state,
        sealed_at=isoformat(T0 - timedelta(days=30)),
        canvas=CanvasRecord(import_id=7, error_count=errors, warning_count=warnings),
        outcome=Outcome(result=state.value if state.is_final else None, reason=reason),
        changes={"summary": summary} if summary else None,
        hold=HoldRecord(
            reasons=[HoldReason(csv_type="users", rule="r", value=1, limit=0, text=text) for text in hold]
        )
        if hold
        else None,
        history=history,
    )


def put_batch(folder: Path, manifest: Manifest, *, mtime: datetime | None = None) -> Path:
    """Write `manifest` as the batch folder `folder/<id>/` (its manifest's mtime set to `mtime`)."""
    path = folder / manifest.batch_id
    path.mkdir(parents=True)
    manifest.save(path)
    if mtime is not None:
        os.utime(path / "manifest.json", (mtime.timestamp(), mtime.timestamp()))
    return path


def batch_id_at(moment: datetime) -> str:
    return new_batch_id(moment)


def sealed_time(batch_id: str) -> datetime:
    """When the batch `batch_id` was sealed, by its id."""
    moment = batch_time(batch_id)
    assert moment is not None
    return moment


def named(events: list[MutableMapping[str, Any]], name: str) -> list[MutableMapping[str, Any]]:
    """The captured log events called `name`."""
    return [event for event in events if event["event"] == name]


def sealed_manifest(moment: datetime) -> Manifest:
    """The manifest of a batch sealed at `moment`, as `batch_sealed` hears it."""
    return Manifest(batch_id=new_batch_id(moment), state=BatchState.QUEUED, sealed_at=isoformat(moment))


@dataclass
class Channels:
    """A loopback webhook and SMTP relay that every `TimedAlerts` of a test alerts through."""

    hook: Webhook
    smtp: Relay
    alerters: list[Alerter] = field(default_factory=list)

    def settings(self) -> dict[str, Any]:
        return {
            "webhook": {"url": self.hook.url},
            "email": {
                "host": "127.0.0.1",
                "port": self.smtp.port,
                "security": "none",
                "from": "sis-watcher@school.example",
                "to": ["it@school.example"],
                "timeout_seconds": 5,
            },
        }

    def kinds(self) -> list[str]:
        return [request.body["event"] for request in self.hook.requests]

    def subjects(self) -> list[str]:
        return [message["Subject"] for _envelope, message in self.smtp.recorder.messages]

    def wait(self, count: int) -> None:
        """Wait until `count` alerts arrived by each channel."""
        wait_until(
            lambda: len(self.hook.requests) >= count and len(self.smtp.recorder.messages) >= count,
            timeout=10,
            what=f"{count} alert(s) by both channels",
        )

    def drain(self) -> list[str]:
        """Stop every alerter (what they queued is delivered first); return the kinds the webhook got."""
        for alerter in self.alerters:
            assert alerter.stop(timeout=10)
        assert len(self.hook.requests) == len(self.smtp.recorder.messages)
        return self.kinds()


@contextmanager
def channels() -> Iterator[Channels]:
    logger = logging.getLogger("mail.log")
    level = logger.level
    logger.setLevel(logging.ERROR)
    hook = Webhook()
    try:
        with relay() as smtp:
            found = Channels(hook=hook, smtp=smtp)
            yield found
            for alerter in found.alerters:
                alerter.stop(timeout=5)
    finally:
        hook.close()
        logger.setLevel(level)


def timed_alerts(
    tree: Tree,
    found: Channels,
    clock: SettableClock,
    *,
    metrics: Metrics | None = None,
    with_channels: bool = True,
    **alerts: Any,
) -> TimedAlerts:
    """A `TimedAlerts` on the tree's folders (a "process": its own alerter), opened, thread not started."""
    config = load(tree.write_config(UNUSED_CANVAS, alerts=alerts))
    for folder in (tree.queue, tree.done, tree.failed):
        folder.mkdir(parents=True, exist_ok=True)
    settings = found.settings() if with_channels else {}
    alerter = Alerter(AlertSettings.model_validate(settings), host="host1", backoff_seconds=0.01, environ={})
    alerter.start()
    found.alerters.append(alerter)
    timed = TimedAlerts(config, alerter=alerter, clock=clock, metrics=metrics, zone=ZONE, tick_seconds=0.02)
    timed.open()
    return timed
