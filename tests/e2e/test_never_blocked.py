"""
Nothing slows the pipeline: telling the outside world never holds up a batch (issue 14, item 4).

`sis-watcher run` as a subprocess, against the simulator on loopback, with `NOTIFY_SOCKET`
naming a unix datagram socket that the test binds with a tiny receive buffer and never reads:
after a few datagrams every `sendto()` would block, as under a stalled systemd manager.
"""

from __future__ import annotations

import socket
import time

from support import USERS_CSV, child_env, drop_file, wait_until

BATCHES = 10


def fill(address: str) -> None:
    """Send to `address` until its queue is full, as a stalled manager's would be."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
        sender.setblocking(False)  # noqa: FBT003 (the socket API's own flag)
        try:
            while True:
                sender.sendto(b"STATUS=filler", address)
        except BlockingIOError:
            return


def received(connection: socket.socket) -> list[bytes]:
    """Return every datagram waiting on `connection`, without waiting."""
    found = []
    try:
        while True:
            found.append(connection.recv(4096))
    except BlockingIOError:
        return found


def test_a_notify_socket_nobody_reads_does_not_stop_ten_batches(tree, canvas, service, tmp_path):
    """
    With the notify socket full from the start, the daemon still takes, uploads and files ten batches.

    READY=1 could not be sent at the start either; once the socket is read, it arrives.
    """
    address = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as unread:
        unread.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
        unread.bind(address)
        unread.setblocking(False)  # noqa: FBT003
        fill(address)
        config = tree.write_config(
            canvas.url,
            intake={"settle_seconds": 0, "quiet_seconds": 0, "rescan_seconds": 0.1},
            metrics={"enabled": True, "port": 0},
        )
        running = service(config, env=child_env(NOTIFY_SOCKET=address, WATCHDOG_USEC="200000"))
        running.wait_for_event("daemon.started")

        started = time.monotonic()
        for number in range(1, BATCHES + 1):
            drop_file(
                tree.drop, "users.csv", USERS_CSV + f"u{number + 2},login{number},A,B,,active\n".encode()
            )
            wait_until(lambda: not (tree.drop / "users.csv").exists(), what="the export to be sealed")
        wait_until(lambda: len(tree.batches("done")) == BATCHES, timeout=60, what="ten batches in done/")
        elapsed = time.monotonic() - started

        assert tree.batches("failed") == []
        assert len(canvas.imports) == BATCHES
        [dropped] = running.events("systemd.notify_dropped")
        assert "BlockingIOError" in dropped["caused_by"]
        assert elapsed < 30
        later: list[bytes] = []  # the fillers, then what the daemon sends once there is room again

        def ready_arrived() -> bool:
            later.extend(received(unread))
            return b"READY=1" in later

        wait_until(ready_arrived, what="READY=1, sent again")
        assert 0 == running.stop()
