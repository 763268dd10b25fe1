"""
`sis-watcher status --watch`: the status of `status`, kept current until Ctrl-C.

Every `INTERVAL_SECONDS` the status is gathered again (`commands.status.collect`: the same
folders, lock and status file, so it works while the daemon runs, and with no daemon at all).
On a terminal the screen is cleared and the status redrawn each time, with the time it was read,
so Canvas's progress of the import in flight moves in place. Into a pipe or file, the text is
written only when it changed, under a line with the time. With `--json`, one JSON object per
line, only when the status changed: the status document of `status --json` plus `observed_at`.
Ctrl-C (or a closed pipe, as with `| head`) ends it with exit code 0.
"""

from __future__ import annotations

import contextlib
import io
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TextIO

from sis_watcher.commands.status import collect, render
from sis_watcher.config.settings import Config
from sis_watcher.core.clock import isoformat
from sis_watcher.core.exit_codes import EXIT_OK

INTERVAL_SECONDS = 2.0
CLEAR_SCREEN = "\x1b[H\x1b[2J"  # cursor home, then erase the display


def is_terminal(out: TextIO) -> bool:
    """Return True when `out` is a terminal (a closed or odd stream is not)."""
    try:
        return out.isatty()
    except (ValueError, OSError):
        return False


def rendered(status: dict[str, Any]) -> str:
    """Return the text `status` prints for `status`."""
    buffer = io.StringIO()
    render(status, buffer)
    return buffer.getvalue()


class Watch:
    """One `--watch` session: gathers, compares with what was shown last, shows what is new."""

    def __init__(self, config: Config, *, as_json: bool, out: TextIO, now: Callable[[], datetime]) -> None:
        self.config = config
        self.as_json = as_json
        self.out = out
        self.now = now
        self.terminal = is_terminal(out)
        self.last: Any = None

    def tick(self, interval: float) -> None:
        """Gather the status once and show it if it is new (always, redrawn, on a terminal)."""
        moment = self.now()
        status = collect(self.config, now=moment)
        if self.as_json:
            if status != self.last:
                print(json.dumps({**status, "observed_at": isoformat(moment)}), file=self.out)
            self.last = status
        else:
            text = rendered(status)
            stamp = moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")
            if self.terminal:
                footer = f"\n{stamp}, every {interval:g} s; Ctrl-C to stop"
                self.out.write(CLEAR_SCREEN + text + footer + "\n")
            elif text != self.last:
                self.out.write(f"--- {stamp}\n{text}")
            self.last = text
        self.out.flush()


def run_watch(
    config: Config,
    *,
    as_json: bool,
    out: TextIO,
    interval: float = INTERVAL_SECONDS,
    now: Callable[[], datetime] | None = None,
    ticks: int | None = None,
) -> int:
    """
    Show the status every `interval` seconds until Ctrl-C; return 0.

    `now` is the clock (default: the system's, in UTC); `ticks` stops after that many rounds
    (None: never), for tests that run it in-process.
    """
    watch = Watch(config, as_json=as_json, out=out, now=now or (lambda: datetime.now(UTC)))
    done = 0
    with contextlib.suppress(KeyboardInterrupt, BrokenPipeError):
        while ticks is None or done < ticks:
            watch.tick(interval)
            done += 1
            if ticks is None or done < ticks:
                time.sleep(interval)
    return EXIT_OK
