"""The email channel against a real SMTP relay on loopback (aiosmtpd): TLS modes, logins, failures."""

from __future__ import annotations

from pathlib import Path

import pytest

from sis_watcher.core.logs import REDACTED, redactor

from loopback_servers import SMTP_PASSWORD, SMTP_USER, relay
from support import wait_until
from unit.ops.alerts.conftest import BATCH_ID, failed_manifest

FOLDER = Path("/var/lib/sis-watcher/failed") / BATCH_ID
TO = ("it-team@school.example", "oncall@school.example")


def named(events, name):
    return [event for event in events if event["event"] == name]


def email(port, **extra):
    return {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "from": "sis-watcher@school.example",
        "to": list(TO),
        "timeout_seconds": 5,
        **extra,
    }


def password_file(tmp_path, text=SMTP_PASSWORD + "\n", name="smtp-password"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_failed_batch_is_mailed_in_plain_text(alerter, events):
    """Without TLS or login, the relay gets one message with subject, addresses and the details."""
    with relay() as server:
        alerts = alerter({"email": email(server.port)}, canvas_url="https://school.instructure.com")

        alerts.batch_filed(failed_manifest(), FOLDER)
        alerts.stop(timeout=5)

    [(envelope, message)] = server.recorder.messages
    assert envelope.mail_from == "sis-watcher@school.example"
    assert envelope.rcpt_tos == list(TO)
    assert message["Subject"] == f"[sis-watcher host1] batch {BATCH_ID} failed"
    assert message["To"] == ", ".join(TO)
    assert message["Message-ID"]
    assert message["Date"]
    body = message.get_content().replace("\r\n", "\n")
    assert body.startswith(f"sis-watcher on host1: batch {BATCH_ID} failed\n")
    assert "  users.csv: Invalid login_id\n" in body
    assert "Canvas: https://school.instructure.com" in body
    assert server.authenticator.mechanisms == []
    assert named(events, "alert.sent")[0]["channel"] == "email"


def test_starttls_with_auth_login_and_a_password_file(tmp_path, certificate, alerter, events):
    """STARTTLS to a relay trusted through `ca_file`, then AUTH LOGIN with the file's password."""
    cert, context = certificate
    with relay(tls=context, mode="starttls", login=True, auth_exclude_mechanism=["PLAIN"]) as server:
        settings = email(
            server.port,
            security="starttls",
            username=SMTP_USER,
            password_file=str(password_file(tmp_path)),
            ca_file=str(cert),
        )
        alerts = alerter({"email": settings})

        alerts.uploads_paused("Canvas answered 401: Invalid access token")
        alerts.stop(timeout=5)

    assert server.authenticator.mechanisms == ["LOGIN"]
    assert not named(events, "alert.misconfigured")
    [(_, message)] = server.recorder.messages
    assert (
        message["Subject"] == "[sis-watcher host1] uploads paused: Canvas answered 401: Invalid access token"
    )
    assert all(SMTP_PASSWORD not in str(event) for event in events)
    assert redactor.scrub(SMTP_PASSWORD) == REDACTED


def test_implicit_tls_with_auth_plain_and_the_systemd_credential(tmp_path, certificate, alerter, events):
    """Implicit TLS and AUTH PLAIN; `$CREDENTIALS_DIRECTORY/smtp-password` wins over the file."""
    cert, context = certificate
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    password_file(credentials)
    stale = password_file(tmp_path, text="an-old-password", name="stale")
    with relay(tls=context, mode="tls", login=True) as server:
        settings = email(
            server.port, security="tls", username=SMTP_USER, password_file=str(stale), ca_file=str(cert)
        )
        alerts = alerter({"email": settings}, environ={"CREDENTIALS_DIRECTORY": str(credentials)})

        alerts.intake_problem("the drop folder /srv/sis/drop does not exist")
        alerts.stop(timeout=5)

    assert server.authenticator.mechanisms == ["PLAIN"]
    [(_, message)] = server.recorder.messages
    assert (
        message["Subject"]
        == "[sis-watcher host1] intake problem: the drop folder /srv/sis/drop does not exist"
    )


def test_a_wrong_password_fails_at_once_without_leaking(tmp_path, certificate, alerter, events):
    """A refused login is permanent: one try, `alert.failed`, and the password in no event."""
    cert, context = certificate
    wrong = "wrong-password-123"
    with relay(tls=context, mode="starttls", login=True) as server:
        settings = email(
            server.port,
            security="starttls",
            username=SMTP_USER,
            password_file=str(password_file(tmp_path, text=wrong)),
            ca_file=str(cert),
        )
        alerts = alerter({"email": settings})

        alerts.stage_died("worker")
        alerts.stop(timeout=5)

    [failed] = named(events, "alert.failed")
    assert failed["attempts"] == 1
    assert failed["caused_by"].startswith("SMTPAuthenticationError: (535")
    assert all(wrong not in str(event) for event in events)
    assert server.recorder.messages == []


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "no SMTP password file exists; looked at "),
        ("", "is empty"),
        ("directory", "cannot read the SMTP password file"),
    ],
)
def test_a_missing_or_bad_password_is_reported(tmp_path, alerter, events, content, expected):
    """No file, an empty file or an unreadable one: reported at start, and each alert fails at once."""
    path = tmp_path / "smtp-password"
    if content == "directory":
        path.mkdir()
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    with relay() as server:
        alerts = alerter({"email": email(server.port, username=SMTP_USER, password_file=str(path))})

        alerts.stage_died("worker")
        alerts.stop(timeout=5)

    [failed] = named(events, "alert.failed")
    assert failed["attempts"] == 1
    assert failed["caused_by"].startswith("PasswordUnavailable: ")
    assert expected in failed["caused_by"]
    [misconfigured] = named(events, "alert.misconfigured")
    assert misconfigured["channel"] == "email"
    assert expected in misconfigured["problem"]


def test_a_login_without_any_password_place_names_the_setting(alerter, events):
    """With a username but neither the credential nor a password file, the error says what to set."""
    with relay() as server:
        alerts = alerter({"email": email(server.port, username=SMTP_USER)})
        alerts.stage_died("worker")
        alerts.stop(timeout=5)

    assert (
        "looked at nowhere (set alerts.email.password_file)" in named(events, "alert.failed")[0]["caused_by"]
    )


def test_an_untrusted_certificate_is_refused(certificate, alerter, events):
    """Without `ca_file`, a self-signed relay certificate fails verification, permanently."""
    _, context = certificate
    with relay(tls=context, mode="starttls") as server:
        alerts = alerter({"email": email(server.port, security="starttls")})
        alerts.stage_died("worker")
        alerts.stop(timeout=5)

    [failed] = named(events, "alert.failed")
    assert failed["attempts"] == 1
    assert failed["caused_by"].startswith("SSLCertVerificationError")
    assert server.recorder.messages == []


def test_starttls_is_never_skipped(alerter, events):
    """A relay that does not offer STARTTLS gets nothing: the alert fails, nothing goes in clear."""
    with relay() as server:
        alerts = alerter({"email": email(server.port, security="starttls")})
        alerts.stage_died("worker")
        alerts.stop(timeout=5)

    [failed] = named(events, "alert.failed")
    assert failed["attempts"] == 1
    assert failed["caused_by"].startswith("SMTPNotSupportedError")
    assert server.recorder.messages == []


def test_a_busy_relay_is_tried_again(alerter, events):
    """A 4xx answer is temporary: the message is sent again and accepted on the third try."""
    with relay(busy=2) as server:
        alerts = alerter({"email": email(server.port)})
        alerts.stage_died("worker")
        wait_until(lambda: named(events, "alert.sent"), timeout=5)

    assert len(server.recorder.messages) == 1
    assert named(events, "alert.sent")[0]["attempts"] == 3
    assert len(named(events, "alert.retry_scheduled")) == 2


def test_a_5xx_answer_is_permanent(alerter, events):
    """A relay refusing every recipient is not retried."""
    with relay(refuse=TO) as server:
        alerts = alerter({"email": email(server.port)})
        alerts.stage_died("worker")
        alerts.stop(timeout=5)

    [failed] = named(events, "alert.failed")
    assert failed["attempts"] == 1
    assert failed["caused_by"].startswith("SMTPRecipientsRefused")


def test_a_partly_refused_message_is_reported_but_not_resent(alerter, events):
    """When some recipients are refused the others got it: one `alert.failed` naming them, no retry."""
    with relay(refuse=(TO[1],)) as server:
        alerts = alerter({"email": email(server.port)})
        alerts.stage_died("worker")
        alerts.stop(timeout=5)

    [failed] = named(events, "alert.failed")
    assert failed["caused_by"] == f"RecipientsRefused: the relay refused {TO[1]}; the others got it"
    assert len(server.recorder.messages) == 1


def test_an_unreachable_relay_is_retried(alerter, events):
    """Connection refused is transient: three tries, then `alert.failed`."""
    with relay() as server:
        port = server.port
    alerts = alerter({"email": email(port)})
    alerts.stage_died("worker")
    alerts.stop(timeout=5)

    [failed] = named(events, "alert.failed")
    assert failed["attempts"] == 3
    assert failed["caused_by"].startswith("ConnectionRefusedError")


def test_a_hanging_webhook_does_not_delay_email(webhook, alerter, events):
    """Each channel has its own sender: the mail goes out while the webhook hangs."""
    hook = webhook(hang=True)
    with relay() as server:
        settings = {"webhook": {"url": hook.url, "timeout_seconds": 1}, "email": email(server.port)}
        alerts = alerter(settings, attempts=1)
        alerts.stage_died("worker")
        wait_until(lambda: server.recorder.messages, timeout=0.8)

    assert hook.requests
    assert not named(events, "alert.failed")
