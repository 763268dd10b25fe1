"""
The errors file's way out (docs/canvas.md §2.5).

`GET /files/:id/download` on the API host checks the verifier (no token needed) and redirects
to a second listener standing in for file storage, on another port, so a client that forwards
its Authorization header across hosts is caught: every storage request is recorded with
whether it carried credentials.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sis_watcher.simulator.http.server import Reply, Request, json_reply
from sis_watcher.simulator.model.imports import ImportQueue, ImportRow
from sis_watcher.simulator.model.records import DownloadRecord, Recorder

DOWNLOAD = re.compile(r"^/files/(?P<id>\d+)/download$")
STORED = re.compile(r"^/storage/(?P<id>\d+)/(?P<name>[^/]+)$")
UNAUTHENTICATED = {"status": "unauthenticated", "errors": [{"message": "user authorization required"}]}
NOT_FOUND = {"errors": [{"message": "The specified resource does not exist."}]}


@dataclass(frozen=True, slots=True, kw_only=True)
class Files:
    """Serves errors attachments: the redirecting download and the storage host behind it."""

    queue: ImportQueue
    recorder: Recorder
    storage_url: Callable[[], str]

    def find(self, attachment_id: int) -> ImportRow | None:
        """Return the import whose errors file has this id, once it is visible."""
        now = self.queue.monotonic()
        for row in self.queue.all():
            ready = row.errors_ready_mono is not None and now >= row.errors_ready_mono
            if row.errors_attachment_id == attachment_id and ready and row.errors_file is not None:
                return row
        return None

    def download(self, request: Request) -> Reply:
        """Answer `GET /files/:id/download?verifier=...` with a 302 to the storage host."""
        match = DOWNLOAD.match(request.path)
        row = self.find(int(match["id"])) if match and request.method in ("GET", "HEAD") else None
        if row is None or row.errors_file is None:
            return json_reply(404, NOT_FOUND)
        if request.param("verifier") != f"v{row.errors_attachment_id:08d}":
            return json_reply(401, UNAUTHENTICATED)
        location = f"{self.storage_url()}/storage/{row.errors_attachment_id}/{row.errors_file.name}"
        return Reply(status=302, body=b"", content_type="text/html", headers=(("Location", location),))

    def storage(self, request: Request) -> Reply:
        """The storage host's app: serve the file, recording whether credentials arrived."""
        self.recorder.enter()
        try:
            match = STORED.match(request.path)
            row = self.find(int(match["id"])) if match else None
            if (
                row is None
                or row.errors_file is None
                or match is None
                or match["name"] != row.errors_file.name
            ):
                reply = Reply(status=404, body=b"Not Found\n", content_type="text/plain")
            else:
                reply = Reply(status=200, file=row.errors_file, content_type="text/csv")
            self.recorder.add_download(
                DownloadRecord(
                    path=request.path,
                    status=reply.status,
                    authorization_sent=request.headers.get("Authorization") is not None,
                    at=datetime.now(UTC),
                )
            )
            return reply
        finally:
            self.recorder.leave()
