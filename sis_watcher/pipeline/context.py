"""What every stage is given: the collaborators it shares with the others, injected once."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from sis_watcher.canvas.client import CanvasClient
from sis_watcher.config.settings import Config
from sis_watcher.core.backoff import RetryPolicy
from sis_watcher.core.clock import Clock
from sis_watcher.ledger.store import LedgerKeeper
from sis_watcher.ops.events import Monitor


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
