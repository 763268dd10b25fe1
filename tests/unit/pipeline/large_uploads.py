"""What the `pre_attachment` tests share: retry policies, a skewed clock, the simulator's record read."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from sis_watcher.core.backoff import RetryPolicy
from sis_watcher.simulator.canvas import CanvasSimulator

# For the paths that give up: the stage's retries end after a third of a second.
QUICK = RetryPolicy(initial_seconds=0.01, max_backoff_seconds=0.02, max_elapsed_seconds=0.3, jitter_seconds=0)
# For the paths that end by themselves (the start-over cap): retries for as long as that takes.
PATIENT = RetryPolicy(
    initial_seconds=0.01, max_backoff_seconds=0.05, max_elapsed_seconds=30, jitter_seconds=0
)
LATER = timedelta(minutes=-26)  # a clock past an inst-fs upload's expiry and SENT_GRACE


def by_pre_attachment(build, canvas, **sections):
    return build(canvas.url, upload={"method": "pre_attachment"}, **sections)


def states(canvas: CanvasSimulator) -> list[str]:
    return [item["workflow_state"] for item in canvas.imports]


def processed_once(canvas: CanvasSimulator, sha256: str) -> None:
    """Exactly one import got the zip, once, by pre_attachment, and no storage request carried a token."""
    canvas.wait_until(lambda: all(upload.processed for upload in canvas.uploads))
    [received] = canvas.uploads
    assert ("pre_attachment", sha256) == (received.method, received.sha256)
    assert [] == [record for record in canvas.storage_uploads if record.authorization_sent]


class SkewedClock:
    """The system clock, `offset` behind (a machine whose clock is slow)."""

    def __init__(self, offset: timedelta) -> None:
        self.offset = offset

    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return datetime.now(UTC) - self.offset
