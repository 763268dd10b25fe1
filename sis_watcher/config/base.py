"""What every config section shares: the strict frozen base model, duration types, the https rule."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import SplitResult, urlsplit

from pydantic import BaseModel, ConfigDict, Field

from sis_watcher.core.urls import is_loopback_host

Seconds = Annotated[float, Field(ge=0)]


PositiveSeconds = Annotated[float, Field(gt=0)]


class Section(BaseModel):
    """A config section: frozen, and strict about keys it does not know."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=False)


def checked_https_url(value: str, *, example: str) -> SplitResult:
    """Return `value` split, or raise ValueError unless it is https:// (or http:// to loopback)."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        msg = f"must be an absolute URL such as {example}"
        raise ValueError(msg)
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        msg = "must use https:// (http:// is allowed only for a loopback host)"
        raise ValueError(msg)
    return parts
