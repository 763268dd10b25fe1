"""The `alerts:` section: the webhook and email channels, and when the daemon alerts (README "Alerts")."""

from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from sis_watcher.config.base import PositiveSeconds, Section, checked_https_url
from sis_watcher.core.urls import is_loopback_host


class WebhookSettings(Section):
    url: str
    timeout_seconds: PositiveSeconds = 10.0

    @field_validator("url")
    @classmethod
    def https_unless_loopback(cls, value: str) -> str:
        """Alerts carry batch details: https only, http only to this machine."""
        checked_https_url(value, example="https://hooks.slack.com/services/...")
        return value


class EmailSettings(Section):
    host: str
    port: Annotated[int, Field(ge=1, le=65535)] = 587
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password_file: Path | None = None
    sender: str = Field(alias="from")
    to: tuple[str, ...] = Field(min_length=1)
    timeout_seconds: PositiveSeconds = 30.0
    ca_file: Path | None = None  # PEM bundle to trust instead of the system's (a private relay's CA)

    @model_validator(mode="after")
    def no_clear_text_password(self) -> EmailSettings:
        """A login over `security: none` would send the password in clear text off this machine."""
        if self.security == "none" and self.username is not None and not is_loopback_host(self.host):
            msg = (
                "security: none with a username would send the SMTP password in clear text; "
                "use starttls or tls (none with a login is allowed only for a loopback host)"
            )
            raise ValueError(msg)
        return self


class AlertSettings(Section):
    webhook: WebhookSettings | None = None
    email: EmailSettings | None = None
    on_warnings: bool = False
    retries_stuck_after_seconds: PositiveSeconds = 1800.0
    paused_too_long_hours: Annotated[float, Field(gt=0)] = 72.0
    expect_export_every_hours: Annotated[float, Field(gt=0)] | None = None
    digest_at: time | None = None  # a local time of day, "07:00"
    digest_zone: str | None = None  # an IANA zone for digest_at, "America/New_York" (DST included)

    @field_validator("digest_zone")
    @classmethod
    def known_zone(cls, zone: str | None) -> str | None:
        """An IANA zone name this machine's time zone database knows."""
        if zone is None:
            return None
        try:
            ZoneInfo(zone)
        except (ValueError, OSError, ZoneInfoNotFoundError) as error:
            msg = f"unknown time zone {zone!r}; use an IANA name such as America/New_York"
            raise ValueError(msg) from error
        return zone

    @model_validator(mode="after")
    def one_zone_for_the_digest(self) -> AlertSettings:
        if self.digest_zone is not None and self.digest_at is not None and self.digest_at.tzinfo is not None:
            msg = "digest_at has its own offset and digest_zone names a zone: give only one"
            raise ValueError(msg)
        return self
