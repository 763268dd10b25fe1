"""What the simulator saw: every request, upload, storage upload and download, kept for assertions."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberRecord:
    """One CSV of an upload as Canvas read it: `rows` are data rows (header and blank rows excluded)."""

    name: str
    bytes: int
    sha256: str
    rows: int
    csv_type: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceivedUpload:
    """
    One import that got its file, and that file.

    A direct create is recorded when it arrives; a `pre_attachment` import (`method`) when its
    file is attached, so an orphan aborted before that never appears here. `members` is empty
    until the import has been processed (`processed` turns true).
    """

    import_id: int
    received_at: datetime
    sha256: str
    size: int
    params: dict[str, str]
    content_type: str | None
    file_name: str
    members: tuple[MemberRecord, ...] = ()
    processed: bool = False
    method: str = "direct"


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestRecord:
    """One HTTP request to the API host, faulted or not; `status` is None when no answer was sent."""

    method: str
    path: str
    query: str
    status: int | None
    started_at: datetime
    finished_at: datetime
    fault: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DownloadRecord:
    """One request to the file-storage host; `authorization_sent` says if it carried credentials."""

    path: str
    status: int
    authorization_sent: bool
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class StorageUploadRecord:
    """
    One POST to the upload storage host (`pre_attachment`), whatever its answer.

    `authorization_sent` is a token leak: storage is not Canvas. `stored` says the file was
    kept; `reason` why it was refused, if it was.
    """

    import_id: int | None
    style: str | None
    status: int | None
    authorization_sent: bool
    stored: bool
    sha256: str | None
    size: int
    reason: str | None
    at: datetime


def as_json(record: object) -> dict[str, Any]:
    """Return a record as JSON-ready data (times as ISO strings)."""
    data: dict[str, Any] = asdict(record)  # type: ignore[call-overload]
    for key, value in data.items():
        if isinstance(value, datetime):
            data[key] = value.isoformat()
    return data


@dataclass(slots=True)
class Recorder:
    """Thread-safe logs of requests, uploads and downloads, and the in-flight high-water mark."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: list[RequestRecord] = field(default_factory=list)
    uploads: dict[int, ReceivedUpload] = field(default_factory=dict)
    downloads: list[DownloadRecord] = field(default_factory=list)
    storage_uploads: list[StorageUploadRecord] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0

    def enter(self) -> None:
        """Count a request that has started."""
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def leave(self) -> None:
        """Count a request that has ended."""
        with self.lock:
            self.in_flight -= 1

    def add_request(self, record: RequestRecord) -> None:
        with self.lock:
            self.requests.append(record)

    def add_download(self, record: DownloadRecord) -> None:
        with self.lock:
            self.downloads.append(record)

    def add_storage_upload(self, record: StorageUploadRecord) -> None:
        with self.lock:
            self.storage_uploads.append(record)

    def add_upload(self, record: ReceivedUpload) -> None:
        with self.lock:
            self.uploads[record.import_id] = record

    def set_members(self, import_id: int, members: tuple[MemberRecord, ...]) -> None:
        """Fill in an upload's members once its import was processed."""
        with self.lock:
            upload = self.uploads.get(import_id)
            if upload is not None:
                self.uploads[import_id] = replace(upload, members=members, processed=True)

    def clear(self) -> None:
        """Forget everything recorded (the in-flight count stays, requests may be running)."""
        with self.lock:
            self.requests.clear()
            self.uploads.clear()
            self.downloads.clear()
            self.storage_uploads.clear()
            self.max_in_flight = self.in_flight
