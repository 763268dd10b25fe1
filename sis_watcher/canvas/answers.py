"""
What an HTTP answer from Canvas means, decided in one place.

Statuses and transport errors become the exception tree of `core.errors` here and nowhere else.

Canvas's error bodies vary in shape (a string, `{"errors": [...]}`, `{"message": ...}`); its
throttling is a 429 or a 403 saying "Rate Limit Exceeded" (docs/canvas.md §4.2).
httpx's own `map_httpcore_exceptions` is the model for `translated_errors`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from sis_watcher.core.errors import (
    CanvasAuthProblem,
    CanvasProtocolError,
    CanvasUnavailable,
    LookupRefused,
    UploadRejected,
)

MAX_RETRY_AFTER_SECONDS = 3600.0


THROTTLE_TEXT = "rate limit exceeded"


def retry_after_seconds(response: httpx.Response) -> float | None:
    """Return the response's Retry-After in seconds (delta or HTTP date), if any."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        moment = http_date(value)
        base = http_date(response.headers.get("Date")) or datetime.now(UTC)
        if moment is None:
            return None
        seconds = (moment - base).total_seconds()
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


def http_date(value: str | None) -> datetime | None:
    """Parse an HTTP date into an aware datetime (naive ones are UTC); None if absent or odd."""
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def messages_in(errors: Any) -> list[str]:
    """Return the texts of an `errors` value: plain strings, `{"message"}` objects, or a mapping."""
    if isinstance(errors, dict):
        return [f"{key}: {value}" for key, value in errors.items()]
    if not isinstance(errors, list):
        return []
    texts = [item for item in errors if isinstance(item, str)]
    texts += [
        item["message"] for item in errors if isinstance(item, dict) and isinstance(item.get("message"), str)
    ]
    return texts


def canvas_message(response: httpx.Response, *, secret: str | None = None) -> str:
    """
    Return Canvas's own words from an error body (its shapes vary), or the status line.

    A `secret` echoed in the body (by a proxy reflecting headers, say) is replaced.
    """
    text = response.text.strip()
    if secret:
        text = text.replace(secret, "[redacted]")
    try:
        body = json.loads(text)
    except ValueError:
        return text[:300] if text else f"HTTP {response.status_code}"
    if isinstance(body, str):
        return body
    messages: list[str] = []
    if isinstance(body, dict):
        messages = messages_in(body.get("errors"))
        messages += [
            body[key] for key in ("message", "error_message", "error") if isinstance(body.get(key), str)
        ]
    return "; ".join(messages) if messages else text[:300]


def is_throttled(response: httpx.Response) -> bool:
    """Return True for Canvas's throttling: 429, or 403 saying "Rate Limit Exceeded" (§4.2)."""
    if response.status_code == 429:
        return True
    if response.status_code != 403:
        return False
    remaining = response.headers.get("X-Rate-Limit-Remaining")
    try:
        drained = remaining is not None and float(remaining) <= 0
    except ValueError:
        drained = False
    return drained or THROTTLE_TEXT in response.text.lower()


def raise_for_status(response: httpx.Response, *, creating: bool = False, secret: str | None = None) -> None:
    """Raise the error this response means, if it is not a success."""
    status = response.status_code
    if status < 300:
        return
    message = f"HTTP {status}: {canvas_message(response, secret=secret)}"
    if status < 400:
        location = response.headers.get("Location", "")
        raise CanvasAuthProblem(
            f"Canvas redirected the request (HTTP {status} to {location or 'nowhere'}): check base_url",
            status_code=status,
        )
    if is_throttled(response):
        raise CanvasUnavailable(
            f"throttled by Canvas ({message})",
            status_code=status,
            retry_after_seconds=retry_after_seconds(response),
            request_may_have_arrived=False,
        )
    if status >= 500:
        raise CanvasUnavailable(
            message,
            status_code=status,
            retry_after_seconds=retry_after_seconds(response),
            request_may_have_arrived=creating,
        )
    if status == 401:
        reason = "rejected the token" if "www-authenticate" in response.headers else "denied permission"
        raise CanvasAuthProblem(f"Canvas {reason} ({message})", status_code=status)
    if status in (403, 404):
        raise CanvasAuthProblem(f"Canvas refused access to the account ({message})", status_code=status)
    if status in (408, 409, 425):
        raise CanvasUnavailable(message, status_code=status, request_may_have_arrived=creating)
    if creating:
        raise UploadRejected(message, status_code=status)
    raise LookupRefused(message, status_code=status)


@contextmanager
def translated_errors(*, creating: bool = False) -> Iterator[None]:
    """Turn httpx transport errors into `CanvasUnavailable` (the one translation boundary)."""
    try:
        yield
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
        raise CanvasUnavailable(
            f"cannot reach Canvas ({error.__class__.__name__})", request_may_have_arrived=False
        ) from None
    except httpx.RequestError as error:
        raise CanvasUnavailable(
            f"connection to Canvas failed ({error.__class__.__name__})", request_may_have_arrived=creating
        ) from None


def json_of(response: httpx.Response) -> Any:
    """Return the JSON body of a 2xx response; raise `CanvasProtocolError` if it is not JSON."""
    try:
        return response.json()
    except ValueError:
        raise CanvasProtocolError(
            f"Canvas answered HTTP {response.status_code} with a body that is not JSON",
            status_code=response.status_code,
        ) from None


def as_dict(value: Any, *, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise CanvasProtocolError(f"Canvas's {what} is not a JSON object")
    return value
