"""
`sis-watcher simulator`: the Canvas simulator alone, until SIGINT or SIGTERM.

It prints two lines a script can parse, then serves:

    url: http://127.0.0.1:8433
    token: 3q2-...
"""

from __future__ import annotations

import secrets
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import TextIO

from sis_watcher.core.urls import is_loopback_host
from sis_watcher.simulator.canvas import CanvasSimulator
from sis_watcher.simulator.model.settings import REALISTIC, SimulatorSettings

Handler = Callable[[int, FrameType | None], object] | int | signal.Handlers | None


def run_simulator(
    *,
    host: str,
    port: int,
    token: str | None,
    settings: SimulatorSettings | None = None,
    stop_event: threading.Event | None = None,
    out: TextIO | None = None,
) -> int:
    """
    Serve a simulator on `host:port` (loopback only) until SIGINT/SIGTERM or `stop_event`; return 0.

    The token is random (`secrets.token_urlsafe`) unless given. Settings default to `REALISTIC`
    timing. A non-loopback host prints an error and returns 2. Signal handlers are installed
    only when called from the main thread, and restored on return.
    """
    stream = out or sys.stdout
    if not is_loopback_host(host):
        sys.stderr.write(f"error: the simulator serves on loopback only, not {host!r}\n")
        return 2
    stop = stop_event or threading.Event()
    previous: dict[signal.Signals, Handler] = {}
    if threading.current_thread() is threading.main_thread():
        for number in (signal.SIGINT, signal.SIGTERM):
            previous[number] = signal.signal(number, lambda _number, _frame: stop.set())
    simulator = CanvasSimulator(
        token=token or secrets.token_urlsafe(24), settings=settings or REALISTIC, host=host, port=port
    )
    try:
        with simulator:
            stream.write(f"url: {simulator.url}\ntoken: {simulator.token}\n")
            stream.write(f"control: {simulator.url}/__simulator__/state\n")
            stream.flush()
            while not stop.wait(0.5):
                pass
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    return 0
