"""
`POST /api/v1/accounts/:id/sis_imports`: how the upload arrives and what is created (§1.1).

The body is streamed to disk before any check that needs its form fields.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

from sis_watcher.simulator.http.bodies import BadBody, StoredFile, drain, parse_multipart, store
from sis_watcher.simulator.http.server import Reply, Request, json_reply
from sis_watcher.simulator.model.imports import ImportQueue, ImportRow
from sis_watcher.simulator.model.params import CreateOptions, Refusal, read_options, value_to_boolean
from sis_watcher.simulator.model.records import ReceivedUpload, Recorder
from sis_watcher.simulator.model.store import SisStore

EXTENSION_BY_TYPE = {"application/zip": "zip", "text/xml": "xml", "text/plain": "csv", "text/csv": "csv"}
MISSING_ATTACHMENT = {"error": True, "error_message": "Missing attachment"}
NOT_UTF8 = {"error": "Invalid content type, UTF-8 required"}
INTERNAL_ERROR = {"errors": [{"message": "An error occurred.", "error_code": "500"}], "error_report_id": 1}


@dataclass(frozen=True, slots=True, kw_only=True)
class Upload:
    """A received upload: the stored file, the name Canvas gives it, and every parameter."""

    stored: StoredFile
    file_name: str
    params: dict[str, str]
    content_type: str | None


@dataclass(slots=True)
class Creator:
    """Receives uploads into `uploads_dir` and creates imports in `queue`."""

    queue: ImportQueue
    store: SisStore
    recorder: Recorder
    uploads_dir: Path
    body_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def receive(self, request: Request) -> Upload | Reply:
        """Stream the body to disk and name it, or return the 400 Canvas gives (docs/canvas.md §1.1)."""
        params = {name: values[0] for name, values in request.query.items() if values}
        content_type = request.headers.get("Content-Type")
        path = self.uploads_dir / f"body-{next(self.body_ids)}"
        try:
            if request.headers.get_content_type() == "multipart/form-data" and content_type:
                boundary = str(request.headers.get_param("boundary") or "")
                form = parse_multipart(request.chunks(), boundary=boundary, attachment_path=path)
                params = {**form.fields, **params}
                if form.attachment is None:
                    return json_reply(400, MISSING_ATTACHMENT)
                name = form.attachment.file_name or "sis_import"
                base = name.replace("\\", "/").rsplit("/", 1)[-1]
                return Upload(
                    stored=form.attachment, file_name=base, params=params, content_type=content_type
                )
            extension = params.get("extension")
            if not extension:
                charset = request.headers.get_content_charset() if content_type else None
                if charset is not None and charset.lower() not in ("utf-8", "utf8"):
                    drain(request.chunks())
                    return json_reply(400, NOT_UTF8)
                media = request.headers.get_content_type() if content_type else ""
                extension = EXTENSION_BY_TYPE.get(media, "zip")
            stored = store(request.chunks(), path)
            return Upload(
                stored=stored, file_name=f"sis_import.{extension}", params=params, content_type=content_type
            )
        except BadBody:
            path.unlink(missing_ok=True)
            return Reply(status=400, body=b"bad request body\n", content_type="text/plain")

    def create(self, request: Request, *, stuck: str | None) -> tuple[Reply | None, ImportRow | None]:
        """
        Receive and create; return (refusal, None) or (None, the new import).

        `stuck` ("initializing" or "importing") comes from a fault: the import never finishes.
        """
        upload = self.receive(request)
        if isinstance(upload, Reply):
            return upload, None
        if upload.params.get("import_type", "instructure_csv") != "instructure_csv":
            upload.stored.path.unlink(missing_ok=True)
            return json_reply(500, INTERNAL_ERROR), None  # docs/canvas.md §1.1: a RuntimeError
        options = read_options(upload.params, resolve_term=self.store.term_canvas_id)
        if isinstance(options, Refusal):
            if not options.keep_initializing:
                upload.stored.path.unlink(missing_ok=True)
                return json_reply(options.status, options.body), None
            # docs/canvas.md §1.1: the multi_term_batch_mode trap leaves the row in `initializing`
            row = self.queue.create(
                options=CreateOptions(
                    batch_mode=True,
                    multi_term_batch_mode=value_to_boolean(upload.params.get("multi_term_batch_mode")),
                    skip_deletes=value_to_boolean(upload.params.get("skip_deletes")),
                ),
                body=upload.stored.path,
                file_name=upload.file_name,
                state="initializing",
            )
            self.record(row, upload)
            return json_reply(options.status, options.body), row
        state = "initializing" if stuck == "initializing" else "created"
        row = self.queue.create(
            options=options, body=upload.stored.path, file_name=upload.file_name, state=state, stuck=stuck
        )
        self.record(row, upload)
        return None, row

    def record(self, row: ImportRow, upload: Upload) -> None:
        self.recorder.add_upload(
            ReceivedUpload(
                import_id=row.id,
                received_at=row.created_at,
                sha256=upload.stored.sha256,
                size=upload.stored.size,
                params=dict(upload.params),
                content_type=upload.content_type,
                file_name=upload.file_name,
            )
        )
