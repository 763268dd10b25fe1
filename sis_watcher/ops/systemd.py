"""
A tiny sd_notify client: tell systemd we are ready, what we are doing, and that we are alive.

systemd (`Type=notify`) passes the address of its notification socket in `NOTIFY_SOCKET`: a
filesystem path (`/run/systemd/notify`) or an abstract socket (`@name`). A notification is one
unix datagram of `KEY=value` lines (sd_notify(3)). Outside systemd the variable is unset and every
call is a no-op, so the daemon needs no special case for running in a terminal or in tests.

Sending never blocks and never raises into the caller: each datagram is sent with
`MSG_DONTWAIT`, so a manager that is slow to read (or a socket nobody reads, whose queue of a few
datagrams is full) costs a dropped notification, never a stalled stage. `send` returns False when
nothing was delivered (no socket, an unsupported address, a full queue or another `OSError`).
The first failure logs `systemd.notify_dropped` once; the next successful send logs
`systemd.notify_resumed` with how many were dropped meanwhile, and re-arms the warning.

Which lines the daemon sends when (README, "Running under systemd"): `READY=1` after the start-up scan,
`STATUS=` for the current activity, `WATCHDOG=1` every `watchdog_interval_seconds()` only while
every stage thread is alive, `STOPPING=1` on shutdown.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Mapping

from sis_watcher.core.logs import get_logger

MICROSECONDS = 1_000_000
log = get_logger()


def socket_address(value: str | None) -> str | None:
    """
    Return the address to `sendto()` for the `NOTIFY_SOCKET` value `value`, or None.

    `/path` is a socket in the filesystem, `@name` an abstract one (a leading NUL byte on the
    wire). Anything else (unset, empty, relative, or a newer transport such as `vsock:`) is
    unsupported here and disables notifications.
    """
    if not value:
        return None
    if value.startswith("@") and len(value) > 1:
        return "\0" + value[1:]
    if value.startswith("/"):
        return value
    return None


class Notifier:
    """
    Sends notifications to the systemd manager that started this process.

    Built from an environment mapping (default `os.environ`, read once at construction), so tests
    pass their own. Thread-safe: every notification opens, uses and closes its own socket, and
    the count of dropped notifications is kept under a lock.
    """

    def __init__(self, *, environ: Mapping[str, str] | None = None, pid: int | None = None) -> None:
        """
        Read `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` from `environ`.

        `pid` is the process id `WATCHDOG_PID` must name (default: this process's, at call time).
        """
        environment = os.environ if environ is None else environ
        self.address = socket_address(environment.get("NOTIFY_SOCKET"))
        self.watchdog_usec = environment.get("WATCHDOG_USEC")
        self.watchdog_pid = environment.get("WATCHDOG_PID")
        self.pid = pid
        self.lock = threading.Lock()
        self.dropped = 0  # notifications not delivered since the last one that was

    @property
    def enabled(self) -> bool:
        """Return True when there is a systemd notification socket to talk to."""
        return self.address is not None

    def send(self, *lines: str) -> bool:
        """
        Send `lines` (each `KEY=value`) as one datagram; return True if it was sent.

        A line containing a newline would smuggle in another assignment, so such a call sends
        nothing and returns False; so does a call with no lines.
        """
        if self.address is None or not lines or any("\n" in line for line in lines):
            return False
        payload = "\n".join(lines).encode("utf-8")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as connection:
                connection.sendto(payload, socket.MSG_DONTWAIT, self.address)
        except OSError as error:
            self.note_dropped(lines[0], error)
            return False
        self.note_delivered()
        return True

    def note_dropped(self, first_line: str, error: OSError) -> None:
        """Count a notification that was not delivered; log the first of a run of them."""
        with self.lock:
            self.dropped += 1
            first = self.dropped == 1
        if first:
            log.warning(
                "systemd.notify_dropped",
                notification=first_line.split("=", 1)[0],
                caused_by=f"{error.__class__.__name__}: {error}",
                socket=self.address.replace("\0", "@") if self.address else None,
            )

    def note_delivered(self) -> None:
        """After a run of dropped notifications, log how many and re-arm the warning."""
        with self.lock:
            dropped, self.dropped = self.dropped, 0
        if dropped:
            log.info("systemd.notify_resumed", dropped=dropped)

    def notify(self, **fields: str | int) -> bool:
        """
        Send `fields` as `KEY=value` lines, keys upper-cased, in the order given.

        `notify(ready=1, status="idle")` sends `READY=1` and `STATUS=idle` in one datagram.
        """
        return self.send(*(f"{key.upper()}={value}" for key, value in fields.items()))

    def ready(self, status: str | None = None) -> bool:
        """Tell systemd that start-up is complete (`READY=1`), with an optional status line."""
        return self.send("READY=1", *status_lines(status))

    def status(self, text: str) -> bool:
        """Set the free-form status `systemctl status` shows (`STATUS=`); newlines become spaces."""
        return self.send(*status_lines(text))

    def watchdog(self) -> bool:
        """Tell systemd we are alive (`WATCHDOG=1`); send only while every stage is healthy."""
        return self.send("WATCHDOG=1")

    def stopping(self, status: str | None = None) -> bool:
        """Tell systemd that shutdown has begun (`STOPPING=1`), with an optional status line."""
        return self.send("STOPPING=1", *status_lines(status))

    def extend_timeout(self, seconds: float) -> bool:
        """Ask for `seconds` more to finish starting or stopping (`EXTEND_TIMEOUT_USEC=`)."""
        return self.send(f"EXTEND_TIMEOUT_USEC={max(0, round(seconds * MICROSECONDS))}")

    def watchdog_interval_seconds(self) -> float | None:
        """
        Return how often to send `WATCHDOG=1`: half of systemd's `WatchdogSec=`, in seconds.

        Return None when no watchdog is asked of this process: `WATCHDOG_USEC` unset, not a
        positive integer, or `WATCHDOG_PID` set to another process (a child inherited it).
        """
        if self.watchdog_pid is not None:
            expected = os.getpid() if self.pid is None else self.pid
            if self.watchdog_pid.strip() != str(expected):
                return None
        try:
            microseconds = int(self.watchdog_usec or "")
        except ValueError:
            return None
        if microseconds <= 0:
            return None
        return microseconds / MICROSECONDS / 2


def status_lines(text: str | None) -> tuple[str, ...]:
    """Return the `STATUS=` line for `text` on one line, or nothing for None."""
    if text is None:
        return ()
    return ("STATUS=" + " ".join(text.splitlines()),)
