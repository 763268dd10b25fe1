"""
Canvas's `pre_attachment` file-upload flow for SIS imports (docs/canvas.md §A1), as three calls.

1. `create_with_pre_attachment`: `POST .../sis_imports?pre_attachment[name]=...&[size]=...` with
   the import options; Canvas answers an `initializing` import plus the upload's preflight
   (`Preflight`), or, on an instance without the flow, no `pre_attachment` at all.
2. `send_to_storage`: a multipart POST of the zip to the preflight's `upload_url`, every
   `upload_params` entry first, byte for byte and in Canvas's order, then the file in the
   `file_param` field, last. It carries **no** Authorization header: the storage host is not
   Canvas and never sees the token (plain http to a host off loopback is refused earlier).
3. `confirm_upload`: where storage answered 3xx (S3 or local storage), the `Location` on Canvas's
   own origin is requested with the token (a `Location` on another origin is a permanent
   refusal: the token goes to Canvas only, `on_canvas`). Its empty 400 means the file is no
   longer pending: "already confirmed" when the caller says the call is a repeat.

`send_to_storage` calls its `on_sent` once the body's last byte was handed to the socket, so
the caller can tell an upload cut short (storage keeps none of it) from one storage may keep.

The preflight is read in `preflight.py` (its expiry by the local clock). Storage's refusals are reduced to its
status and its own short word (S3's `<Code>`, inst-fs's `message`): S3 echoes the signed policy
and its signature in the rest.

The body is built here rather than with httpx's `files=`. httpx does stream a file object in
64 KiB chunks and sizes it with fstat, but building it ourselves pins what the signature needs:
the parameters exactly as Canvas sent them and in its order, the file field last, a
Content-Length always (S3 refuses chunked POST uploads), 1 MiB reads that stop at shutdown like
the direct upload, and no guessing of the part's content type.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx

from sis_watcher.canvas.answers import as_dict, json_of
from sis_watcher.canvas.client import CanvasClient, same_origin
from sis_watcher.canvas.preflight import (
    DEFAULT_UPLOAD_LIFETIME,
    Preflight,
    Unusable,
    canvas_date,
    read_preflight,
)
from sis_watcher.core.errors import CanvasProtocolError, CanvasUnavailable, LookupRefused, Stopping

__all__ = [
    "DEFAULT_UPLOAD_LIFETIME",
    "Confirm",
    "Preflight",
    "Refused",
    "Stored",
    "Unusable",
    "confirm_upload",
    "create_with_pre_attachment",
    "on_canvas",
    "send_to_storage",
]

ZIP_TYPE = "application/zip"
# The storage POST's read timeout: the answer comes once storage has the whole body (which may
# take minutes to stream) and has kept it. Connecting is bounded like any request.
STORAGE_TIMEOUT = httpx.Timeout(600.0, connect=15.0)
S3_CODE = re.compile(r"<Code>([A-Za-z0-9.]{1,64})</Code>")


@dataclass(frozen=True, slots=True)
class Stored:
    """Storage kept the file and told Canvas itself (inst-fs, 201): nothing to confirm."""

    status: int


@dataclass(frozen=True, slots=True)
class Confirm:
    """Storage kept the file and redirects to Canvas's confirmation (S3 or local storage, 3xx)."""

    url: str


@dataclass(frozen=True, slots=True)
class Refused:
    """
    Storage refused the upload (4xx: an expired or altered signature): nothing was kept.

    `permanent` when no new attempt can do better (a confirmation off Canvas's origin).
    """

    status: int
    message: str
    permanent: bool = False


StorageAnswer = Stored | Confirm | Refused


def create_with_pre_attachment(
    client: CanvasClient, *, name: str, size: int, params: dict[str, str], now: Callable[[], datetime]
) -> tuple[dict[str, Any], Preflight | Unusable]:
    """
    Create an import that waits for its file (`initializing`) and return it with its preflight.

    `Unusable` (with `go_direct`) when Canvas's answer has no `pre_attachment`: the instance does
    not support the flow (and may have made an ordinary import of the empty body). `now` is the
    local clock, read when the answer arrives. Raises like `CanvasClient.create_import`
    (`request_may_have_arrived` tells whether an import may exist).
    """
    query = {
        "import_type": "instructure_csv",
        **params,
        "pre_attachment[name]": name,
        "pre_attachment[size]": str(size),
        "pre_attachment[content_type]": ZIP_TYPE,
    }
    response = client.request(
        "POST",
        client.url(f"{client.account_path}/sis_imports"),
        params=query,
        creating=True,
        headers={"Content-Length": "0"},
    )
    received_at = now()
    created = as_dict(json_of(response), what="new import")
    if not isinstance(created.get("id"), int):
        raise CanvasProtocolError("Canvas's new import has no id", status_code=response.status_code)
    if "pre_attachment" not in created:
        return created, Unusable("this Canvas does not support pre_attachment", go_direct=True)
    preflight = read_preflight(
        created["pre_attachment"],
        base_url=client.base_url,
        received_at=received_at,
        answered_at=canvas_date(response),
    )
    return created, preflight


def quoted(text: str) -> str:
    """A form-data name or file name inside double quotes (the HTML standard's escaping)."""
    return text.replace("\r", "%0D").replace("\n", "%0A").replace('"', "%22")


def multipart_parts(preflight: Preflight, *, file_name: str, boundary: str) -> tuple[bytes, bytes]:
    """Return the bytes before the file (every parameter, then the file part's head) and after it."""
    head = bytearray()
    for key, value in preflight.upload_params:
        head += f'--{boundary}\r\nContent-Disposition: form-data; name="{quoted(key)}"\r\n\r\n'.encode()
        head += value.encode() + b"\r\n"
    head += (
        f"--{boundary}\r\nContent-Disposition: form-data; "
        f'name="{quoted(preflight.file_param)}"; filename="{quoted(file_name)}"\r\n'
        f"Content-Type: {ZIP_TYPE}\r\n\r\n"
    ).encode()
    return bytes(head), f"\r\n--{boundary}--\r\n".encode()


def multipart_body(
    client: CanvasClient,
    preflight: Preflight,
    zip_path: Path,
    *,
    boundary: str,
    on_sent: Callable[[], None] | None = None,
) -> tuple[int, Iterator[bytes]]:
    """
    Return the multipart body's length and its pieces, the zip read from disk 1 MiB at a time.

    `on_sent` is called once the last piece was handed over (httpx asks for the next one only
    after writing the last to the socket), before storage's answer is awaited: from then on
    storage may keep the file. A body cut short (shutdown, a crash) never calls it.
    """
    head, tail = multipart_parts(preflight, file_name=zip_path.name, boundary=boundary)
    size = zip_path.stat().st_size

    def pieces() -> Iterator[bytes]:
        yield head
        yield from client.upload_body(zip_path)
        yield tail
        if on_sent is not None:
            on_sent()

    return len(head) + size + len(tail), pieces()


def storage_words(response: httpx.Response) -> str:
    """Storage's refusal in short: its status and S3's `<Code>` or inst-fs's `message`, nothing else."""
    words = ""
    match = S3_CODE.search(response.text[:4096])
    if match:
        words = match[1]
    else:
        try:
            data = response.json()
        except ValueError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("message"), str):
            words = data["message"][:120]
    return f"HTTP {response.status_code}: {words}" if words else f"HTTP {response.status_code}"


def post_to_storage(
    client: CanvasClient, preflight: Preflight, zip_path: Path, *, on_sent: Callable[[], None] | None = None
) -> httpx.Response:
    """POST the multipart body; raise `CanvasUnavailable` naming the storage host for a transport error."""
    boundary = f"sis-watcher-{secrets.token_hex(16)}"
    length, body = multipart_body(client, preflight, zip_path, boundary=boundary, on_sent=on_sent)
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}", "Content-Length": str(length)}
    host = httpx.URL(preflight.upload_url).host
    try:
        return client.http.request(
            "POST", preflight.upload_url, content=body, headers=headers, timeout=STORAGE_TIMEOUT
        )
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
        raise CanvasUnavailable(
            f"cannot reach file storage ({host}: {error.__class__.__name__})", request_may_have_arrived=False
        ) from None
    except httpx.RequestError as error:
        raise CanvasUnavailable(
            f"connection to file storage ({host}) failed ({error.__class__.__name__})",
            request_may_have_arrived=True,
        ) from None


def send_to_storage(
    client: CanvasClient, preflight: Preflight, zip_path: Path, *, on_sent: Callable[[], None] | None = None
) -> StorageAnswer:
    """
    POST the zip to the storage host, without the token; return what storage answered.

    `on_sent` is called once the whole body went out (see `multipart_body`). Raise
    `CanvasUnavailable` for a transport error or a 5xx (`request_may_have_arrived` true once the
    body may have gone out: the file may be stored), `Stopping` on shutdown.
    """
    response = post_to_storage(client, preflight, zip_path, on_sent=on_sent)
    client.count(str(response.status_code))
    status = response.status_code
    if status < 300:
        return Stored(status)
    if status < 400 and response.headers.get("Location"):
        url = urljoin(preflight.upload_url, response.headers["Location"])
        if not on_canvas(client, url):
            host = httpx.URL(url).host
            return Refused(
                status, f"file storage sent the confirmation to {host}, not Canvas", permanent=True
            )
        return Confirm(url)
    message = storage_words(response)
    if status < 500:
        return Refused(status, message)
    raise CanvasUnavailable(f"file storage failed ({message})", status_code=status)


def on_canvas(client: CanvasClient, url: str) -> bool:
    """Return True when `url` is on `canvas.base_url`'s origin: the only place the token may go."""
    try:
        return same_origin(httpx.URL(url), client.base_url)
    except httpx.InvalidURL:
        return False


def confirm_upload(client: CanvasClient, url: str, *, repeat: bool) -> bool:
    """
    Confirm a stored upload at Canvas (`.../files/:id/create_success?uuid=`, with the token).

    Return True when Canvas confirmed it. Its 400 means the file is no longer pending: after a
    try whose answer was lost (`repeat`, also a confirmation sent again after a crash), "already
    confirmed" (True); on a first try, that there was nothing to confirm (False). A `url` off
    Canvas's origin is never requested (`CanvasClient.request` refuses it). Raise like
    `CanvasClient.request`, and `Stopping` during shutdown.
    """
    if client.stopping is not None and client.stopping.is_set():
        raise Stopping("shutdown before the upload's confirmation")
    try:
        client.request("GET", httpx.URL(url))
    except LookupRefused as error:
        if error.status_code != 400:
            raise
        return repeat
    return True
