"""
The email alert channel: one message per alert over SMTP, a fresh connection each time.

`alerts.email.security` picks the transport: `starttls` (upgrade a plain connection, refuse to go
on if the server cannot), `tls` (implicit TLS, usually port 465) or `none`. Certificates are
verified against the system's CAs, or `alerts.email.ca_file`. When `alerts.email.username` is
set the channel logs in with the password read, at each send, from the systemd credential
`$CREDENTIALS_DIRECTORY/smtp-password`, else `alerts.email.password_file` (so a rotated password
needs no restart). The password is registered with the log redactor as soon as it is read and
never appears in any event or error.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

from sis_watcher.config.alerting import EmailSettings
from sis_watcher.core.logs import register_secret

CREDENTIAL_NAME = "smtp-password"
# RFC 5322 allows 998-character lines; folding a 100-character subject only garbles it.
POLICY = default_policy.clone(max_line_length=998)


class PasswordUnavailable(Exception):
    """A login is configured but no readable, non-empty SMTP password was found."""


def password_places(settings: EmailSettings, *, environ: Mapping[str, str]) -> list[Path]:
    """Return where the SMTP password may be, in order: the systemd credential, the file."""
    places: list[Path] = []
    credentials_directory = environ.get("CREDENTIALS_DIRECTORY")
    if credentials_directory:
        places.append(Path(credentials_directory) / CREDENTIAL_NAME)
    if settings.password_file is not None:
        places.append(settings.password_file)
    return places


def load_password(settings: EmailSettings, *, environ: Mapping[str, str]) -> str:
    """
    Return the SMTP password from the first place that has the file, trailing newline removed.

    Register it as a secret before returning. Raise `PasswordUnavailable` if no place has it,
    or the file found is unreadable or empty.
    """
    places = password_places(settings, environ=environ)
    for path in places:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            continue
        except (OSError, UnicodeDecodeError) as error:
            raise PasswordUnavailable(
                f"cannot read the SMTP password file {path} ({error.__class__.__name__})"
            ) from None
        password = text.rstrip("\r\n")
        if not password:
            raise PasswordUnavailable(f"the SMTP password file {path} is empty")
        register_secret(password)
        return password
    looked = ", ".join(str(path) for path in places) or "nowhere (set alerts.email.password_file)"
    raise PasswordUnavailable(
        f"alerts.email.username is set but no SMTP password file exists; looked at {looked}"
    )


class RecipientsRefused(Exception):
    """The relay took the message for some recipients and refused the others."""


class EmailChannel:
    """Mails alerts to `alerts.email.to`; `send` raises when the message was not accepted."""

    name = "email"

    def __init__(self, settings: EmailSettings, *, environ: Mapping[str, str]) -> None:
        self.settings = settings
        self.environ = environ
        self.local_hostname = socket.gethostname()

    def preflight(self) -> str | None:
        """Return why no login can work (no readable password), or None; registers the password."""
        if self.settings.username is None:
            return None
        try:
            load_password(self.settings, environ=self.environ)
        except PasswordUnavailable as error:
            return str(error)
        return None

    def message(self, *, subject: str, text: str) -> EmailMessage:
        """Return the plain-text message for one alert."""
        message = EmailMessage(policy=POLICY)
        message["Subject"] = subject
        message["From"] = self.settings.sender
        message["To"] = ", ".join(self.settings.to)
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = make_msgid(domain=self.local_hostname)
        message.set_content(text)
        return message

    def connect(self, context: ssl.SSLContext) -> smtplib.SMTP:
        """Return an SMTP connection, already encrypted for `tls` (implicit TLS)."""
        settings = self.settings
        if settings.security == "tls":
            return smtplib.SMTP_SSL(
                settings.host,
                settings.port,
                local_hostname=self.local_hostname,
                timeout=settings.timeout_seconds,
                context=context,
            )
        return smtplib.SMTP(
            settings.host, settings.port, local_hostname=self.local_hostname, timeout=settings.timeout_seconds
        )

    def send(self, *, subject: str, text: str, fields: Mapping[str, Any]) -> None:
        """
        Deliver one message to the relay; return when it accepted it for every recipient.

        Raise `RecipientsRefused` when it refused some (the rest got it, so no retry), else
        `PasswordUnavailable`, `smtplib.SMTPException` or `OSError` when nothing was sent.
        """
        settings = self.settings
        password = load_password(settings, environ=self.environ) if settings.username is not None else None
        cafile = str(settings.ca_file) if settings.ca_file is not None else None
        context = ssl.create_default_context(cafile=cafile)
        with self.connect(context) as smtp:
            if settings.security == "starttls":
                smtp.starttls(context=context)
            if settings.username is not None and password is not None:
                smtp.login(settings.username, password)
            refused = smtp.send_message(self.message(subject=subject, text=text))
        if refused:
            raise RecipientsRefused("the relay refused " + ", ".join(sorted(refused)) + "; the others got it")

    def is_permanent(self, error: Exception) -> bool:
        """Return True for failures a retry cannot fix: config, credentials, a 5xx refusal."""
        permanent = (
            PasswordUnavailable,
            RecipientsRefused,
            smtplib.SMTPNotSupportedError,
            smtplib.SMTPRecipientsRefused,
            ssl.SSLCertVerificationError,
        )
        if isinstance(error, permanent):
            return True
        return isinstance(error, smtplib.SMTPResponseException) and 500 <= error.smtp_code < 600

    def close(self) -> None:
        """Nothing to release: each alert opens and closes its own connection."""
