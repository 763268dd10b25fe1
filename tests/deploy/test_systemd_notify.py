"""The sd_notify client, against real unix datagram sockets standing in for systemd."""

from __future__ import annotations

import os
import secrets
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from sis_watcher.ops.systemd import Notifier, socket_address


class Receiver:
    """A bound unix datagram socket and the `NOTIFY_SOCKET` value that names it."""

    def __init__(self, connection: socket.socket, notify_socket: str) -> None:
        self.connection = connection
        self.notify_socket = notify_socket

    def notifier(self) -> Notifier:
        """Return a Notifier pointed at this socket."""
        return Notifier(environ={"NOTIFY_SOCKET": self.notify_socket})

    def receive(self) -> bytes:
        """Return the next datagram, waiting at most two seconds."""
        self.connection.settimeout(2)
        return self.connection.recv(65536)

    def assert_nothing_received(self) -> None:
        """Fail if a datagram is waiting."""
        self.connection.setblocking(False)  # noqa: FBT003 (the socket API's own flag)
        with pytest.raises(BlockingIOError):
            self.connection.recv(65536)


@pytest.fixture
def path_receiver(tmp_path: Path) -> Iterator[Receiver]:
    """A datagram socket bound to a path in tmp_path, like /run/systemd/notify."""
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as connection:
        connection.bind(str(path))
        yield Receiver(connection, str(path))


@pytest.fixture
def abstract_receiver() -> Iterator[Receiver]:
    """A datagram socket bound to a unique abstract address, named `@...` in NOTIFY_SOCKET."""
    name = f"sis-watcher-test-{secrets.token_hex(8)}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as connection:
        connection.bind("\0" + name)
        yield Receiver(connection, "@" + name)


class TestDatagrams:
    def test_ready(self, path_receiver: Receiver) -> None:
        """ready() sends exactly READY=1."""
        sent = path_receiver.notifier().ready()

        assert sent is True
        assert path_receiver.receive() == b"READY=1"

    def test_ready_with_status(self, path_receiver: Receiver) -> None:
        """ready(status) sends READY=1 and the status in one datagram."""
        path_receiver.notifier().ready("idle, 0 queued")

        assert path_receiver.receive() == b"READY=1\nSTATUS=idle, 0 queued"

    def test_status(self, path_receiver: Receiver) -> None:
        """status(text) sends one STATUS= line."""
        path_receiver.notifier().status("uploading 20261127T020000Z-3f9a1c")

        assert path_receiver.receive() == b"STATUS=uploading 20261127T020000Z-3f9a1c"

    def test_status_on_one_line(self, path_receiver: Receiver) -> None:
        """A status text with line breaks is sent on one line, so it cannot inject other keys."""
        path_receiver.notifier().status("paused: Canvas rejected the token\nREADY=1\r\nmore")

        assert path_receiver.receive() == b"STATUS=paused: Canvas rejected the token READY=1 more"

    def test_status_utf8(self, path_receiver: Receiver) -> None:
        """Non-ASCII status text is sent as UTF-8."""
        path_receiver.notifier().status("uploading élèves.csv")

        assert path_receiver.receive() == "STATUS=uploading élèves.csv".encode()

    def test_watchdog(self, path_receiver: Receiver) -> None:
        """watchdog() sends exactly WATCHDOG=1."""
        path_receiver.notifier().watchdog()

        assert path_receiver.receive() == b"WATCHDOG=1"

    def test_stopping(self, path_receiver: Receiver) -> None:
        """stopping() sends exactly STOPPING=1."""
        path_receiver.notifier().stopping()

        assert path_receiver.receive() == b"STOPPING=1"

    def test_stopping_with_status(self, path_receiver: Receiver) -> None:
        """stopping(status) sends STOPPING=1 and the status in one datagram."""
        path_receiver.notifier().stopping("finishing the current step")

        assert path_receiver.receive() == b"STOPPING=1\nSTATUS=finishing the current step"

    @pytest.mark.parametrize(
        ("seconds", "expected"),
        [
            (1.5, b"EXTEND_TIMEOUT_USEC=1500000"),
            (0, b"EXTEND_TIMEOUT_USEC=0"),
            (-3, b"EXTEND_TIMEOUT_USEC=0"),
        ],
    )
    def test_extend_timeout(self, path_receiver: Receiver, seconds: float, expected: bytes) -> None:
        """extend_timeout(seconds) sends EXTEND_TIMEOUT_USEC in whole microseconds, never negative."""
        path_receiver.notifier().extend_timeout(seconds)

        assert path_receiver.receive() == expected

    def test_notify_fields_in_order(self, path_receiver: Receiver) -> None:
        """notify(**fields) upper-cases the keys and keeps their order."""
        path_receiver.notifier().notify(status="reloading", reloading=1)

        assert path_receiver.receive() == b"STATUS=reloading\nRELOADING=1"

    def test_send_lines(self, path_receiver: Receiver) -> None:
        """send(*lines) sends the lines as given, joined by newlines."""
        path_receiver.notifier().send("READY=1", "MAINPID=4242")

        assert path_receiver.receive() == b"READY=1\nMAINPID=4242"

    def test_abstract_socket(self, abstract_receiver: Receiver) -> None:
        """An abstract NOTIFY_SOCKET (@name) is reached through its NUL-prefixed address."""
        sent = abstract_receiver.notifier().ready("idle, 0 queued")

        assert sent is True
        assert abstract_receiver.receive() == b"READY=1\nSTATUS=idle, 0 queued"

    def test_default_environ(self, path_receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without an environ argument the Notifier reads os.environ."""
        monkeypatch.setenv("NOTIFY_SOCKET", path_receiver.notify_socket)

        Notifier().watchdog()

        assert path_receiver.receive() == b"WATCHDOG=1"


class TestNothingSent:
    def test_unset_is_a_no_op(self) -> None:
        """Without NOTIFY_SOCKET the Notifier is disabled and every call returns False."""
        notifier = Notifier(environ={})

        results = [notifier.ready(), notifier.status("x"), notifier.watchdog(), notifier.stopping()]

        assert notifier.enabled is False
        assert results == [False, False, False, False]

    @pytest.mark.parametrize("value", ["", "@", "relative/notify", "vsock:2:1234"])
    def test_unsupported_address(self, value: str) -> None:
        """An empty, bare-@, relative or non-unix NOTIFY_SOCKET disables notifications."""
        notifier = Notifier(environ={"NOTIFY_SOCKET": value})

        assert notifier.enabled is False
        assert notifier.ready() is False

    def test_nobody_listening(self, tmp_path: Path) -> None:
        """A socket path nobody listens on makes the call return False instead of raising."""
        notifier = Notifier(environ={"NOTIFY_SOCKET": str(tmp_path / "gone")})

        assert notifier.enabled is True
        assert notifier.ready() is False

    def test_no_lines(self, path_receiver: Receiver) -> None:
        """send() with no lines sends nothing."""
        assert path_receiver.notifier().send() is False
        path_receiver.assert_nothing_received()

    def test_line_with_newline_refused(self, path_receiver: Receiver) -> None:
        """A line containing a newline is refused whole, so no extra assignment slips through."""
        assert path_receiver.notifier().send("STATUS=a\nREADY=1") is False
        path_receiver.assert_nothing_received()


class TestSocketAddress:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("/run/systemd/notify", "/run/systemd/notify"),
            ("@/org/freedesktop/systemd1/notify/42", "\0/org/freedesktop/systemd1/notify/42"),
            (None, None),
            ("", None),
            ("@", None),
            ("notify", None),
        ],
    )
    def test_socket_address(self, value: str | None, expected: str | None) -> None:
        """NOTIFY_SOCKET values map to sendto() addresses, unsupported ones to None."""
        assert socket_address(value) == expected


class TestWatchdogInterval:
    @pytest.mark.parametrize(
        ("environ", "expected"),
        [
            ({"WATCHDOG_USEC": "60000000"}, 30.0),
            ({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": "4242"}, 30.0),
            ({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": " 4242\n"}, 30.0),
            ({"WATCHDOG_USEC": "1"}, 0.0000005),
            ({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": "1"}, None),
            ({}, None),
            ({"WATCHDOG_USEC": ""}, None),
            ({"WATCHDOG_USEC": "sixty"}, None),
            ({"WATCHDOG_USEC": "0"}, None),
            ({"WATCHDOG_USEC": "-60000000"}, None),
            ({"WATCHDOG_PID": "4242"}, None),
        ],
    )
    def test_interval(self, environ: dict[str, str], expected: float | None) -> None:
        """The ping interval is half of WATCHDOG_USEC, and None unless the watchdog is ours."""
        assert Notifier(environ=environ, pid=4242).watchdog_interval_seconds() == expected

    def test_own_pid_by_default(self) -> None:
        """Without a pid argument WATCHDOG_PID is compared with this process's id."""
        mine = Notifier(environ={"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": str(os.getpid())})
        other = Notifier(environ={"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": str(os.getpid() + 1)})

        assert mine.watchdog_interval_seconds() == 5.0
        assert other.watchdog_interval_seconds() is None


class TestNeverBlocks:
    """A notify socket nobody reads fills after a few datagrams; sending must drop, not wait."""

    @pytest.fixture
    def unread(self, tmp_path: Path) -> Iterator[Receiver]:
        """A bound socket with a tiny receive buffer that the test reads only when it says so."""
        path = tmp_path / "unread"
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as connection:
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
            connection.bind(str(path))
            yield Receiver(connection, str(path))

    def test_a_full_socket_drops_and_logs_once(self, unread: Receiver) -> None:
        """Hundreds of sends to a full socket return at once, False once full, with one warning."""
        notifier = unread.notifier()

        with capture_logs() as logs:
            started = time.monotonic()
            results = [notifier.status(f"batch {number}") for number in range(300)]
            elapsed = time.monotonic() - started

        assert elapsed < 2.0
        assert results[0] is True
        assert results[-1] is False
        dropped = [entry for entry in logs if entry["event"] == "systemd.notify_dropped"]
        assert len(dropped) == 1
        assert dropped[0]["notification"] == "STATUS"
        assert "BlockingIOError" in dropped[0]["caused_by"]
        assert notifier.dropped == results.count(False)

    def test_watchdog_ready_and_stopping_never_block(self, unread: Receiver) -> None:
        """Once the socket is full, READY=1, WATCHDOG=1 and STOPPING=1 are dropped too, not waited on."""
        notifier = unread.notifier()
        while notifier.status("filling"):
            pass

        with capture_logs() as logs:
            results = [notifier.ready(), notifier.watchdog(), notifier.stopping("bye")]

        assert results == [False, False, False]
        assert not [entry for entry in logs if entry["event"] == "systemd.notify_dropped"]

    def test_a_delivery_after_drops_logs_the_count_and_rearms(self, unread: Receiver) -> None:
        """When the reader catches up, the next send logs how many were dropped; a new run warns again."""
        notifier = unread.notifier()
        sent = 0
        while notifier.status(f"filling {sent}"):
            sent += 1
        notifier.watchdog()
        for _ in range(sent):
            unread.receive()

        with capture_logs() as logs:
            assert notifier.status("caught up") is True
            while notifier.status("filling again"):
                pass

        assert [entry["event"] for entry in logs] == ["systemd.notify_resumed", "systemd.notify_dropped"]
        assert logs[0]["dropped"] == 2
        assert notifier.dropped == 1

    def test_nobody_listening_logs_once(self, tmp_path: Path) -> None:
        """A socket path that does not exist is a dropped notification too, warned about once."""
        notifier = Notifier(environ={"NOTIFY_SOCKET": str(tmp_path / "gone")})

        with capture_logs() as logs:
            results = [notifier.ready(), notifier.status("idle"), notifier.watchdog()]

        assert results == [False, False, False]
        assert [entry["event"] for entry in logs] == ["systemd.notify_dropped"]
        assert logs[0]["socket"] == str(tmp_path / "gone")

    def test_an_abstract_socket_is_named_with_its_at_sign(self) -> None:
        """The warning names an abstract socket as NOTIFY_SOCKET does (`@name`), not with a NUL byte."""
        name = f"sis-watcher-test-{secrets.token_hex(8)}"
        notifier = Notifier(environ={"NOTIFY_SOCKET": "@" + name})

        with capture_logs() as logs:
            notifier.watchdog()

        assert logs[0]["socket"] == "@" + name
        assert logs[0]["notification"] == "WATCHDOG"
