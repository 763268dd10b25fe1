"""The answers a fired fault gives instead of (or after) the real one (docs/canvas.md §4.1, §4.2)."""

from __future__ import annotations

from http import HTTPStatus

from sis_watcher.simulator.http.auth import REVOKED_TOKEN, THROTTLED_BODY, UNAUTHORIZED
from sis_watcher.simulator.http.server import Reply, json_reply
from sis_watcher.simulator.model.faults import Fault, FaultKind

REFUSALS = frozenset(
    {
        FaultKind.THROTTLE_429,
        FaultKind.THROTTLE_403,
        FaultKind.DROP,
        FaultKind.REVOKED_TOKEN,
        FaultKind.PERMISSION_DENIED,
        FaultKind.STALL,
    }
)


def is_refusal(fault: Fault) -> bool:
    """Return True when the fault answers instead of doing the request."""
    return fault.kind in REFUSALS or (fault.kind is FaultKind.STATUS and not fault.process_first)


def retry_after(fault: Fault) -> tuple[tuple[str, str], ...]:
    return (("Retry-After", f"{fault.retry_after:g}"),) if fault.retry_after is not None else ()


def answer_fault(fault: Fault) -> Reply:  # noqa: PLR0911 - one answer per kind
    """Return the reply for a fired fault (DROP kinds hang up without an answer)."""
    kind = fault.kind
    if kind in (FaultKind.DROP, FaultKind.DROP_AFTER_UPLOAD, FaultKind.STALL):
        return Reply(hang_up=True)
    if kind is FaultKind.THROTTLE_403:
        # docs/canvas.md §4.2: plain text, no Retry-After, no X-Request-Cost
        headers: tuple[tuple[str, str], ...] = (("X-Rate-Limit-Remaining", "0.0"),)
        return Reply(
            status=403, body=THROTTLED_BODY, content_type="text/plain; charset=utf-8", headers=headers
        )
    if kind is FaultKind.THROTTLE_429:
        headers = (("X-Rate-Limit-Remaining", "0.0"), *retry_after(fault))
        body = b"429 Forbidden (Rate Limit Exceeded)\n"  # docs/canvas.md §4.2: the current docs' wording
        return Reply(status=429, body=body, content_type="text/plain; charset=utf-8", headers=headers)
    if kind is FaultKind.REVOKED_TOKEN:
        return json_reply(401, REVOKED_TOKEN, (("WWW-Authenticate", 'Bearer realm="canvas-lms"'),))
    if kind is FaultKind.PERMISSION_DENIED:
        return json_reply(fault.status or 401, UNAUTHORIZED)
    status = fault.status or 500
    if status == 500:
        error = {"errors": [{"message": "An error occurred.", "error_code": "internal_server_error"}]}
        return json_reply(500, error, retry_after(fault))
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    html = (
        f"<html><head><title>{status} {phrase}</title></head><body><h1>{status} {phrase}</h1></body></html>\n"
    )
    return Reply(status=status, body=html.encode(), content_type="text/html", headers=retry_after(fault))
