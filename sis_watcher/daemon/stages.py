"""
`StageThread`: one stage of the daemon (intake, worker) on a thread of its own, supervised.

A stage whose body raises unexpectedly is logged with its traceback and reported through
`on_crash`, which stops the daemon with a non-zero exit so systemd restarts it: never run
half-alive (docs/architecture.md, "The threads"). `Stopping` is the normal way out of a body;
an error raised while the daemon is already stopping is only a warning.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from sis_watcher.core.errors import Stopping
from sis_watcher.core.logs import get_logger

log = get_logger()


class StageThread:
    """Owns one stage's thread: `start`, `join(timeout)`, `is_alive`."""

    def __init__(
        self,
        name: str,
        body: Callable[[], None],
        *,
        stopping: threading.Event,
        on_crash: Callable[[str], None],
    ) -> None:
        self.name = name
        self.body = body
        self.stopping = stopping
        self.on_crash = on_crash
        self.thread = threading.Thread(target=self.guarded, name=name, daemon=True)

    def guarded(self) -> None:
        try:
            self.body()
        except Stopping:
            return
        except BaseException:
            if self.stopping.is_set():
                log.warning("daemon.stage_error_while_stopping", stage=self.name, exc_info=True)
                return
            log.exception("daemon.stage_crashed", stage=self.name)
            self.on_crash(self.name)

    def start(self) -> None:
        self.thread.start()

    def join(self, timeout: float) -> None:
        self.thread.join(timeout=timeout)

    def is_alive(self) -> bool:
        return self.thread.is_alive()
