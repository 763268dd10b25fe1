"""
The uploads a `pre_attachment` create waits for (docs/canvas.md §A1), in either storage style.

- `inst_fs` (Instructure-hosted): the upload URL carries a JWT (HS256, `exp`, 10 minutes by
  default); storage answers 201 and calls Canvas itself, so the import gets the file at once.
- `s3` (self-hosted S3 or local storage): the parameters are a signed POST policy (base64 JSON
  with `expiration`, 30 minutes by default); storage answers 303 to Canvas's
  `/api/v1/files/:id/create_success?uuid=`, and only that call, with the token, attaches the file.
  A repeat is a 400 with an empty body.

Attaching is `SisBatch#file_upload_success_callback`: a usable file makes the import `created`
(the account job takes it from there), an unusable one makes it `failed` with
`data.error_message` "File upload failed". Like Canvas (MODEL2), the callback does not look at
the import's state: a file arriving for an import that was aborted meanwhile revives it
(`created`, queued), which is why a client must not abort an import whose file may be on its way.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sis_watcher.simulator.model.imports import ImportQueue
from sis_watcher.simulator.model.records import ReceivedUpload, Recorder

UPLOAD_FAILED = "File upload failed"
STYLES = ("inst_fs", "s3")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(slots=True, kw_only=True)
class PendingUpload:
    """One announced upload: what storage must receive, for which import, until when."""

    upload_id: int
    import_id: int
    style: str
    name: str
    size: int | None
    content_type: str
    uuid: str
    expires_at: float  # wall-clock seconds, like a JWT's `exp`
    params: dict[str, str]  # the signed upload_params, exactly as sent to the client
    create_params: dict[str, str]  # the create's own parameters, for the upload record
    state: str = "pending"  # pending -> stored (s3, waiting for create_success) -> attached | failed
    stored_path: Path | None = None
    stored_sha256: str | None = None
    stored_size: int = 0
    usable: bool = True


@dataclass(slots=True)
class UploadStore:
    """Every announced upload, the signing secret, and the id counter; thread-safe."""

    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    lock: threading.Lock = field(default_factory=threading.Lock)
    pending: dict[int, PendingUpload] = field(default_factory=dict)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(5001))

    def sign(self, text: str) -> str:
        return hmac.new(self.secret, text.encode(), hashlib.sha256).hexdigest()

    def announce(
        self,
        *,
        import_id: int,
        style: str,
        name: str,
        size: int | None,
        content_type: str,
        lifetime_seconds: float,
        create_params: dict[str, str],
        storage_url: str,
        api_url: str,
    ) -> tuple[PendingUpload, dict[str, Any]]:
        """Register an upload for `import_id`; return it and the `pre_attachment` JSON the client gets."""
        with self.lock:
            upload_id = next(self.ids)
        uuid = secrets.token_hex(16)
        expires_at = time.time() + lifetime_seconds
        if style == "inst_fs":
            header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
            claims = b64url(json.dumps({"exp": expires_at, "upload_id": upload_id}).encode())
            signature = b64url(hmac.new(self.secret, f"{header}.{claims}".encode(), hashlib.sha256).digest())
            params = {"filename": name, "content_type": content_type}
            preflight: dict[str, Any] = {
                "upload_url": f"{storage_url}/uploads/inst-fs?token={header}.{claims}.{signature}",
                "upload_params": params,
                "file_param": "file",
                "progress": None,
            }
        else:
            key = f"attachments/{upload_id}/{name}"
            redirect = f"{api_url}/api/v1/files/{upload_id}/create_success?uuid={uuid}"
            moment = datetime.fromtimestamp(expires_at, UTC).isoformat(timespec="milliseconds")
            policy = base64.b64encode(
                json.dumps(
                    {
                        "expiration": moment.replace("+00:00", "Z"),
                        "conditions": [
                            {"bucket": "simulated-canvas"},
                            {"key": key},
                            {"acl": "private"},
                            ["content-length-range", 1, 10 << 30],
                            {"success_action_redirect": redirect},
                        ],
                    }
                ).encode()
            ).decode()
            params = {
                "key": key,
                "acl": "private",
                "Policy": policy,
                "x-amz-signature": self.sign(policy),
                "success_action_redirect": redirect,
            }
            preflight = {
                "upload_url": f"{storage_url}/uploads/s3",
                "upload_params": params,
                "file_param": "file",
            }
        pending = PendingUpload(
            upload_id=upload_id,
            import_id=import_id,
            style=style,
            name=name,
            size=size,
            content_type=content_type,
            uuid=uuid,
            expires_at=expires_at,
            params=dict(params),
            create_params=dict(create_params),
        )
        with self.lock:
            self.pending[upload_id] = pending
        return pending, preflight

    def by_token(self, token: str) -> PendingUpload | None:
        """Return the upload an inst-fs JWT names when its signature holds (expired or not)."""
        parts = token.split(".")
        if len(parts) != 3:
            return None
        header, claims, signature = parts
        wanted = b64url(hmac.new(self.secret, f"{header}.{claims}".encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(wanted, signature):
            return None
        upload_id = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))["upload_id"]
        with self.lock:  # signed by us, so the claims are ours
            return self.pending.get(upload_id)

    def by_policy(self, fields: dict[str, str]) -> PendingUpload | None:
        """Return the upload an S3 form's policy names when its signature holds (expired or not)."""
        policy = fields.get("Policy", "")
        if not policy or not hmac.compare_digest(self.sign(policy), fields.get("x-amz-signature", "")):
            return None
        with self.lock:
            return next((item for item in self.pending.values() if item.params.get("Policy") == policy), None)

    def get(self, upload_id: int) -> PendingUpload | None:
        with self.lock:
            return self.pending.get(upload_id)

    def clear(self) -> None:
        with self.lock:
            self.pending.clear()


def attach(queue: ImportQueue, recorder: Recorder, upload: PendingUpload) -> str:
    """
    Give the stored file to its import (`file_upload_success_callback`); return the import's new state.

    A usable file makes it `created` and wakes the job; an unusable one `failed` with
    "File upload failed". Whatever the import's state: an aborted one is revived (MODEL2).
    """
    assert upload.stored_path is not None  # noqa: S101 - stored before it is attached
    now = datetime.now(UTC)
    with queue.cond:
        row = queue.rows.get(upload.import_id)
        if row is None:
            upload.state = "attached"
            return "missing"
        row.ended_at = None
        if not upload.usable:
            upload.state = "failed"
            row.data["error_message"] = UPLOAD_FAILED
            row.ended_at = now
            row.touch("failed")
            queue.cond.notify_all()
            return "failed"
        upload.state = "attached"
        row.body = upload.stored_path
        row.file_name = upload.name
        row.created_mono = queue.monotonic()
        if row.stuck != "initializing":
            row.touch("created")
        queue.cond.notify_all()
        state = row.workflow_state
    recorder.add_upload(
        ReceivedUpload(
            import_id=upload.import_id,
            received_at=now,
            sha256=upload.stored_sha256 or "",
            size=upload.stored_size,
            params=dict(upload.create_params),
            content_type="multipart/form-data",
            file_name=upload.name,
            method="pre_attachment",
        )
    )
    return state
