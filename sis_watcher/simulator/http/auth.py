"""
Who may call: Bearer tokens, revocation, permission denial, rate-limit headers (docs/canvas.md §4).

The token is compared in constant time and never logged or echoed.
"""

from __future__ import annotations

import hmac
import threading
import time
from dataclasses import dataclass, field
from typing import Any

WWW_AUTHENTICATE = ("WWW-Authenticate", 'Bearer realm="canvas-lms"')
INVALID_TOKEN = {"errors": [{"message": "Invalid access token."}]}
REVOKED_TOKEN = {"errors": [{"message": "Revoked access token."}]}
UNAUTHENTICATED = {"status": "unauthenticated", "errors": [{"message": "user authorization required"}]}
UNAUTHORIZED = {
    "status": "unauthorized",
    "errors": [{"message": "user not authorized to perform that action"}],
}
THROTTLED_BODY = b"403 Forbidden (Rate Limit Exceeded)\n"
UP_FRONT_COST = 50.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Denial:
    """An authentication or permission failure: status, JSON body, and whether it is a bad token."""

    status: int
    body: dict[str, Any]
    bad_token: bool


@dataclass(slots=True)
class Gate:
    """The accepted token, its revocation, the permission mode and the leaky bucket."""

    token: str
    lock: threading.Lock = field(default_factory=threading.Lock)
    revoked: bool = False
    denied_status: int | None = None
    high_water: float = 600.0
    outflow: float = 10.0
    level: float = 0.0
    last_leak: float = field(default_factory=time.monotonic)

    def __repr__(self) -> str:
        return f"Gate(revoked={self.revoked}, denied_status={self.denied_status})"

    def check(self, authorization: str | None) -> Denial | None:
        """Return why a request with this Authorization header is refused, or None if it may pass."""
        scheme, _, presented = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            return Denial(status=401, body=UNAUTHENTICATED, bad_token=True)
        with self.lock:
            token, revoked, denied = self.token, self.revoked, self.denied_status
        if not hmac.compare_digest(presented.strip().encode(), token.encode()):
            return Denial(status=401, body=INVALID_TOKEN, bad_token=True)
        if revoked:
            return Denial(status=401, body=REVOKED_TOKEN, bad_token=True)
        if denied is not None:
            return Denial(status=denied, body=UNAUTHORIZED, bad_token=False)
        return None

    def set_token(self, token: str) -> None:
        """Accept only `token` from now on (the old one becomes invalid)."""
        with self.lock:
            self.token = token
            self.revoked = False

    def set_revoked(self, revoked: bool) -> None:
        with self.lock:
            self.revoked = revoked

    def set_denied(self, status: int | None) -> None:
        """Refuse authenticated requests with 401 or 403 (None: allow again)."""
        with self.lock:
            self.denied_status = status

    def charge_up_front(self) -> None:
        """Charge the up-front cost of a request in flight (docs/canvas.md §4.2, `LeakyBucket`)."""
        with self.lock:
            self.leak()
            self.level += UP_FRONT_COST

    def settle(self, cost: float) -> tuple[tuple[str, str], ...]:
        """Refund the up-front charge, add the real `cost`; return the rate-limit headers."""
        with self.lock:
            self.leak()
            self.level = max(0.0, self.level - UP_FRONT_COST + cost)
            remaining = self.high_water - self.level
        return (("X-Request-Cost", f"{cost:.6f}"), ("X-Rate-Limit-Remaining", f"{remaining:.6f}"))

    def leak(self) -> None:
        now = time.monotonic()
        self.level = max(0.0, self.level - (now - self.last_leak) * self.outflow)
        self.last_leak = now
