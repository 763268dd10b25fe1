"""
Faults on demand: which request misbehaves, and how.

A `Fault` matches requests (to the API host, or to the upload storage host) by method and
path regex, and fires either for the next `count` matching requests, or with probability
`rate` (seeded, so a run is repeatable), or both (at most `count` times, each with probability
`rate`). The first armed fault that fires wins.
"""

from __future__ import annotations

import itertools
import random
import re
import threading
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class FaultKind(StrEnum):
    """What a fired fault does to its request."""

    STATUS = "status"  # answer `status` (500 by default) with Canvas's generic error JSON
    THROTTLE_429 = "throttle_429"  # 429 Too Many Requests, plain text
    THROTTLE_403 = "throttle_403"  # docs/canvas.md §4.2: 403 text/plain "Rate Limit Exceeded"
    DROP = "drop"  # read the body, then close the connection without an answer, doing nothing
    DROP_AFTER_UPLOAD = "drop_after_upload"  # do the request (create the import), then hang up
    SLOW = "slow"  # do the request, wait `delay_seconds`, then answer
    STUCK_INITIALIZING = "stuck_initializing"  # the created import stays `initializing` for ever
    STUCK_IMPORTING = "stuck_importing"  # the created import stays `importing` for ever
    RESTORE_FAILS = "restore_fails"  # restore_states answers its Progress, then the job fails
    REVOKED_TOKEN = "revoked_token"  # noqa: S105 - a fault name, not a secret  # 401 "Revoked access token." with WWW-Authenticate
    PERMISSION_DENIED = "permission_denied"  # 401 or 403 (`status`) "user not authorized"
    STALL = "stall"  # read the body, wait `delay_seconds`, then hang up without doing the request
    UNUSABLE_FILE = "unusable_file"  # storage keeps the upload; Canvas cannot use it: "File upload failed"
    LATE_CAPTURE = "late_capture"  # storage keeps the upload, hangs up, tells Canvas `delay_seconds` later
    SLOW_BODY = "slow_body"  # storage waits `delay_seconds` before it reads the body, then does the request


@dataclass(frozen=True, slots=True, kw_only=True)
class Fault:
    """
    One injectable fault.

    `count=None` means unlimited (only sensible with `rate`). `status` is used by `STATUS` (default
    500) and `PERMISSION_DENIED` (default 401). `retry_after` adds a `Retry-After` header to
    `STATUS` and `THROTTLE_429`. `process_first` makes a `STATUS` fault do the request before
    answering with the error, like a gateway that timed out while Canvas went on (the import exists).
    """

    kind: FaultKind
    count: int | None = 1
    rate: float | None = None
    method: str | None = None
    path: str | None = None
    status: int | None = None
    retry_after: float | None = None
    delay_seconds: float = 0.0
    process_first: bool = False

    def matches(self, method: str, path: str) -> bool:
        """Return True if this fault applies to a request (before counting and chance)."""
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path is None or re.search(self.path, path) is not None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fault:
        """Build a fault from the control endpoint's JSON; raise ValueError on bad fields."""
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault fields: {sorted(unknown)}")
        values = dict(data)
        values["kind"] = FaultKind(str(values.get("kind")))
        return cls(**values)


@dataclass(slots=True)
class ArmedFault:
    fault_id: int
    fault: Fault
    remaining: int | None
    fired: int = 0


@dataclass(slots=True)
class FaultPlan:
    """The armed faults of one simulator; thread-safe."""

    seed: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    armed: list[ArmedFault] = field(default_factory=list)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)  # noqa: S311 - chaos, not cryptography

    def add(self, fault: Fault | None = None, /, **fields: Any) -> int:
        """
        Arm `fault` (or one built from keyword `fields`) and return its id.

        Example: `sim.faults.add(kind=FaultKind.STATUS, status=503, count=2, method="POST")`.
        """
        if fault is None:
            fault = Fault(**{**fields, "kind": FaultKind(fields["kind"])})
        with self.lock:
            fault_id = next(self.ids)
            self.armed.append(ArmedFault(fault_id, fault, fault.count))
            return fault_id

    def take(self, method: str, path: str) -> Fault | None:
        """Return the fault that fires for this request, consuming one of its count, or None."""
        with self.lock:
            for armed in self.armed:
                if armed.remaining == 0 or not armed.fault.matches(method, path):
                    continue
                if armed.fault.rate is not None and self.rng.random() >= armed.fault.rate:
                    continue
                if armed.remaining is not None:
                    armed.remaining -= 1
                armed.fired += 1
                return armed.fault
        return None

    def remove(self, fault_id: int) -> None:
        with self.lock:
            self.armed = [armed for armed in self.armed if armed.fault_id != fault_id]

    def clear(self) -> None:
        with self.lock:
            self.armed.clear()
            self.rng = random.Random(self.seed)  # noqa: S311 - chaos, not cryptography

    def fired(self, fault_id: int) -> int:
        """Return how many times the fault `fault_id` has fired."""
        with self.lock:
            return next((armed.fired for armed in self.armed if armed.fault_id == fault_id), 0)

    def snapshot(self) -> list[dict[str, Any]]:
        """Return the armed faults as JSON-ready data."""
        with self.lock:
            return [
                {
                    "id": armed.fault_id,
                    "remaining": armed.remaining,
                    "fired": armed.fired,
                    **asdict(armed.fault),
                }
                for armed in self.armed
            ]
