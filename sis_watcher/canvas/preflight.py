"""
Reading a `pre_attachment` create's preflight (docs/canvas.md §A1): where to send, what, until when.

The expiry is kept by the local clock: the upload's lifetime (an inst-fs JWT's `exp` or an S3
policy's `expiration`, minus the create answer's `Date`) counted from when that answer arrived,
so a machine whose clock is off neither sends an expired upload nor abandons a live one. A
preflight that cannot be used is `Unusable`, saying whether a direct POST is the way instead.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx

from sis_watcher.core.urls import is_loopback_host

# The shortest life Canvas gives an upload (the inst-fs JWT, LONG_JWT_EXPIRATION); used when the
# preflight itself does not say (an S3 policy says 30 minutes in its `expiration`).
DEFAULT_UPLOAD_LIFETIME = timedelta(minutes=10)
# `Date` is in whole seconds: Canvas's clock may be up to this much later than it says.
DATE_RESOLUTION = timedelta(seconds=1)


@dataclass(frozen=True, slots=True, kw_only=True)
class Preflight:
    """Where and how to send the file: Canvas's `pre_attachment` member, and when it expires."""

    upload_url: str
    upload_params: tuple[tuple[str, str], ...]
    file_param: str
    expires_at: datetime
    # False when a signed POST policy comes with it (S3, local storage): Canvas then learns of the
    # file only from the client's confirmation. Otherwise (inst-fs) storage tells Canvas itself.
    storage_tells_canvas: bool = True

    def __repr__(self) -> str:
        # The upload URL and parameters are a short-lived upload credential: never printed.
        return f"Preflight(file_param={self.file_param!r}, expires_at={self.expires_at.isoformat()})"


@dataclass(frozen=True, slots=True)
class Unusable:
    """
    A preflight we cannot or must not use; `go_direct` when a direct POST is the way instead.

    Plain http to a storage host is a refusal of ours (the batch fails, the reason says why);
    a malformed or unsupported preflight is this instance's way of not having the flow.
    """

    reason: str
    go_direct: bool


def form_value(value: Any) -> str:
    """Return an `upload_params` value as a form field sends it: strings as they are, others as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


def decoded_json(segment: str) -> Any:
    """Return the JSON in a base64 (or base64url) segment, or None when it is not that."""
    padded = segment + "=" * (-len(segment) % 4)
    try:
        return json.loads(base64.urlsafe_b64decode(padded.replace("+", "-").replace("/", "_")))
    except ValueError:
        return None


def expiry_of(upload_url: str, params: dict[str, str], *, created_at: datetime) -> datetime:
    """
    Return when the upload stops being accepted.

    inst-fs puts a JWT in the URL's `token` (its `exp`); an S3 POST policy says `expiration`.
    Otherwise the shortest life Canvas gives an upload, counted from `created_at`.
    """
    token = (parse_qs(urlsplit(upload_url).query).get("token") or [""])[0]
    claims = decoded_json(token.split(".")[1]) if token.count(".") == 2 else None
    if isinstance(claims, dict) and isinstance(claims.get("exp"), int | float):
        return datetime.fromtimestamp(claims["exp"], UTC)
    policy = params.get("Policy") or params.get("policy")
    document = decoded_json(policy) if policy else None
    if isinstance(document, dict) and isinstance(document.get("expiration"), str):
        try:
            moment = datetime.fromisoformat(document["expiration"])
        except ValueError:
            moment = None
        if moment is not None:
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return created_at + DEFAULT_UPLOAD_LIFETIME


def canvas_date(response: httpx.Response) -> datetime | None:
    """Return the moment in an answer's `Date` header (Canvas's clock), or None without a usable one."""
    try:
        moment = parsedate_to_datetime(response.headers.get("Date", ""))
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def read_preflight(
    value: Any, *, base_url: httpx.URL, received_at: datetime, answered_at: datetime | None
) -> Preflight | Unusable:
    """
    Read a create answer's `pre_attachment`, its expiry by the local clock; `Unusable` when it is not.

    `received_at` is the local moment the answer arrived, `answered_at` Canvas's `Date` (None:
    the local clock is trusted as Canvas's).
    """
    if not isinstance(value, dict) or not isinstance(value.get("upload_url"), str):
        return Unusable("Canvas's pre_attachment has no upload_url", go_direct=True)
    raw_params = value.get("upload_params")
    raw_params = {} if raw_params is None else raw_params
    if not isinstance(raw_params, dict):
        return Unusable("Canvas's pre_attachment upload_params is not an object", go_direct=True)
    params = {str(key): form_value(item) for key, item in raw_params.items()}
    try:
        upload_url = urljoin(str(base_url), value["upload_url"])
        target = httpx.URL(upload_url)
    except (ValueError, httpx.InvalidURL):
        return Unusable("Canvas's pre_attachment upload_url is not a URL", go_direct=True)
    if target.scheme not in ("http", "https") or not target.host:
        return Unusable("Canvas's pre_attachment upload_url is not a web address", go_direct=True)
    if target.scheme != "https" and not is_loopback_host(target.host):
        return Unusable(
            f"Canvas's file storage ({target.host}) takes uploads over plain http only; "
            "the zip is not sent unencrypted",
            go_direct=False,
        )
    file_param = value.get("file_param")
    base = answered_at or received_at
    lifetime = expiry_of(upload_url, params, created_at=base) - base
    if answered_at is not None:
        lifetime -= DATE_RESOLUTION
    return Preflight(
        upload_url=upload_url,
        upload_params=tuple(params.items()),
        file_param=file_param if isinstance(file_param, str) and file_param else "file",
        expires_at=received_at + lifetime,
        storage_tells_canvas=not any(key.lower() == "policy" for key in params),
    )
