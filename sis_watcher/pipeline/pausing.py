"""
Canvas refusing the token: the worker's one pause that is not on purpose.

Canvas refuses the token or permission (401, 403, 404): `upload.paused` is logged and the
monitor told once; the token is re-read and the step tried again at least every minute. It is
lifted (`upload.resumed`, the recovery alert, the gauge back to 0) only after a step Canvas
then answered (an upload, a poll, a report), never because a deliberate pause's wait (the
`PauseWatch`, `sis-watcher pause`, `schedule.blackout`) came round while the token is still
refused.
"""

from __future__ import annotations

from sis_watcher.core.errors import Stopping
from sis_watcher.core.logs import get_logger
from sis_watcher.pipeline.context import StageContext

log = get_logger()
AUTH_RETRY_SECONDS = 60.0


class Incomplete(Exception):
    """`once` cannot finish a batch now (paused, unreachable, local fault); it stays queued."""


class AuthBlock:
    """Whether Canvas refuses our token now (`active`), and the waiting and telling that goes with it."""

    def __init__(self, context: StageContext, *, once: bool) -> None:
        self.context = context
        self.once = once
        self.active = False

    def block(self, reason: str) -> str | None:
        """
        Canvas refused the token: tell once, re-read the token, wait; then the step is tried again.

        In `once` mode return the reason the run is incomplete instead (the caller ends the run).
        Raise `Stopping` on shutdown.
        """
        if self.once:
            log.error("upload.paused", reason=reason)
            return f"uploads paused: {reason}"
        if not self.active:
            self.active = True
            log.error("upload.paused", reason=reason)
            self.context.monitor.uploads_paused(reason)
            self.context.monitor.activity(f"paused: {reason}")
        self.context.client.reload_token()
        wait = min(AUTH_RETRY_SECONDS, self.context.policy.max_backoff_seconds)
        if self.context.stopping.wait(wait):
            raise Stopping("shutdown while paused")
        return None

    def lift(self) -> None:
        """A step Canvas answered went through: if the token was refused before, say it works again."""
        if self.active:
            self.active = False
            log.info("upload.resumed")
            self.context.monitor.uploads_resumed()
