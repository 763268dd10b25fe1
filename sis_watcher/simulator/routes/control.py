"""
The inspection and control endpoint, `/__simulator__/...` on the API host, without auth.

A test or a user can drive a simulator running in another process with it. It is never
recorded, never faulted, and never reveals the token.

    GET    /__simulator__/state       in-flight counts, token and permission mode, armed faults
    GET    /__simulator__/uploads     every created import's body record (sha256, params, members)
    GET    /__simulator__/requests    every API request (method, path, status, times, fault)
    GET    /__simulator__/downloads   every storage-host request, with `authorization_sent`
    GET    /__simulator__/storage_uploads   every pre_attachment upload to storage, with `authorization_sent`
    GET    /__simulator__/imports     every import as Canvas shows it
    GET    /__simulator__/faults      the armed faults
    POST   /__simulator__/faults      arm one fault (JSON fields of `Fault`) -> {"id": N}
    DELETE /__simulator__/faults      disarm all;  DELETE /__simulator__/faults/N  disarm one
    POST   /__simulator__/token/revoke | /token/restore | /token {"token": "..."}
    POST   /__simulator__/permission  {"denied_status": 401 | 403 | null}
    POST   /__simulator__/reset       forget imports, records, faults and SIS objects
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from sis_watcher.simulator.http.bodies import CHUNK, BadBody
from sis_watcher.simulator.http.server import Reply, Request, json_reply
from sis_watcher.simulator.model.faults import Fault, FaultPlan
from sis_watcher.simulator.model.records import (
    DownloadRecord,
    ReceivedUpload,
    RequestRecord,
    StorageUploadRecord,
    as_json,
)

PREFIX = "/__simulator__/"


class Controls(Protocol):
    """What the control endpoint reads and drives: `CanvasSimulator` (kept apart to avoid a cycle)."""

    faults: FaultPlan

    @property
    def uploads(self) -> list[ReceivedUpload]: ...
    @property
    def requests(self) -> list[RequestRecord]: ...
    @property
    def downloads(self) -> list[DownloadRecord]: ...
    @property
    def storage_uploads(self) -> list[StorageUploadRecord]: ...
    @property
    def imports(self) -> list[dict[str, Any]]: ...
    def state(self) -> dict[str, Any]: ...
    def set_token(self, token: str) -> None: ...
    def revoke_token(self) -> None: ...
    def restore_token(self) -> None: ...
    def deny_permission(self, *, status: int = 401) -> None: ...
    def allow_permission(self) -> None: ...
    def reset(self) -> None: ...


MAX_CONTROL_BODY = 64 * CHUNK


def read_json(request: Request) -> Any:
    """Return the JSON body (None when empty); raise ValueError when it is not JSON."""
    data = bytearray()
    for chunk in request.chunks():
        data.extend(chunk)
        if len(data) > MAX_CONTROL_BODY:
            raise ValueError("body too large")
    return json.loads(data) if data else None


def handle(simulator: Controls, request: Request) -> Reply:
    """Answer one control request."""
    try:
        return dispatch(simulator, request)
    except (ValueError, TypeError, KeyError, AttributeError, BadBody) as error:
        return json_reply(400, {"error": str(error)})


def dispatch(simulator: Controls, request: Request) -> Reply:  # noqa: PLR0911 - a router
    name = request.path.removeprefix(PREFIX).strip("/")
    method = request.method
    getters = {
        "state": simulator.state,
        "uploads": lambda: [as_json(record) for record in simulator.uploads],
        "requests": lambda: [as_json(record) for record in simulator.requests],
        "downloads": lambda: [as_json(record) for record in simulator.downloads],
        "storage_uploads": lambda: [as_json(record) for record in simulator.storage_uploads],
        "imports": lambda: simulator.imports,
        "faults": simulator.faults.snapshot,
    }
    if method == "GET" and name in getters:
        return json_reply(200, getters[name]())
    if method == "DELETE" and name == "faults":
        simulator.faults.clear()
        return json_reply(200, {"cleared": True})
    if method == "DELETE" and name.startswith("faults/"):
        simulator.faults.remove(int(name.removeprefix("faults/")))
        return json_reply(200, {"removed": True})
    if method != "POST":
        return json_reply(404, {"error": "unknown control endpoint"})
    body = read_json(request)
    actions = {
        "token/revoke": simulator.revoke_token,
        "token/restore": simulator.restore_token,
        "reset": simulator.reset,
    }
    if name in actions:
        actions[name]()
        return json_reply(200, {"ok": True})
    if name == "faults":
        return json_reply(200, {"id": simulator.faults.add(Fault.from_json(dict(body)))})
    if name == "token":
        simulator.set_token(str(body["token"]))
        return json_reply(200, {"ok": True})
    if name == "permission":
        status = body.get("denied_status")
        simulator.deny_permission(status=int(status)) if status is not None else simulator.allow_permission()
        return json_reply(200, {"ok": True})
    return json_reply(404, {"error": "unknown control endpoint"})
