"""
The webhook alert channel: one JSON POST per alert, on its own `httpx.Client`.

The body carries a `text` field (what Slack and Teams incoming webhooks display) plus the alert's
structured fields (`event`, `batch_id`, `reason`, `host`, ...) for anything that parses JSON.
This client never sees the Canvas token and shares nothing with the Canvas client. Chat webhook
URLs are bearer secrets (Slack's carries its key in the path), so the URL is registered with the
log redactor and never logged; errors name the status or the exception class, not the URL.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from sis_watcher import __version__
from sis_watcher.config.alerting import WebhookSettings
from sis_watcher.core.logs import register_secret

BODY_EXCERPT_CHARS = 200
TRANSIENT_STATUSES = frozenset({408, 429})


class WebhookUnavailable(Exception):
    """The webhook could not be reached or answered 408, 429 or 5xx: worth trying again."""


class WebhookRejected(Exception):
    """The webhook answered another 4xx (wrong URL, bad payload): trying again will not help."""


class WebhookChannel:
    """Posts alerts to `alerts.webhook.url`; `send` raises when the POST did not succeed."""

    name = "webhook"

    def __init__(self, settings: WebhookSettings, *, transport: httpx.BaseTransport | None = None) -> None:
        register_secret(settings.url)
        self.url = settings.url
        self.client = httpx.Client(
            timeout=settings.timeout_seconds,
            follow_redirects=False,
            headers={"User-Agent": f"sis-watcher/{__version__}"},
            transport=transport,
            trust_env=False,  # like the Canvas client: no proxy or .netrc picked up from the environment
        )

    def preflight(self) -> str | None:
        """Return None: a webhook can only be checked by posting to it."""
        return None

    def send(self, *, subject: str, text: str, fields: Mapping[str, Any]) -> None:
        """
        POST `{"text": text, **fields}` as JSON; return when the webhook answered 2xx.

        Raise `WebhookUnavailable` (retry) or `WebhookRejected` (do not) otherwise.
        """
        try:
            response = self.client.post(self.url, json={"text": text, **fields})
        except httpx.HTTPError as error:
            raise WebhookUnavailable(f"webhook request failed: {error.__class__.__name__}: {error}") from None
        if response.is_success:
            return
        excerpt = response.text[:BODY_EXCERPT_CHARS]
        detail = f"webhook answered {response.status_code}: {excerpt}"
        if response.status_code in TRANSIENT_STATUSES or response.status_code >= 500:
            raise WebhookUnavailable(detail)
        raise WebhookRejected(detail)

    def is_permanent(self, error: Exception) -> bool:
        """Return True when `error` means retrying this alert is pointless."""
        return isinstance(error, WebhookRejected)

    def close(self) -> None:
        self.client.close()
