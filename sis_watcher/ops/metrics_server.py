"""
The metrics' HTTP server: `/metrics` (Prometheus's text format) and `/healthz`, on its own threads.

It only reads `Metrics` (`exposition`, `health`), so a slow scraper never delays a stage.
"""

from __future__ import annotations

import json
import socket
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from prometheus_client import CONTENT_TYPE_LATEST

from sis_watcher.core.logs import get_logger
from sis_watcher.ops.metrics import Metrics

log = get_logger()
REQUEST_TIMEOUT_SECONDS = 10.0
POLL_SECONDS = 0.2  # how soon `stop` is noticed by the serving thread


class MetricsRequestHandler(BaseHTTPRequestHandler):
    """Answers GET /metrics and GET /healthz; anything else is 404."""

    server: MetricsHTTPServer
    timeout = REQUEST_TIMEOUT_SECONDS

    def do_GET(self) -> None:
        metrics = self.server.metrics
        path = urlsplit(self.path).path
        if path == "/metrics":
            self.reply(HTTPStatus.OK, metrics.exposition(), CONTENT_TYPE_LATEST)
        elif path == "/healthz":
            status, document = metrics.health()
            self.reply(status, json.dumps(document).encode(), "application/json")
        else:
            self.reply(HTTPStatus.NOT_FOUND, b"not found: try /metrics or /healthz\n", "text/plain")

    def reply(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's parameter name
        """No access log: a scrape every few seconds would flood the journal."""


class MetricsHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], metrics: Metrics) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.metrics = metrics
        super().__init__(address, MetricsRequestHandler)


class MetricsServer:
    """
    Serves `metrics` on `host`:`port` (0: any free port) from a daemon thread.

    `start()` binds and returns at once; it raises `OSError` if the address cannot be bound.
    `port` is the bound port. `stop(timeout)` stops serving and closes the socket; it is safe to
    call twice or without `start()`.
    """

    def __init__(self, metrics: Metrics, *, host: str = "127.0.0.1", port: int = 9464) -> None:
        self.metrics = metrics
        self.host = host
        self.requested_port = port
        self.server: MetricsHTTPServer | None = None
        self.thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.server.server_address[1] if self.server is not None else self.requested_port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        self.server = MetricsHTTPServer((self.host, self.requested_port), self.metrics)
        self.thread = threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": POLL_SECONDS},
            name="metrics",
            daemon=True,
        )
        self.thread.start()
        log.info("metrics.listening", url=self.url)

    def stop(self, timeout: float = 5.0) -> None:
        server, thread = self.server, self.thread
        self.server = self.thread = None
        if server is None or thread is None:
            return
        server.shutdown()
        server.server_close()
        thread.join(timeout)
