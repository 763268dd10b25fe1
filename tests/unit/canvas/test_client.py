"""Unit tests for `sis_watcher.canvas.client` with respx: every status family, transport error and redirect."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from sis_watcher import __version__
from sis_watcher.canvas.answers import canvas_message, retry_after_seconds
from sis_watcher.canvas.client import MAX_REDIRECTS, CanvasClient
from sis_watcher.canvas.credentials import TokenSource
from sis_watcher.core.errors import (
    CanvasAuthProblem,
    CanvasError,
    CanvasProtocolError,
    CanvasUnavailable,
    LookupRefused,
    Stopping,
    TokenUnavailable,
    UploadRejected,
)

BASE = "https://canvas.example.edu"
ACCOUNT = f"{BASE}/api/v1/accounts/self"
IMPORTS = f"{ACCOUNT}/sis_imports"
TOKEN = "7~canvas-secret-token-d41d8cd98f"
SINCE = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    """respx routes for the Canvas host and the storage hosts it redirects to."""
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as mock:
        yield mock


@pytest.fixture
def statuses() -> list[str]:
    return []


def make_client(
    *,
    base_url: str = BASE,
    environ: dict[str, str] | None = None,
    token_file: Path | None = None,
    **options: Any,
) -> CanvasClient:
    source = TokenSource(
        token_file=token_file, environ={"CANVAS_TOKEN": TOKEN} if environ is None else environ
    )
    return CanvasClient(base_url=base_url, account_id="self", token_source=source, **options)


@pytest.fixture
def client(router, statuses) -> Iterator[CanvasClient]:
    canvas = make_client(on_response=statuses.append)
    yield canvas
    canvas.close()


@pytest.fixture
def zip_path(tmp_path: Path) -> Path:
    path = tmp_path / "batch.zip"
    path.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 9000)  # over two upload chunks
    return path


def assert_no_token(error: BaseException) -> None:
    assert TOKEN not in str(error)
    assert TOKEN not in repr(error)
    assert TOKEN not in repr(error.args)


class TestStatuses:
    def test_2xx_returns_the_json(self, router, client):
        """A 200 with a JSON object is returned as a dict, with the Bearer token and our User-Agent sent."""
        route = router.get(f"{IMPORTS}/5").respond(200, json={"id": 5, "workflow_state": "importing"})

        assert client.get_import(5) == {"id": 5, "workflow_state": "importing"}
        request = route.calls.last.request
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        assert request.headers["User-Agent"] == f"sis-watcher/{__version__}"
        assert request.headers["Accept"] == "application/json"

    @pytest.mark.parametrize(
        ("body", "expected"),
        [
            (
                {"errors": ["SIS imports can only be executed on root accounts"]},
                "SIS imports can only be executed on root accounts",
            ),
            (
                {"message": "Batch mode specified, but the given batch_mode_term_id cannot be found."},
                "Batch mode specified, but the given batch_mode_term_id cannot be found.",
            ),
            (
                {"message": "change_threshold is required to use multi term_batch mode."},
                "change_threshold is required to use multi term_batch mode.",
            ),
            ({"message": "Invalid diffing_drop_status"}, "Invalid diffing_drop_status"),
            ({"error": True, "error_message": "Missing attachment"}, "Missing attachment"),
            ({"error": "Invalid content type, UTF-8 required"}, "Invalid content type, UTF-8 required"),
            ({"errors": [{"message": "Invalid access token."}]}, "Invalid access token."),
            (
                {
                    "status": "unauthorized",
                    "errors": [{"message": "user not authorized to perform that action"}],
                },
                "user not authorized to perform that action",
            ),
            ({"errors": {"attachment": "is required"}}, "attachment: is required"),
            ("both undelete_only and unconclude_only", "both undelete_only and unconclude_only"),
        ],
    )
    @pytest.mark.parametrize("status", [400, 422])
    def test_400_and_422_are_rejections_with_canvas_message(
        self, router, client, zip_path, status, body, expected
    ):
        """Each error body shape Canvas uses gives UploadRejected carrying Canvas's own words."""
        router.post(IMPORTS).respond(status, json=body)

        with pytest.raises(UploadRejected) as caught:
            client.create_import(zip_path, params={})

        assert caught.value.status_code == status
        assert caught.value.message == f"HTTP {status}: {expected}"
        assert_no_token(caught.value)

    @pytest.mark.parametrize(
        ("content", "expected"),
        [
            (b"", "HTTP 400"),
            (b"Bad Request", "Bad Request"),
            (b"[1, 2]", "[1, 2]"),
            (b"{}", "{}"),
            (b"x" * 1000, "x" * 300),
        ],
    )
    def test_unusual_error_bodies_still_give_a_message(self, router, client, content, expected):
        """Empty, plain-text, odd JSON and long bodies give a short readable message."""
        router.get(f"{IMPORTS}/1").respond(400, content=content)

        with pytest.raises(LookupRefused) as caught:
            client.get_import(1)

        assert caught.value.message == f"HTTP 400: {expected}"

    @pytest.mark.parametrize("status", [400, 410, 422])
    def test_a_refused_look_up_is_retryable_and_never_a_verdict(self, router, client, status):
        """A GET answered 4xx is a LookupRefused: an outage to retry, not an UploadRejected."""
        router.get(f"{IMPORTS}/1").respond(status, json={"message": "odd"})

        with pytest.raises(LookupRefused) as caught:
            client.get_import(1)

        assert isinstance(caught.value, CanvasUnavailable)
        assert not isinstance(caught.value, UploadRejected)
        assert caught.value.request_may_have_arrived is False

    def test_other_4xx_is_a_rejection(self, router, client, zip_path):
        """A 413 (zip too big for a proxy) is a rejection, not a retry."""
        router.post(IMPORTS).respond(413, text="Request Entity Too Large")

        with pytest.raises(UploadRejected, match="413: Request Entity Too Large"):
            client.create_import(zip_path, params={})

    def test_401_with_www_authenticate_is_a_rejected_token(self, router, client):
        """401 with WWW-Authenticate: Canvas rejected the token."""
        router.get(f"{IMPORTS}/1").respond(
            401,
            json={"errors": [{"message": "Invalid access token."}]},
            headers={"WWW-Authenticate": 'Bearer realm="canvas-lms"'},
        )

        with pytest.raises(CanvasAuthProblem) as caught:
            client.get_import(1)

        assert caught.value.status_code == 401
        assert str(caught.value) == "Canvas rejected the token (HTTP 401: Invalid access token.)"
        assert_no_token(caught.value)

    def test_401_without_www_authenticate_is_a_permission_problem(self, router, client):
        """401 without WWW-Authenticate: the token is fine but lacks permission."""
        router.get(f"{IMPORTS}/1").respond(
            401,
            json={
                "status": "unauthorized",
                "errors": [{"message": "user not authorized to perform that action"}],
            },
        )

        with pytest.raises(CanvasAuthProblem) as caught:
            client.get_import(1)

        assert str(caught.value) == (
            "Canvas denied permission (HTTP 401: user not authorized to perform that action)"
        )

    def test_403_permission_is_an_auth_problem(self, router, client, zip_path):
        """403 that is not throttling (SIS imports not enabled) pauses uploads."""
        router.post(IMPORTS).respond(403, json={"errors": ["SIS imports are not enabled for this account"]})

        with pytest.raises(CanvasAuthProblem) as caught:
            client.create_import(zip_path, params={})

        assert caught.value.status_code == 403
        assert "SIS imports are not enabled for this account" in str(caught.value)

    def test_404_is_an_auth_problem(self, router, client):
        """404 on the account (a wrong account_id) is treated like a permission problem."""
        router.get(ACCOUNT).respond(
            404, json={"errors": [{"message": "The specified resource does not exist."}]}
        )

        with pytest.raises(CanvasAuthProblem, match=r"The specified resource does not exist\."):
            client.get_account()

    @pytest.mark.parametrize(
        ("response", "retry_after"),
        [
            (httpx.Response(403, text="403 Forbidden (Rate Limit Exceeded)"), None),
            (httpx.Response(403, text="rate limit exceeded"), None),
            (httpx.Response(403, json={"x": 1}, headers={"X-Rate-Limit-Remaining": "0"}), None),
            (httpx.Response(403, json={"x": 1}, headers={"X-Rate-Limit-Remaining": "-3.5"}), None),
            (httpx.Response(429, text="Too Many Requests", headers={"Retry-After": "7"}), 7.0),
            (httpx.Response(429, text="", headers={"Retry-After": "0.5"}), 0.5),
            (
                httpx.Response(
                    429,
                    headers={
                        "Retry-After": "Fri, 27 Nov 2026 02:01:30 GMT",
                        "Date": "Fri, 27 Nov 2026 02:00:00 GMT",
                    },
                ),
                90.0,
            ),
            (httpx.Response(429, headers={"Retry-After": "99999"}), 3600.0),
            (httpx.Response(429, headers={"Retry-After": "-5"}), 0.0),
            (httpx.Response(429, headers={"Retry-After": "soon"}), None),
            (httpx.Response(429, headers={"Retry-After": "Fri, 27 Nov 2020 02:01:30 GMT"}), 0.0),
            (httpx.Response(429, headers={"Retry-After": "nan"}), None),
        ],
    )
    def test_throttling_is_unavailable_and_never_arrived(
        self, router, client, zip_path, response, retry_after
    ):
        """429 and 403 "Rate Limit Exceeded" (or X-Rate-Limit-Remaining 0) are retryable; Canvas did nothing."""
        router.post(IMPORTS).mock(return_value=response)

        with pytest.raises(CanvasUnavailable) as caught:
            client.create_import(zip_path, params={})

        assert type(caught.value) is CanvasUnavailable
        assert caught.value.status_code == response.status_code
        assert caught.value.request_may_have_arrived is False
        assert caught.value.retry_after_seconds == retry_after
        assert str(caught.value).startswith("throttled by Canvas (HTTP ")

    def test_403_with_unparseable_rate_limit_header_is_a_permission_problem(self, router, client):
        """A garbage X-Rate-Limit-Remaining does not make a permission 403 look like throttling."""
        router.get(f"{IMPORTS}/1").respond(
            403, json={"errors": ["nope"]}, headers={"X-Rate-Limit-Remaining": "n/a"}
        )

        with pytest.raises(CanvasAuthProblem):
            client.get_import(1)

    @pytest.mark.parametrize(
        "headers",
        [
            {"Retry-After": "Fri, 27 Nov 2026 02:01:30 GMT", "Date": "not a date"},
            {"Retry-After": "Fri, 27 Nov 2026 02:01:30 -0000", "Date": "Fri, 27 Nov 2026 02:00:00 GMT"},
        ],
        ids=["bad-date-header", "naive-retry-after"],
    )
    def test_odd_retry_after_dates_still_give_canvas_unavailable(self, router, client, headers):
        """A malformed Date header or a zone-less HTTP date must not turn a 429 into a crash."""
        router.get(f"{IMPORTS}/1").respond(429, headers=headers)

        with pytest.raises(CanvasUnavailable) as caught:
            client.get_import(1)

        assert caught.value.status_code == 429

    @pytest.mark.parametrize("status", [500, 502, 503, 504])
    def test_5xx_on_create_may_have_arrived(self, router, client, zip_path, status):
        """A 5xx answering a POST may come from a gateway after Canvas created the import."""
        router.post(IMPORTS).respond(status, text="Bad Gateway", headers={"Retry-After": "3"})

        with pytest.raises(CanvasUnavailable) as caught:
            client.create_import(zip_path, params={})

        assert caught.value.status_code == status
        assert caught.value.request_may_have_arrived is True
        assert caught.value.retry_after_seconds == 3.0

    def test_5xx_on_a_read_has_not_created_anything(self, router, client):
        """A 5xx answering a GET changes nothing in Canvas."""
        router.get(f"{IMPORTS}/1").respond(503)

        with pytest.raises(CanvasUnavailable) as caught:
            client.get_import(1)

        assert caught.value.request_may_have_arrived is False
        assert caught.value.retry_after_seconds is None

    @pytest.mark.parametrize("status", [408, 409, 425])
    def test_timeouts_and_conflicts_are_retryable(self, router, client, zip_path, status):
        """408, 409 and 425 are transient; on create they may have arrived."""
        router.post(IMPORTS).respond(status)

        with pytest.raises(CanvasUnavailable) as caught:
            client.create_import(zip_path, params={})

        assert caught.value.request_may_have_arrived is True

    def test_redirect_on_an_api_call_is_not_followed(self, router, client):
        """API calls never follow redirects (the token would follow them)."""
        router.get(f"{IMPORTS}/1").respond(302, headers={"Location": "https://elsewhere.example.com/login"})
        other = router.get("https://elsewhere.example.com/login").respond(200, json={})

        with pytest.raises(CanvasError):
            client.get_import(1)

        assert not other.called


class TestTransportErrors:
    @pytest.mark.parametrize("error", [httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout])
    @pytest.mark.parametrize("creating", [True, False])
    def test_cannot_connect_never_arrived(self, router, client, zip_path, error, creating):
        """No connection means Canvas never saw the request, even for a create."""
        router.route(host="canvas.example.edu").mock(side_effect=error("boom"))

        call = (
            (lambda: client.create_import(zip_path, params={}))
            if creating
            else (lambda: client.get_import(1))
        )

        with pytest.raises(CanvasUnavailable) as caught:
            call()

        assert caught.value.request_may_have_arrived is False
        assert str(caught.value) == f"cannot reach Canvas ({error.__name__})"
        assert caught.value.__cause__ is None
        assert caught.value.__suppress_context__

    @pytest.mark.parametrize(
        "error", [httpx.ReadTimeout, httpx.WriteTimeout, httpx.RemoteProtocolError, httpx.ReadError]
    )
    def test_lost_answer_on_create_may_have_arrived(self, router, client, zip_path, error):
        """A timeout or dropped connection after sending the body: Canvas may have created the import."""
        router.post(IMPORTS).mock(side_effect=error("lost"))

        with pytest.raises(CanvasUnavailable) as caught:
            client.create_import(zip_path, params={})

        assert caught.value.request_may_have_arrived is True
        assert str(caught.value) == f"connection to Canvas failed ({error.__name__})"

    def test_lost_answer_on_a_read_never_arrived(self, router, client):
        """A ReadTimeout on a GET did not create anything."""
        router.get(f"{IMPORTS}/1").mock(side_effect=httpx.ReadTimeout("slow"))

        with pytest.raises(CanvasUnavailable) as caught:
            client.get_import(1)

        assert caught.value.request_may_have_arrived is False

    def test_undecodable_body_is_a_canvas_error(self, router, client):
        """A 200 whose Content-Encoding does not match its bytes is a Canvas error, not a raw httpx one."""
        router.get(f"{IMPORTS}/1").mock(
            side_effect=lambda _request: httpx.Response(
                200, stream=httpx.ByteStream(b"not gzip at all"), headers={"Content-Encoding": "gzip"}
            )
        )

        with pytest.raises(CanvasUnavailable):
            client.get_import(1)

    def test_non_json_200_is_a_protocol_error(self, router, client):
        """A 2xx that is not JSON (a proxy's HTML page) is a retryable protocol error."""
        router.get(f"{IMPORTS}/1").respond(200, html="<html>maintenance</html>")

        with pytest.raises(CanvasProtocolError) as caught:
            client.get_import(1)

        assert caught.value.status_code == 200
        assert isinstance(caught.value, CanvasUnavailable)

    @pytest.mark.parametrize("call", ["get_import", "get_account", "whoami"])
    def test_json_that_is_not_an_object_is_a_protocol_error(self, router, client, call):
        """A JSON array or string where an object belongs is a protocol error."""
        router.route(host="canvas.example.edu").respond(200, json=[1, 2, 3])

        with pytest.raises(CanvasProtocolError, match="is not a JSON object"):
            getattr(client, call)(*([1] if call == "get_import" else []))


class TestCreateImport:
    def test_sends_the_zip_as_a_raw_body_with_parameters(self, router, client, zip_path):
        """POST .../sis_imports: raw zip body, application/zip, Content-Length, extension=zip, import_type, options."""
        route = router.post(IMPORTS).respond(200, json={"id": 321, "workflow_state": "created"})

        created = client.create_import(
            zip_path, params={"batch_mode": "true", "batch_mode_term_id": "sis_term_id:F26"}
        )

        assert created == {"id": 321, "workflow_state": "created"}
        request = route.calls.last.request
        assert request.method == "POST"
        assert dict(request.url.params) == {
            "import_type": "instructure_csv",
            "extension": "zip",
            "batch_mode": "true",
            "batch_mode_term_id": "sis_term_id:F26",
        }
        assert request.headers["Content-Type"] == "application/zip"
        assert request.headers["Content-Length"] == str(zip_path.stat().st_size)
        assert "Transfer-Encoding" not in request.headers
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        assert request.read() == zip_path.read_bytes()

    def test_account_id_is_quoted_in_the_path(self, router, zip_path):
        """An sis_account_id:X account keeps its colon and escapes the rest."""
        route = router.post(f"{BASE}/api/v1/accounts/sis_account_id:A%2FB%201/sis_imports").respond(
            200, json={"id": 1}
        )
        source = TokenSource(token_file=None, environ={"CANVAS_TOKEN": TOKEN})
        canvas = CanvasClient(base_url=BASE + "/", account_id="sis_account_id:A/B 1", token_source=source)
        try:
            canvas.create_import(zip_path, params={})
        finally:
            canvas.close()

        assert route.called

    def test_answer_without_an_id_is_a_protocol_error(self, router, client, zip_path):
        """A 200 whose import has no integer id cannot be followed: protocol error."""
        router.post(IMPORTS).respond(200, json={"id": "321"})

        with pytest.raises(CanvasProtocolError, match="has no id"):
            client.create_import(zip_path, params={})

    def test_stopping_interrupts_the_upload(self, router, zip_path):
        """Shutdown while the body streams raises Stopping (an incomplete body, never a complete import)."""
        stopping = threading.Event()
        stopping.set()
        router.post(IMPORTS).respond(200, json={"id": 1})
        canvas = make_client(stopping=stopping)
        try:
            with pytest.raises(Stopping):
                canvas.create_import(zip_path, params={})
        finally:
            canvas.close()

    def test_base_url_with_a_path_prefix(self, router, zip_path):
        """A Canvas under a path prefix gets its API paths under that prefix."""
        route = router.post("https://lms.example.edu/canvas/api/v1/accounts/self/sis_imports").respond(
            200, json={"id": 1}
        )
        canvas = make_client(base_url="https://lms.example.edu/canvas")
        try:
            canvas.create_import(zip_path, params={})
        finally:
            canvas.close()

        assert route.called


class TestLists:
    def test_wrapped_list_follows_link_next_without_last(self, router, client):
        """`{"sis_imports": [...]}` pages are followed through rel="next" (Canvas sends no rel="last")."""
        page2 = f"{IMPORTS}?created_since=x&page=2&per_page=100"
        page3 = f"{IMPORTS}?created_since=x&page=3&per_page=100"

        def answer(request: httpx.Request) -> httpx.Response:
            page = request.url.params.get("page", "1")
            links = {
                "1": f'<{page2}>; rel="next", <{IMPORTS}?page=1&per_page=100>; rel="first", <{IMPORTS}?page=1>; rel="current"',
                "2": f'<{page3}>; rel="next", <{IMPORTS}?page=1>; rel="prev", <{IMPORTS}?page=1>; rel="first"',
                "3": f'<{IMPORTS}?page=2>; rel="prev", <{IMPORTS}?page=1>; rel="first"',
            }
            items = {"1": [{"id": 3}, {"id": 2}], "2": [{"id": 1}, "junk"], "3": [{"id": 0}]}
            return httpx.Response(200, json={"sis_imports": items[page]}, headers={"Link": links[page]})

        route = router.get(url__startswith=IMPORTS).mock(side_effect=answer)

        found = client.list_imports(created_since=SINCE)

        assert [item["id"] for item in found] == [3, 2, 1, 0]
        first, second, third = (call.request for call in route.calls)
        assert dict(first.url.params) == {"created_since": "2026-11-27T02:00:00.000000Z", "per_page": "100"}
        assert str(second.url) == page2
        assert str(third.url) == page3
        assert all(call.request.headers["Authorization"] == f"Bearer {TOKEN}" for call in route.calls)

    def test_relative_next_link_is_resolved(self, router, client):
        """A relative Link URL is taken relative to the page that gave it."""
        route = router.get(url__startswith=IMPORTS).mock(
            side_effect=[
                httpx.Response(
                    200,
                    json={"sis_imports": [{"id": 2}]},
                    headers={"Link": '</api/v1/accounts/self/sis_imports?page=2>; rel="next"'},
                ),
                httpx.Response(200, json={"sis_imports": [{"id": 1}]}),
            ]
        )

        assert [item["id"] for item in client.list_imports(created_since=SINCE)] == [2, 1]
        assert route.calls.last.request.url.params["page"] == "2"

    def test_empty_page_stops_even_with_a_next_link(self, router, client):
        """An empty page ends the list (Canvas answers [] past the end)."""
        route = router.get(url__startswith=IMPORTS).respond(
            200, json={"sis_imports": []}, headers={"Link": f'<{IMPORTS}?page=9>; rel="next"'}
        )

        assert client.list_imports(created_since=SINCE) == []
        assert route.call_count == 1

    def test_bare_array_is_accepted(self, router, client):
        """A bare JSON array (older Canvas) is read as the page."""
        router.get(url__startswith=IMPORTS).respond(200, json=[{"id": 1}])

        assert client.list_imports(created_since=SINCE) == [{"id": 1}]

    def test_list_without_its_array_is_a_protocol_error(self, router, client):
        """A list answer without the expected key is a protocol error."""
        router.get(url__startswith=IMPORTS).respond(200, json={"imports": []})

        with pytest.raises(CanvasProtocolError, match="no 'sis_imports' array"):
            client.list_imports(created_since=SINCE)

    def test_next_link_to_another_host_is_refused(self, router, client):
        """A pagination link to another host would take the token along: refused."""
        router.get(url__startswith=IMPORTS).respond(
            200,
            json={"sis_imports": [{"id": 1}]},
            headers={"Link": '<https://evil.example.com/p2>; rel="next"'},
        )
        evil = router.get("https://evil.example.com/p2").respond(200, json={"sis_imports": []})

        with pytest.raises(CanvasProtocolError, match="refusing to send the token"):
            client.list_imports(created_since=SINCE)

        assert not evil.called

    def test_list_import_errors_is_paginated(self, router, client):
        """GET .../sis_imports/:id/errors is read page by page from `sis_import_errors`."""
        errors_url = f"{IMPORTS}/7/errors"
        row = {
            "sis_import_id": 7,
            "file": "courses.csv",
            "message": "No short_name given for course C001",
            "row": 34,
        }
        route = router.get(url__startswith=errors_url).mock(
            side_effect=[
                httpx.Response(
                    200,
                    json={"sis_import_errors": [row]},
                    headers={"Link": f'<{errors_url}?page=2&per_page=100>; rel="next"'},
                ),
                httpx.Response(200, json={"sis_import_errors": [{**row, "row": 35}]}),
            ]
        )

        found = client.list_import_errors(7)

        assert [item["row"] for item in found] == [34, 35]
        assert dict(route.calls[0].request.url.params) == {"per_page": "100"}


class TestDownload:
    def test_download_from_canvas_itself_sends_the_token(self, router, client, tmp_path):
        """A file on Canvas's own host is fetched with the Authorization header and written atomically."""
        route = router.get(f"{BASE}/files/9/download").respond(
            200, content=b"sis_import_id,file,message,row\n"
        )
        target = tmp_path / "errors.csv"

        client.download("/files/9/download", target)

        assert target.read_bytes() == b"sis_import_id,file,message,row\n"
        assert route.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN}"
        assert sorted(path.name for path in tmp_path.iterdir()) == ["errors.csv"]

    def test_redirect_to_another_host_drops_the_token(self, router, client, tmp_path):
        """The storage host a redirect points at never sees the token."""
        router.get(f"{BASE}/files/9/download").respond(
            302, headers={"Location": "https://files.cdn.example.net/abc?sig=1"}
        )
        storage = router.get("https://files.cdn.example.net/abc").respond(200, content=b"data")

        client.download(f"{BASE}/files/9/download", tmp_path / "errors.csv")

        assert "Authorization" not in storage.calls.last.request.headers
        assert (tmp_path / "errors.csv").read_bytes() == b"data"

    def test_redirect_within_canvas_keeps_the_token(self, router, client, tmp_path):
        """A redirect to another path on Canvas's own origin still sends the token."""
        router.get(f"{BASE}/files/9/download").respond(302, headers={"Location": "/files/9/real"})
        real = router.get(f"{BASE}/files/9/real").respond(200, content=b"data")

        client.download("/files/9/download", tmp_path / "errors.csv")

        assert real.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN}"

    def test_redirect_to_same_host_other_port_drops_the_token(self, router, client, tmp_path):
        """Another port is another origin: no token."""
        router.get(f"{BASE}/files/9").respond(307, headers={"Location": "https://canvas.example.edu:8443/f"})
        other = router.get("https://canvas.example.edu:8443/f").respond(200, content=b"x")

        client.download("/files/9", tmp_path / "errors.csv")

        assert "Authorization" not in other.calls.last.request.headers

    def test_plain_http_to_another_host_is_refused(self, router, client, tmp_path):
        """A redirect to http:// on a non-loopback host is refused before any request goes there."""
        router.get(f"{BASE}/files/9").respond(302, headers={"Location": "http://files.example.net/abc"})
        plain = router.get("http://files.example.net/abc").respond(200, content=b"x")

        with pytest.raises(CanvasProtocolError, match="plain http"):
            client.download("/files/9", tmp_path / "errors.csv")

        assert not plain.called
        assert not (tmp_path / "errors.csv").exists()

    def test_plain_http_to_loopback_is_allowed(self, router, client, tmp_path):
        """A redirect to http:// on loopback (a local simulator's storage) is allowed, without the token."""
        router.get(f"{BASE}/files/9").respond(302, headers={"Location": "http://127.0.0.1:8765/f"})
        local = router.get("http://127.0.0.1:8765/f").respond(200, content=b"x")

        client.download("/files/9", tmp_path / "errors.csv")

        assert "Authorization" not in local.calls.last.request.headers

    def test_too_many_redirects_give_up(self, router, client, tmp_path):
        """A redirect loop ends after MAX_REDIRECTS with a protocol error."""
        route = router.get(f"{BASE}/loop").respond(302, headers={"Location": "/loop"})

        with pytest.raises(CanvasProtocolError, match="too many redirects"):
            client.download("/loop", tmp_path / "errors.csv")

        assert route.call_count == MAX_REDIRECTS + 1
        assert not (tmp_path / "errors.csv").exists()

    def test_oversized_file_is_refused(self, router, client, tmp_path):
        """A file bigger than max_bytes is refused and not written."""
        router.get(f"{BASE}/files/9").respond(200, content=b"x" * 2000)

        with pytest.raises(CanvasProtocolError, match="larger than expected"):
            client.download("/files/9", tmp_path / "errors.csv", max_bytes=1000)

        assert not (tmp_path / "errors.csv").exists()

    @pytest.mark.parametrize("status", [400, 403, 404, 500])
    def test_error_status_from_storage_is_a_canvas_error(self, router, client, tmp_path, status):
        """An expired link (403/404) or a storage fault is a Canvas error like any other answer, never an httpx one."""
        router.get(f"{BASE}/files/9").respond(302, headers={"Location": "https://files.cdn.example.net/abc"})
        router.get("https://files.cdn.example.net/abc").respond(
            status, text="<Error>Request has expired</Error>"
        )

        with pytest.raises(CanvasError) as caught:
            client.download("/files/9", tmp_path / "errors.csv")

        assert caught.value.status_code == status
        assert not (tmp_path / "errors.csv").exists()

    def test_connection_failure_is_unavailable(self, router, client, tmp_path):
        """A storage host that cannot be reached is retryable."""
        router.get(f"{BASE}/files/9").mock(side_effect=httpx.ConnectError("down"))

        with pytest.raises(CanvasUnavailable):
            client.download("/files/9", tmp_path / "errors.csv")


class TestToken:
    def test_token_is_loaded_lazily(self, router, tmp_path):
        """Creating a client reads no token; the first request does."""
        token_file = tmp_path / "token"
        canvas = make_client(environ={}, token_file=token_file)
        try:
            token_file.write_text("first-token\n", encoding="utf-8")
            route = router.get(f"{IMPORTS}/1").respond(200, json={"id": 1})

            canvas.get_import(1)

            assert route.calls.last.request.headers["Authorization"] == "Bearer first-token"
        finally:
            canvas.close()

    def test_token_is_kept_until_reload_token(self, router, tmp_path):
        """A rotated token file is used only after reload_token() (what a 401 triggers)."""
        token_file = tmp_path / "token"
        token_file.write_text("first-token", encoding="utf-8")
        route = router.get(f"{IMPORTS}/1").respond(200, json={"id": 1})
        canvas = make_client(environ={}, token_file=token_file)
        try:
            canvas.get_import(1)
            token_file.write_text("second-token", encoding="utf-8")
            canvas.get_import(1)
            canvas.reload_token()
            canvas.get_import(1)
        finally:
            canvas.close()

        assert [call.request.headers["Authorization"] for call in route.calls] == [
            "Bearer first-token",
            "Bearer first-token",
            "Bearer second-token",
        ]

    def test_missing_token_raises_token_unavailable_before_sending(self, router):
        """No token anywhere: TokenUnavailable, and nothing is sent."""
        route = router.get(f"{IMPORTS}/1").respond(200, json={})
        canvas = make_client(environ={})
        try:
            with pytest.raises(TokenUnavailable):
                canvas.get_import(1)
        finally:
            canvas.close()

        assert not route.called

    @pytest.mark.parametrize(
        ("status", "body"),
        [
            (400, {"message": f"bad token {TOKEN}"}),
            (401, {"errors": [{"message": f"Invalid access token {TOKEN}"}]}),
            (500, {"error": f"Authorization: Bearer {TOKEN}"}),
            (422, {"errors": {"token": TOKEN}}),
        ],
    )
    def test_token_never_appears_in_an_error_even_when_echoed(self, router, client, zip_path, status, body):
        """A proxy or Canvas echoing the Authorization header must not put the token in our error (or the manifest)."""
        router.post(IMPORTS).respond(status, json=body)

        with pytest.raises(CanvasError) as caught:
            client.create_import(zip_path, params={})

        assert_no_token(caught.value)

    def test_token_is_registered_for_log_redaction(self, router, client, capsys):
        """Once loaded, the token is scrubbed from every log event."""
        router.get(f"{IMPORTS}/1").respond(200, json={"id": 1})
        client.get_import(1)

        from sis_watcher.core.logs import redactor  # noqa: PLC0415 - the process-wide redactor

        assert redactor.scrub(f"x {TOKEN} y") == "x [redacted] y"

    def test_requests_to_another_origin_are_refused(self, client):
        """The client never sends the token anywhere but canvas.base_url's origin."""
        with pytest.raises(CanvasProtocolError, match="refusing to send the token"):
            client.request("GET", httpx.URL("https://evil.example.com/api"))


class TestResponseCounting:
    def test_each_answer_and_each_failure_is_counted(self, router, client, statuses, zip_path):
        """on_response hears every status code, and `error` for no answer at all."""
        router.get(f"{IMPORTS}/1").respond(200, json={"id": 1})
        router.get(f"{IMPORTS}/2").respond(503)
        router.get(f"{IMPORTS}/3").mock(side_effect=httpx.ConnectError("down"))
        router.post(IMPORTS).respond(422, json={"message": "no"})

        client.get_import(1)
        for call in (
            lambda: client.get_import(2),
            lambda: client.get_import(3),
            lambda: client.create_import(zip_path, params={}),
        ):
            with pytest.raises(CanvasError):
                call()

        assert statuses == ["200", "503", "error", "422"]

    def test_no_listener_is_fine(self, router):
        """Without on_response, requests work the same."""
        router.get(f"{IMPORTS}/1").respond(200, json={"id": 1})
        canvas = make_client()
        try:
            assert canvas.get_import(1) == {"id": 1}
        finally:
            canvas.close()


class TestHelpers:
    def test_whoami_and_account(self, router, client):
        """users/self and the account come back as objects."""
        router.get(f"{BASE}/api/v1/users/self").respond(200, json={"id": 1, "name": "SIS bot"})
        router.get(ACCOUNT).respond(200, json={"id": 2, "name": "School"})

        assert client.whoami() == {"id": 1, "name": "SIS bot"}
        assert client.get_account() == {"id": 2, "name": "School"}

    def test_canvas_message_of_a_json_string(self):
        """A bare JSON string body is Canvas's message."""
        assert (
            canvas_message(httpx.Response(400, content=json.dumps("plain words").encode())) == "plain words"
        )

    def test_retry_after_absent(self):
        """No Retry-After header means no hint."""
        assert retry_after_seconds(httpx.Response(429)) is None
