"""
The HTTP plumbing shared by the API host and the storage host.

A threaded loopback server that can be stopped cleanly, and a handler that turns each request
into a `Request` for an app and writes back its `Reply`. Nothing is logged: request lines can
carry an `access_token`.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sis_watcher.simulator.http.bodies import CHUNK, BadBody, Readable, drain, iter_body

JSON_TYPE = "application/json; charset=utf-8"


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    """An answer: JSON or text `body`, or a `file` streamed from disk; `hang_up` sends nothing."""

    status: int = 200
    body: bytes = b""
    content_type: str = JSON_TYPE
    headers: tuple[tuple[str, str], ...] = ()
    file: Path | None = None
    hang_up: bool = False


def json_reply(status: int, data: Any, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    """Return `data` as a JSON reply."""
    return Reply(status=status, body=json.dumps(data).encode(), headers=headers)


@dataclass(slots=True, kw_only=True)
class Request:
    """One request: its line, headers and a once-only stream of its body."""

    method: str
    path: str
    raw_query: str
    query: dict[str, list[str]]
    headers: Message
    rfile: Readable
    body_read: bool = False

    def param(self, name: str) -> str | None:
        """Return the first query value of `name`, or None."""
        values = self.query.get(name)
        return values[0] if values else None

    def chunks(self) -> Iterator[bytes]:
        """Return the body as pieces (raises BadBody while iterating on broken framing)."""
        self.body_read = True
        return iter_body(
            self.rfile,
            content_length=self.headers.get("Content-Length"),
            transfer_encoding=self.headers.get("Transfer-Encoding"),
        )

    def discard_body(self) -> None:
        """Read and drop the body if nobody did (keeps the connection usable)."""
        if not self.body_read:
            drain(self.chunks())


App = Callable[[Request], Reply]


class LoopbackServer(ThreadingHTTPServer):
    """A threaded HTTP server whose open connections are shut down on `close`."""

    daemon_threads = False
    block_on_close = True

    def __init__(self, address: tuple[str, int], app: App) -> None:
        self.app = app
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, ApiRequestHandler)

    def track(self, connection: socket.socket, *, add: bool) -> None:
        with self.connections_lock:
            (self.connections.add if add else self.connections.discard)(connection)

    def handle_error(self, request: object, client_address: object) -> None:
        """Swallow errors of a single connection (the client went away); the server goes on."""

    def close(self) -> None:
        """Stop serving, wake every handler blocked on a socket, join them, close the socket."""
        self.shutdown()
        with self.connections_lock:
            for connection in self.connections:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
        self.server_close()


@dataclass(slots=True)
class ServingThread:
    """A `LoopbackServer` serving in its own thread."""

    server: LoopbackServer
    thread: threading.Thread = field(init=False)

    def __post_init__(self) -> None:
        self.thread = threading.Thread(target=self.serve, name="simulator-http", daemon=True)
        self.thread.start()

    def serve(self) -> None:
        self.server.serve_forever(poll_interval=0.02)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def close(self) -> None:
        self.server.close()
        self.thread.join(timeout=10)


class ApiRequestHandler(BaseHTTPRequestHandler):
    """Hands each request to the server's app; HTTP/1.1 with keep-alive."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes; no 40 ms delayed-ACK stall
    timeout = 120
    server: LoopbackServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, add=True)

    def finish(self) -> None:
        self.server.track(self.connection, add=False)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        """Log nothing: a request line may carry a token in its query string."""

    def serve(self) -> None:
        parts = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=parts.path,
            raw_query=parts.query,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers=self.headers,
            rfile=self.rfile,
        )
        reply = self.server.app(request)
        if not reply.hang_up:
            try:
                request.discard_body()
            except BadBody:
                reply = Reply(status=400, body=b"bad request body\n", content_type="text/plain")
                self.close_connection = True
        if reply.hang_up:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.write(reply)

    def write(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        for name, value in reply.headers:
            self.send_header(name, value)
        length = reply.file.stat().st_size if reply.file is not None else len(reply.body)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        if self.command == "HEAD":
            return
        if reply.file is None:
            self.wfile.write(reply.body)
            return
        with reply.file.open("rb") as handle:
            for chunk in iter(lambda: handle.read(CHUNK), b""):
                self.wfile.write(chunk)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = serve  # noqa: N815 - stdlib names
