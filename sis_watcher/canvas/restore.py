"""
The rollback's Canvas calls: `restore_states` and the Progress it answers (docs/canvas.md §A2).

Functions on a `CanvasClient`, which sends them and translates every failure; nothing here
retries (callers wrap calls with `retry.call_with_retries`). Canvas has no call that lists a
SIS import's Progress objects: the id in `restore_states`'s answer is the only way to one.
"""

from __future__ import annotations

from typing import Any

from sis_watcher.canvas.answers import as_dict, json_of
from sis_watcher.canvas.client import CanvasClient
from sis_watcher.core.errors import CanvasAuthProblem, CanvasProtocolError, RestoreRefused, UploadRejected


def restore_states(
    client: CanvasClient,
    import_id: int,
    *,
    batch_mode: bool = False,
    undelete_only: bool = False,
    unconclude_only: bool = False,
) -> dict[str, Any]:
    """
    Roll an import back (`PUT .../sis_imports/:id/restore_states`); return its Progress.

    Only the flags that are set are sent. Canvas's refusals raise `RestoreRefused` with its
    words: 400 "restore data unavailable" (older than 30 days, or nothing to restore), 400
    for both `undelete_only` and `unconclude_only`, 404 for an import it does not have
    (docs/canvas.md §A2). Like a create, an answer lost on the way may hide a restore that
    Canvas queued (`CanvasUnavailable.request_may_have_arrived`).
    """
    flags = {"batch_mode": batch_mode, "undelete_only": undelete_only, "unconclude_only": unconclude_only}
    params = {name: "true" for name, wanted in flags.items() if wanted}
    url = client.url(f"{client.account_path}/sis_imports/{import_id}/restore_states")
    try:
        response = client.request("PUT", url, params=params, creating=True)
    except UploadRejected as error:
        raise RestoreRefused(error.message, status_code=error.status_code) from None
    except CanvasAuthProblem as error:
        if error.status_code != 404:
            raise
        raise RestoreRefused(
            f"Canvas has no import {import_id} in this account ({error.message})", status_code=404
        ) from None
    return progress_of(json_of(response), what="restore's progress")


def get_progress(client: CanvasClient, progress_id: int) -> dict[str, Any]:
    """Return one Progress (`GET /api/v1/progress/:id`; `completion` is a float, §A2)."""
    return progress_of(client.get_json(f"api/v1/progress/{progress_id}"), what="progress")


def progress_of(value: Any, *, what: str) -> dict[str, Any]:
    """Return `value` as a Progress; raise `CanvasProtocolError` if it is no object with an id."""
    progress = as_dict(value, what=what)
    if not isinstance(progress.get("id"), int):
        raise CanvasProtocolError(f"Canvas's {what} has no id")
    return progress
