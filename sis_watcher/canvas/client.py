"""
The Canvas SIS Imports API, as one small client over one `httpx.Client`.

Every httpx error and every non-2xx answer is translated here, and only here, into the tree in
`errors.py` (httpx's own `map_httpcore_exceptions` is the model). Nothing here retries: callers
wrap calls with `retry.call_with_retries`. The token is read from its `TokenSource` when first
needed and again on `reload_token()` (after a 401); it is only ever sent to `canvas.base_url`'s
own origin, never across a redirect to another host, and never appears in an error message.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin

import httpx

from sis_watcher import __version__
from sis_watcher.canvas.answers import as_dict, json_of, raise_for_status, translated_errors
from sis_watcher.canvas.credentials import Token, TokenSource
from sis_watcher.core.clock import isoformat
from sis_watcher.core.durable import atomic_write_bytes
from sis_watcher.core.errors import (
    CanvasAuthProblem,
    CanvasProtocolError,
    CanvasUnavailable,
    LookupRefused,
    Stopping,
    UploadRejected,
)
from sis_watcher.core.logs import register_secret
from sis_watcher.core.urls import is_loopback_host

UPLOAD_CHUNK = 1 << 20


MAX_REDIRECTS = 5


MAX_PAGES = 1000


def same_origin(first: httpx.URL, second: httpx.URL) -> bool:
    """Return True when both URLs have the same scheme, host and port."""
    return (first.scheme, first.host, first.port) == (second.scheme, second.host, second.port)


class CanvasClient:
    """Calls to one Canvas root account's SIS Imports API."""

    def __init__(
        self,
        *,
        base_url: str,
        account_id: str,
        token_source: TokenSource,
        timeout_seconds: float = 60.0,
        transport: httpx.BaseTransport | None = None,
        stopping: threading.Event | None = None,
        on_response: Callable[[str], None] | None = None,
        proxy: str | None = None,
    ) -> None:
        self.on_response = on_response
        self.base_url = httpx.URL(base_url.rstrip("/") + "/")
        self.account_path = f"api/v1/accounts/{quote(account_id, safe=':')}"
        self.token_source = token_source
        self.stopping = stopping
        self._token: Token | None = None
        self._lock = threading.Lock()
        timeout = httpx.Timeout(timeout_seconds, connect=min(timeout_seconds, 15.0))
        self.http = httpx.Client(
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
            headers={"User-Agent": f"sis-watcher/{__version__}", "Accept": "application/json"},
            trust_env=False,
            proxy=proxy,
        )

    def close(self) -> None:
        self.http.close()

    def token(self) -> Token:
        """Return the current token, loading it on first use (raises `TokenUnavailable`)."""
        with self._lock:
            if self._token is None:
                loaded = self.token_source.load()
                register_secret(loaded.token.reveal())
                self._token = loaded.token
            return self._token

    def reload_token(self) -> None:
        """Forget the token so the next request reads it again from its source."""
        with self._lock:
            self._token = None

    def count(self, status: str) -> None:
        if self.on_response is not None:
            self.on_response(status)

    def url(self, path: str) -> httpx.URL:
        return self.base_url.join(path)

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token().reveal()}"}

    def request(
        self,
        method: str,
        url: httpx.URL,
        *,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        creating: bool = False,
        content: Iterator[bytes] | None = None,
    ) -> httpx.Response:
        """Send one request to Canvas's own origin; translate every failure."""
        if not same_origin(url, self.base_url):
            raise CanvasProtocolError("refusing to send the token to another host than canvas.base_url")
        all_headers = {**(headers or {}), **self.auth_headers()}
        try:
            with translated_errors(creating=creating):
                response = self.http.request(method, url, params=params, headers=all_headers, content=content)
        except CanvasUnavailable:
            self.count("error")
            raise
        self.count(str(response.status_code))
        raise_for_status(response, creating=creating, secret=self.token().reveal())
        return response

    def get_json(self, path: str, *, params: dict[str, str] | None = None) -> Any:
        return json_of(self.request("GET", self.url(path), params=params))

    def whoami(self) -> dict[str, Any]:
        """Return the token's user (`GET /api/v1/users/self`)."""
        return as_dict(self.get_json("api/v1/users/self"), what="user")

    def get_account(self) -> dict[str, Any]:
        """Return the configured account (`GET /api/v1/accounts/:id`)."""
        return as_dict(self.get_json(self.account_path), what="account")

    def upload_body(self, zip_path: Path) -> Iterator[bytes]:
        """Yield the zip in chunks, stopping early (an incomplete body) when shutdown starts."""
        with zip_path.open("rb") as reader:
            while chunk := reader.read(UPLOAD_CHUNK):
                if self.stopping is not None and self.stopping.is_set():
                    raise Stopping("upload interrupted by shutdown")
                yield chunk

    def create_import(self, zip_path: Path, *, params: dict[str, str]) -> dict[str, Any]:
        """
        POST the zip as a raw body (`Content-Type: application/zip`, `extension=zip`).

        Returns the new SisImport. Raises `CanvasUnavailable` with `request_may_have_arrived`
        telling whether Canvas may have created an import anyway.
        """
        query = {"import_type": "instructure_csv", "extension": "zip", **params}
        headers = {"Content-Type": "application/zip", "Content-Length": str(zip_path.stat().st_size)}
        response = self.request(
            "POST",
            self.url(f"{self.account_path}/sis_imports"),
            params=query,
            creating=True,
            content=self.upload_body(zip_path),
            headers=headers,
        )
        created = as_dict(json_of(response), what="new import")
        if not isinstance(created.get("id"), int):
            raise CanvasProtocolError("Canvas's new import has no id", status_code=response.status_code)
        return created

    def get_import(self, import_id: int) -> dict[str, Any]:
        """Return one SisImport (`GET .../sis_imports/:id`)."""
        return as_dict(self.get_json(f"{self.account_path}/sis_imports/{import_id}"), what="import")

    def abort_import(self, import_id: int) -> dict[str, Any] | None:
        """
        Abort a not-yet-finished import (`PUT .../sis_imports/:id/abort`); return it, now `aborted`.

        Return None when Canvas answers 404: the import is already final (docs/canvas.md §1.5),
        or the account itself is gone, which the caller's next `get_import` tells apart. Like a
        create, an answer lost on the way (a 5xx, a connection lost after sending) may hide an
        abort that happened (`CanvasUnavailable.request_may_have_arrived`); another 4xx is a
        refusal (`LookupRefused`): nothing was aborted.
        """
        url = self.url(f"{self.account_path}/sis_imports/{import_id}/abort")
        try:
            response = self.request("PUT", url, creating=True)
        except UploadRejected as error:
            raise LookupRefused(error.message, status_code=error.status_code) from None
        except CanvasAuthProblem as error:
            if error.status_code == 404:
                return None
            raise
        return as_dict(json_of(response), what="aborted import")

    def paginate(self, path: str, *, params: dict[str, str], key: str) -> list[dict[str, Any]]:
        """Return every item of a wrapped, Link-paginated list (`{"<key>": [...]}`)."""
        items: list[dict[str, Any]] = []
        url: httpx.URL | None = self.url(path)
        query: dict[str, str] | None = {**params, "per_page": "100"}
        for _ in range(MAX_PAGES):
            if url is None:
                break
            response = self.request("GET", url, params=query)
            body = json_of(response)
            page = body.get(key) if isinstance(body, dict) else body
            if not isinstance(page, list):
                raise CanvasProtocolError(f"Canvas's list has no {key!r} array")
            items.extend(item for item in page if isinstance(item, dict))
            following = response.links.get("next", {}).get("url")
            url = httpx.URL(urljoin(str(response.url), following)) if following and page else None
            query = None
        return items

    def list_imports(self, *, created_since: datetime) -> list[dict[str, Any]]:
        """Return the imports created after `created_since` (strictly), newest first."""
        return self.paginate(
            f"{self.account_path}/sis_imports",
            params={"created_since": isoformat(created_since)},
            key="sis_imports",
        )

    def list_import_errors(self, import_id: int) -> list[dict[str, Any]]:
        """Return every error row of one import (`GET .../sis_imports/:id/errors`)."""
        return self.paginate(
            f"{self.account_path}/sis_imports/{import_id}/errors", params={}, key="sis_import_errors"
        )

    def download(self, url: str, target: Path, *, max_bytes: int = 256 << 20) -> None:
        """
        Download a file Canvas links to (the errors attachment) into `target`, atomically.

        Redirects are followed by hand: the token goes only to `canvas.base_url`'s origin and
        never to the storage host a redirect points at.
        """
        current = httpx.URL(urljoin(str(self.base_url), url))
        for _ in range(MAX_REDIRECTS + 1):
            headers = self.auth_headers() if same_origin(current, self.base_url) else {}
            plain = current.scheme != "https" and not is_loopback_host(current.host)
            if plain and not same_origin(current, self.base_url):
                raise CanvasProtocolError("refusing to download the errors file over plain http")
            with translated_errors():
                with self.http.stream("GET", current, headers=headers) as response:
                    self.count(str(response.status_code))
                    if response.is_redirect:
                        location = response.headers.get("Location", "")
                        current = httpx.URL(urljoin(str(current), location))
                        continue
                    if response.status_code >= 300:
                        response.read()
                        raise_for_status(response, secret=self.token().reveal())
                    data = bytearray()
                    for chunk in response.iter_bytes():
                        data.extend(chunk)
                        if len(data) > max_bytes:
                            raise CanvasProtocolError("the errors file is larger than expected")
            atomic_write_bytes(target, bytes(data))
            return
        raise CanvasProtocolError("too many redirects downloading the errors file")
