"""What every stage is given: the collaborators it shares with the others, injected once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from sis_watcher.canvas.client import CanvasClient
from sis_watcher.config.settings import Config
from sis_watcher.core.backoff import RetryPolicy
from sis_watcher.core.clock import Clock
from sis_watcher.ledger.store import LedgerKeeper
from sis_watcher.ops.events import Monitor


@dataclass(slots=True)
class PreAttachmentSupport:
    """Set once this daemon run's Canvas answered a create without `pre_attachment`: later zips go direct."""

    unsupported: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class StageContext:
    """The config, Canvas client, clock, stop event, retry policy, monitor and ledger (if enabled)."""

    config: Config
    client: CanvasClient
    clock: Clock
    stopping: threading.Event
    policy: RetryPolicy
    monitor: Monitor
    ledger: LedgerKeeper | None = None
    zip_workers: int = 2
    pre_attachment: PreAttachmentSupport = field(default_factory=PreAttachmentSupport)
    # May a new upload be sent now? The worker answers from its PauseWatch (`sis-watcher pause`,
    # `schedule.blackout`); asked before every create, so a pause also stops a retried upload.
    may_send: Callable[[], bool] = field(default=lambda: True)
