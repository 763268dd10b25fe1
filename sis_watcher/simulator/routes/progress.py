"""
`PUT .../sis_imports/:id/restore_states` and `GET /api/v1/progress/:id` (docs/canvas.md §A2).

The restore itself, its refusals and its Progress are `model.restore`'s; these only read the
request and shape the answer.
"""

from __future__ import annotations

from sis_watcher.simulator.http.server import Reply, Request, json_reply
from sis_watcher.simulator.model.restore import RestoreOptions, Restores, progress_json

PREFIX = "/api/v1/progress/"
NOT_FOUND = {"errors": [{"message": "The specified resource does not exist."}]}


def restore_states(
    request: Request, restores: Restores, import_id: int, *, api_url: str, fail: bool = False
) -> Reply:
    """Queue a restore of the import; answer its Progress, or Canvas's 400 or 404."""
    options = RestoreOptions.from_params(request.param)
    status, refusal, progress = restores.request(import_id, options, fail=fail)
    if progress is None:
        return json_reply(status, refusal or NOT_FOUND)
    return json_reply(200, progress_json(progress, api_url=api_url))


def show(request: Request, restores: Restores, *, api_url: str) -> Reply:
    """`GET /api/v1/progress/:id`: the Progress, or 404."""
    text = request.path.removesuffix(".json").removeprefix(PREFIX)
    progress = restores.get(int(text)) if text.isdigit() and request.method == "GET" else None
    if progress is None:
        return json_reply(404, NOT_FOUND)
    return json_reply(200, progress_json(progress, api_url=api_url))
