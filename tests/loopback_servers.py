"""
Real servers on loopback for the alert tests: a recording webhook and an SMTP relay (aiosmtpd).

`Webhook` answers each POST with the next status of a script (then 200), or hangs until it is
closed; it records every request. `Relay` is an aiosmtpd controller on a port chosen by the
kernel, optionally with STARTTLS or implicit TLS and a login check; it records every message.
"""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import threading
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

SMTP_USER = "alerts@school.example"
SMTP_PASSWORD = "s3cret-smtp-pass-91"


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class Webhook:
    """A webhook on loopback answering scripted statuses (`hang=True`: never in time)."""

    statuses: list[int] = field(default_factory=list)
    hang: bool = False
    requests: list[Request] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length))
                hook.requests.append(Request(self.path, dict(self.headers.items()), body))
                if hook.hang:
                    hook.release.wait(30)
                    return
                status = hook.statuses.pop(0) if hook.statuses else 200
                payload = b"ok" if status < 400 else b"no_service"
                self.send_response(status)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib's name
                """Keep test output quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05})
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/T0/B0/xyz"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


class Recorder:
    """aiosmtpd handler keeping every accepted message; refuses `refuse`, is `busy` N times first."""

    def __init__(self, *, refuse: tuple[str, ...] = (), busy: int = 0) -> None:
        self.messages: list[tuple[Envelope, EmailMessage]] = []
        self.refuse = refuse
        self.busy = busy

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.busy:
            self.busy -= 1
            return "451 4.3.0 busy, try again later"
        content = envelope.original_content or b""
        message = message_from_bytes(content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append((envelope, message))
        return "250 Message accepted"


class Authenticator:
    """Accepts only `SMTP_USER` with `SMTP_PASSWORD`; records the mechanisms used."""

    def __init__(self) -> None:
        self.mechanisms: list[str] = []

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        self.mechanisms.append(mechanism)
        valid = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == SMTP_USER.encode()
            and auth_data.password == SMTP_PASSWORD.encode()
        )
        return AuthResult(success=valid, handled=False)


class LoopbackController(Controller):
    """An aiosmtpd controller listening on a socket bound to a free loopback port."""

    def __init__(self, handler: Recorder, **kwargs: Any) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        super().__init__(handler, hostname="127.0.0.1", port=self.listener.getsockname()[1], **kwargs)

    def _create_server(self) -> Awaitable[Any]:
        return self.loop.create_server(self._factory_invoker, sock=self.listener, ssl=self.ssl_context)


@dataclass
class Relay:
    port: int
    recorder: Recorder
    authenticator: Authenticator


@contextmanager
def relay(
    *,
    tls: ssl.SSLContext | None = None,
    mode: str = "none",
    login: bool = False,
    refuse: tuple[str, ...] = (),
    busy: int = 0,
    **smtp: Any,
) -> Iterator[Relay]:
    """Run an SMTP relay: `mode` none, starttls (with `tls`) or tls (implicit, with `tls`)."""
    recorder = Recorder(refuse=refuse, busy=busy)
    authenticator = Authenticator()
    options: dict[str, Any] = dict(smtp)
    if login:
        options.update(authenticator=authenticator, auth_required=mode == "starttls")
        options.setdefault("auth_require_tls", mode == "starttls")
    if mode == "starttls":
        options.update(tls_context=tls, require_starttls=True)
    elif mode == "tls":
        options.update(ssl_context=tls)
    controller = LoopbackController(recorder, **options)
    controller.start()
    try:
        yield Relay(port=controller.port, recorder=recorder, authenticator=authenticator)
    finally:
        controller.stop()
        controller.listener.close()


def self_signed(folder: Path) -> tuple[Path, ssl.SSLContext]:
    """Make a certificate for 127.0.0.1 with `openssl req`; return its path and a server context."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return cert, context
