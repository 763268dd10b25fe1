"""Fixtures for the alert tests: loopback servers, captured events, manifests, alerters."""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Any

import pytest
import structlog
from structlog.testing import LogCapture

from sis_watcher.batch.manifest import (
    BatchState,
    CanvasRecord,
    Manifest,
    Outcome,
    ProblemEntry,
    UploadRecord,
    ValidationRecord,
)
from sis_watcher.config.alerting import AlertSettings
from sis_watcher.ops.alerts.dispatch import Alerter

from loopback_servers import Webhook, self_signed

BATCH_ID = "20261127T020000Z-3f9a1c"


@pytest.fixture(autouse=True)
def quiet_aiosmtpd() -> Iterator[None]:
    """aiosmtpd logs a deprecation notice at each login; keep it out of the test output."""
    logger = logging.getLogger("mail.log")
    level = logger.level
    logger.setLevel(logging.ERROR)
    yield
    logger.setLevel(level)


@pytest.fixture
def events() -> list[MutableMapping[str, Any]]:
    """Every structlog event from any thread during the test, as dicts."""
    capture = LogCapture()
    structlog.configure(processors=[capture])
    return capture.entries


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ssl.SSLContext]:
    """A self-signed certificate for 127.0.0.1 and a server context using it."""
    return self_signed(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def webhook() -> Iterator[Callable[..., Webhook]]:
    """Start loopback webhooks (`statuses=[...]`, `hang=True`); all are closed at the end."""
    started: list[Webhook] = []

    def start(**options: Any) -> Webhook:
        hook = Webhook(**options)
        started.append(hook)
        return hook

    yield start
    for hook in started:
        hook.close()


@pytest.fixture
def alerter() -> Iterator[Callable[..., Alerter]]:
    """Build and start an `Alerter` from a settings dict; it is stopped and joined at the end."""
    built: list[Alerter] = []

    def build(settings: dict[str, Any], *, start: bool = True, **options: Any) -> Alerter:
        options = {"host": "host1", "backoff_seconds": 0.01, "environ": {}, **options}
        instance = Alerter(AlertSettings.model_validate(settings), **options)
        built.append(instance)
        if start:
            instance.start()
        return instance

    yield build
    for instance in built:
        instance.stop(timeout=5)
        for courier in instance.couriers:
            if courier.thread.ident is not None:
                courier.thread.join(10)


def failed_manifest(**changes: Any) -> Manifest:
    """A batch Canvas failed, with messages by file and a validation warning."""
    manifest = Manifest(
        batch_id=BATCH_ID,
        state=BatchState.FAILED,
        sealed_at="2026-11-27T02:00:00.000000Z",
        upload=UploadRecord(finished_at="2026-11-27T02:01:00.000000Z"),
        canvas=CanvasRecord(
            import_id=4242,
            workflow_state="failed_with_messages",
            error_count=2,
            processing_errors=[["users.csv", "Invalid login_id"], [None, "Too many deletions"]],
            messages_by_file={"users.csv": ["Invalid login_id"], "(whole import)": ["Too many deletions"]},
        ),
        validation=ValidationRecord(
            mode="warn",
            warnings=1,
            problems=[
                ProblemEntry(
                    severity="warning", file="users.csv", row=3, column="email", message="odd email"
                ),
                ProblemEntry(severity="error", file="courses.csv", message="no header"),
            ],
        ),
        outcome=Outcome(result="failed", reason="Canvas import 4242 ended failed_with_messages"),
    )
    return manifest.model_copy(update=changes)


def done_manifest(*, workflow_state: str = "imported_with_messages") -> Manifest:
    """A batch filed under done/, by default with Canvas warnings."""
    return Manifest(
        batch_id=BATCH_ID,
        state=BatchState.DONE,
        sealed_at="2026-11-27T02:00:00.000000Z",
        canvas=CanvasRecord(
            import_id=77,
            workflow_state=workflow_state,
            warning_count=1,
            processing_warnings=[["enrollments.csv", "Unknown role"]],
        ),
        outcome=Outcome(result="done", reason="Canvas import 77 imported with 1 warning(s)"),
    )
