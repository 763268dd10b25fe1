"""
`POST /api/v1/accounts/:id/sis_imports`: how the upload arrives and what is created (§1.1).

The body is streamed to disk before any check that needs its form fields. A create with the
`pre_attachment` key (in the query, `pre_attachment[name]=...`, or a JSON body) sends no file:
it makes an `initializing` import and answers the upload's preflight as `pre_attachment`
(docs/canvas.md §A1; the file arrives through `routes/uploads.py`). A simulator set up without
`pre_attachment_supported` is an older Canvas: it ignores the key and takes the (empty) body as
the file.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sis_watcher.simulator.http.bodies import BadBody, StoredFile, drain, parse_multipart, store
from sis_watcher.simulator.http.server import Reply, Request, json_reply
from sis_watcher.simulator.model.imports import ImportQueue, ImportRow
from sis_watcher.simulator.model.params import CreateOptions, Refusal, read_options, value_to_boolean
from sis_watcher.simulator.model.records import ReceivedUpload, Recorder
from sis_watcher.simulator.model.shapes import Context, import_json
from sis_watcher.simulator.model.store import SisStore
from sis_watcher.simulator.routes.uploads import Uploads

EXTENSION_BY_TYPE = {"application/zip": "zip", "text/xml": "xml", "text/plain": "csv", "text/csv": "csv"}
MISSING_ATTACHMENT = {"error": True, "error_message": "Missing attachment"}
NOT_UTF8 = {"error": "Invalid content type, UTF-8 required"}
INTERNAL_ERROR = {"errors": [{"message": "An error occurred.", "error_code": "500"}], "error_report_id": 1}
BOTH_ATTACHMENTS = {"error": True, "error_message": "Cannot specify both attachment and pre_attachment"}
BAD_ON_DUPLICATE = {"message": "invalid on_duplicate option"}
PRE_PREFIX = "pre_attachment["
MAX_JSON_BODY = 16 << 20
UNKNOWN_TYPE = "unknown/unknown"


def form_text(value: Any) -> str:
    """A JSON parameter as Rails would see it in `params` (booleans and numbers as text)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


def read_json_body(request: Request) -> tuple[bytes, dict[str, Any] | None]:
    """Return a JSON body's bytes (capped) and its object, None when it is not a JSON object."""
    data = bytearray()
    try:
        for chunk in request.chunks():
            data.extend(chunk[: MAX_JSON_BODY - len(data)])
        value = json.loads(data) if data else None
    except (BadBody, ValueError):
        return bytes(data), None
    return bytes(data), value if isinstance(value, dict) else None


def pre_attachment_of(request: Request, params: dict[str, str]) -> dict[str, str] | None:
    """Return the create's `pre_attachment` sub-keys from the query, or None when the key is absent."""
    found = {
        name[len(PRE_PREFIX) : -1]: value for name, value in params.items() if name.startswith(PRE_PREFIX)
    }
    return found if found or "pre_attachment" in request.query else None


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
    uploads: Uploads | None = None

    def receive(self, request: Request, *, prefetched: bytes | None = None) -> Upload | Reply:
        """
        Stream the body to disk and name it, or return the 400 Canvas gives (docs/canvas.md §1.1).

        `prefetched` is a raw body already read (a JSON body looked at for `pre_attachment`).
        """
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
            stored = store(iter((prefetched,)) if prefetched is not None else request.chunks(), path)
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
        prefetched = None
        if self.uploads is not None and self.uploads.settings.pre_attachment_supported:
            answered = self.create_pre_attachment(request, stuck=stuck)
            if not isinstance(answered, bytes | None):
                return answered
            prefetched = answered
        upload = self.receive(request, prefetched=prefetched)
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

    def create_pre_attachment(
        self, request: Request, *, stuck: str | None
    ) -> tuple[Reply | None, ImportRow | None] | bytes | None:
        """
        Answer a create that has the `pre_attachment` key, or tell the caller it has not.

        The import is saved `initializing` and answered with the preflight (docs/canvas.md §A1).
        For an ordinary create the result is the body if it had to be read (a JSON body), else None.
        """
        assert self.uploads is not None  # noqa: S101 - checked by the caller
        params = {name: values[0] for name, values in request.query.items() if values}
        pre = pre_attachment_of(request, params)
        raw = None
        if pre is None and request.headers.get_content_type() == "application/json":
            raw, read = read_json_body(request)
            body = read or {}
            params = {
                **{key: form_text(value) for key, value in body.items() if key != "pre_attachment"},
                **params,
            }
            value = body.get("pre_attachment")
            pre = {key: form_text(item) for key, item in value.items()} if isinstance(value, dict) else None
            if pre is None and "pre_attachment" in body:
                pre = {}
        if pre is None:
            return raw
        if request.headers.get_content_type() == "multipart/form-data":
            upload = self.receive(request)
            if isinstance(upload, Upload):  # a form without a file is no `attachment`
                upload.stored.path.unlink(missing_ok=True)
                return json_reply(400, BOTH_ATTACHMENTS), None
        request.discard_body()
        params = {name: value for name, value in params.items() if not name.startswith(PRE_PREFIX)}
        options = read_options(params, resolve_term=self.store.term_canvas_id)
        if isinstance(options, Refusal) and not options.keep_initializing:
            return json_reply(options.status, options.body), None
        name = pre.get("name") or pre.get("filename") or "sis_import.zip"
        row = self.queue.create(
            options=options if not isinstance(options, Refusal) else CreateOptions(batch_mode=True),
            body=self.uploads_dir / f"pending-{next(self.body_ids)}",
            file_name=name,
            state="initializing",
            stuck=stuck,
        )
        if isinstance(options, Refusal):  # docs/canvas.md §A1: the orphan-row trap
            return json_reply(options.status, options.body), row
        if pre.get("on_duplicate") not in (None, "rename", "overwrite", "error"):
            return json_reply(400, BAD_ON_DUPLICATE), row  # the row is saved before the preflight
        size = pre.get("size")
        preflight = self.uploads.announce(
            import_id=row.id,
            name=name,
            size=int(size) if size and size.isdigit() else None,
            content_type=pre.get("content_type") or UNKNOWN_TYPE,
            create_params=params,
        )
        context = Context(
            api_url=self.uploads.api_url(), settings=self.uploads.settings, now=self.queue.monotonic()
        )
        return json_reply(200, {**import_json(row, context), "pre_attachment": preflight}), row
