"""
The `pre_attachment` upload's way in (docs/canvas.md §A1), on both hosts.

    POST /uploads/inst-fs?token=<JWT>   storage host: inst-fs style, 201, Canvas told directly
    POST /uploads/s3                    storage host: S3 style, 303 to create_success
    GET|POST /api/v1/files/:id/create_success?uuid=...   API host, with the token (S3 style)

Storage checks what a signed upload must be: the signature, its expiry, every parameter exactly
as Canvas gave it (none added, dropped or edited), the file in `file` and last. Every storage
request is recorded (`StorageUploadRecord`), with whether it carried an Authorization header:
storage is not Canvas, and a client that sends it the token is caught. Faults apply here as on
the API host (`FaultPlan` matches storage paths too); `SLOW_BODY` is storage's own: the body
is left unread for a while, so a large one is still streaming (a client killed then cuts it short).
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from sis_watcher.simulator.http.bodies import BadBody, Capped, HashingFile, PartReader, StoredFile
from sis_watcher.simulator.http.server import Reply, Request, json_reply
from sis_watcher.simulator.model.faults import Fault, FaultKind, FaultPlan
from sis_watcher.simulator.model.imports import ImportQueue
from sis_watcher.simulator.model.records import Recorder, StorageUploadRecord
from sis_watcher.simulator.model.settings import SimulatorSettings
from sis_watcher.simulator.model.uploads import PendingUpload, UploadStore, attach
from sis_watcher.simulator.routes.faults import answer_fault, is_refusal

CONFIRM = re.compile(r"^/api/v1/files/(?P<id>\d+)/create_success$")
NOT_FOUND = {"errors": [{"message": "The specified resource does not exist."}]}
S3_DENIED = "<Error><Code>AccessDenied</Code><Message>{}</Message></Error>"


@dataclass(slots=True)
class Form:
    """A multipart upload: its text fields in order, its file, and any field sent after the file."""

    fields: list[tuple[str, str]] = field(default_factory=list)
    file_field: str | None = None
    file: StoredFile | None = None
    after_file: list[str] = field(default_factory=list)


def read_form(chunks: Iterator[bytes], *, boundary: str, path: Path) -> Form:
    """Read a multipart body, streaming its first file to `path`; raise BadBody when it is not multipart."""
    reader = PartReader(chunks, boundary.encode("latin-1"))
    form = Form()
    for headers in reader.parts():
        name = headers.get_param("name", header="content-disposition")
        file_name = headers.get_filename()
        if file_name is not None and form.file is None:
            with path.open("wb") as handle:
                sink = HashingFile(path, handle)
                reader.copy_part(sink.write)
            form.file = StoredFile(
                path=path, size=sink.size, sha256=sink.digest.hexdigest(), file_name=file_name
            )
            form.file_field = name if isinstance(name, str) else None
            continue
        collected = Capped()
        reader.copy_part(collected.write)
        text_name = name if isinstance(name, str) else ""
        if form.file is not None:
            form.after_file.append(text_name)
        else:
            form.fields.append((text_name, collected.data.decode("utf-8", errors="replace")))
    return form


@dataclass(frozen=True, slots=True, kw_only=True)
class Uploads:
    """The announced uploads of one simulator and the routes that receive and confirm them."""

    queue: ImportQueue
    recorder: Recorder
    settings: SimulatorSettings
    faults: FaultPlan
    stopping: threading.Event
    uploads_dir: Path
    api_url: Callable[[], str]
    storage_url: Callable[[], str]
    store: UploadStore = field(default_factory=UploadStore)
    body_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def announce(
        self, *, import_id: int, name: str, size: int | None, content_type: str, create_params: dict[str, str]
    ) -> dict[str, Any]:
        """Register the upload a pre_attachment create waits for; return its `pre_attachment` JSON."""
        style = self.settings.upload_style
        lifetime = (
            self.settings.upload_jwt_seconds if style == "inst_fs" else self.settings.upload_policy_seconds
        )
        _pending, preflight = self.store.announce(
            import_id=import_id,
            style=style,
            name=name,
            size=size,
            content_type=content_type,
            lifetime_seconds=lifetime,
            create_params=create_params,
            storage_url=self.announced_storage_url(),
            api_url=self.api_url(),
        )
        return preflight

    def announced_storage_url(self) -> str:
        """The storage host's URL as upload URLs name it (`upload_host` instead of loopback if set)."""
        url = urlsplit(self.storage_url())
        if self.settings.upload_host is None:
            return url.geturl()
        return url._replace(netloc=f"{self.settings.upload_host}:{url.port}").geturl()

    # -- the storage host ---------------------------------------------------------------------

    def storage(self, request: Request) -> Reply:
        """The storage host's upload endpoints, faults included."""
        self.recorder.enter()
        try:
            fault = self.faults.take(request.method, request.path)
            if fault is not None and fault.kind is FaultKind.SLOW_BODY:
                self.stopping.wait(fault.delay_seconds)  # a slow host: the client's body waits unread
                fault = None
            if fault is not None and is_refusal(fault):
                request.discard_body()
                self.record(request, None, status=None, stored=None, reason=f"fault {fault.kind.value}")
                if fault.kind is FaultKind.STALL:
                    self.stopping.wait(fault.delay_seconds)
                return answer_fault(fault)
            late = fault is not None and fault.kind is FaultKind.LATE_CAPTURE
            reply = self.receive(
                request,
                unusable=fault is not None and fault.kind is FaultKind.UNUSABLE_FILE,
                capture_after=fault.delay_seconds if fault is not None and late else None,
            )
            return self.after(request, fault, reply)
        finally:
            self.recorder.leave()

    def after(self, request: Request, fault: Fault | None, reply: Reply) -> Reply:
        """Apply a fault that acts once the request was done (slow, hang up, gateway error)."""
        if fault is None:
            return reply
        if fault.kind is FaultKind.SLOW:
            self.stopping.wait(fault.delay_seconds)
        if fault.kind is FaultKind.LATE_CAPTURE:
            request.discard_body()
            return Reply(hang_up=True)
        if fault.kind in (FaultKind.DROP_AFTER_UPLOAD, FaultKind.STATUS):
            request.discard_body()
            return answer_fault(fault)
        return reply

    def receive(self, request: Request, *, unusable: bool, capture_after: float | None = None) -> Reply:
        """
        Check and keep one upload; inst-fs attaches it, S3 redirects to the confirmation.

        inst-fs tells Canvas at once, or `capture_after` seconds later (a late `files/capture`).
        """
        style = {"/uploads/inst-fs": "inst_fs", "/uploads/s3": "s3"}.get(request.path)
        if style is None or request.method != "POST":
            return Reply(status=404, body=b"Not Found\n", content_type="text/plain")
        if request.headers.get_content_type() != "multipart/form-data":
            self.record(request, None, status=400, stored=None, reason="not multipart")
            return refusal(style, 400, "the upload must be multipart/form-data")
        path = self.uploads_dir / f"storage-{next(self.body_ids)}"
        try:
            form = read_form(
                request.chunks(), boundary=str(request.headers.get_param("boundary") or ""), path=path
            )
        except BadBody:
            path.unlink(missing_ok=True)
            self.record(request, None, status=400, stored=None, reason="bad multipart body")
            return refusal(style, 400, "bad multipart body")
        fields = dict(form.fields)
        if style == "inst_fs":
            pending = self.store.by_token(request.param("token") or "")
        else:
            pending = self.store.by_policy(fields)
        problem = problem_with(pending, form, fields)
        if problem is not None or pending is None:
            path.unlink(missing_ok=True)
            status, reason = problem or (403, "unknown upload")
            self.record(request, pending, status=status, stored=form.file, reason=reason)
            return refusal(style, status, reason)
        pending.stored_path, pending.stored_size = path, form.file.size if form.file else 0
        pending.stored_sha256 = form.file.sha256 if form.file else None
        pending.usable = not unusable and pending.stored_size > 0
        pending.state = "stored"
        if style == "inst_fs":
            if capture_after is None:  # inst-fs calls Canvas's files/capture itself
                attach(self.queue, self.recorder, pending)
            else:
                timer = threading.Timer(capture_after, attach, (self.queue, self.recorder, pending))
                timer.daemon = True
                timer.start()
            self.record(request, pending, status=201, stored=form.file, reason=None)
            location = f"{self.api_url()}/api/v1/files/{pending.upload_id}"
            return json_reply(201, {"id": pending.upload_id, "location": location}, (("Location", location),))
        self.record(request, pending, status=303, stored=form.file, reason=None)
        etag = quote(f'"{pending.stored_sha256 or ""}"'[:34])
        redirect = f"{pending.params['success_action_redirect']}&bucket=simulated-canvas"
        location = f"{redirect}&key={quote(pending.params['key'], safe='')}&etag={etag}"
        return Reply(status=303, body=b"", content_type="text/plain", headers=(("Location", location),))

    def record(
        self,
        request: Request,
        pending: PendingUpload | None,
        *,
        status: int | None,
        stored: StoredFile | None,
        reason: str | None,
    ) -> None:
        self.recorder.add_storage_upload(
            StorageUploadRecord(
                import_id=pending.import_id if pending else None,
                style=pending.style if pending else None,
                status=status,
                authorization_sent=request.headers.get("Authorization") is not None,
                stored=reason is None,
                sha256=stored.sha256 if stored else None,
                size=stored.size if stored else 0,
                reason=reason,
                at=datetime.now(UTC),
            )
        )

    # -- the API host -------------------------------------------------------------------------

    @staticmethod
    def is_confirmation(path: str) -> bool:
        return CONFIRM.match(path) is not None

    def confirm(self, request: Request) -> Reply:
        """`api_create_success`: attach a stored S3-style upload; a repeat is 400 with an empty body."""
        match = CONFIRM.match(request.path)
        pending = self.store.get(int(match["id"])) if match else None
        if pending is None or request.method not in ("GET", "POST") or request.param("uuid") != pending.uuid:
            return json_reply(404, NOT_FOUND)
        with self.store.lock:
            waiting = pending.state == "stored"
            if waiting:
                pending.state = "confirming"
        if not waiting:
            return Reply(status=400, body=b"", content_type="text/html")
        attach(self.queue, self.recorder, pending)
        return json_reply(
            200,
            {
                "id": pending.upload_id,
                "uuid": pending.uuid,
                "display_name": pending.name,
                "filename": pending.name,
                "content-type": pending.content_type,
                "size": pending.stored_size,
                "upload_status": "success" if pending.usable else "errored",
            },
        )


def problem_with(  # noqa: PLR0911 - one refusal per check
    pending: PendingUpload | None, form: Form, fields: dict[str, str]
) -> tuple[int, str] | None:
    """Return the status and reason storage refuses this upload for, or None when it is good."""
    if pending is None:
        return 403, "the upload's signature does not hold"
    refused = 401 if pending.style == "inst_fs" else 403
    if time.time() > pending.expires_at:
        return refused, "the upload has expired"
    if pending.state != "pending":
        return 400, "this upload was already received"
    if form.file is None or form.file_field != "file":
        return 400, "no file in the `file` field"
    if form.after_file:
        return 400, "the file must be the last field"
    if len(fields) != len(form.fields) or fields != pending.params:
        return refused, "the signed parameters were altered"
    return None


def refusal(style: str, status: int, reason: str) -> Reply:
    """Storage's refusal: JSON from inst-fs, S3's XML error otherwise."""
    if style == "inst_fs":
        return json_reply(status, {"message": reason})
    return Reply(status=status, body=S3_DENIED.format(reason).encode(), content_type="application/xml")
