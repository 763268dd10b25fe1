"""Unit tests for `sis_watcher.canvas.file_upload` with respx: each call and every answer Canvas gives it (§A1)."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.parser import BytesParser
from email.policy import HTTP
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx

from sis_watcher.canvas.client import UPLOAD_CHUNK, CanvasClient
from sis_watcher.canvas.credentials import TokenSource
from sis_watcher.canvas.file_upload import (
    STORAGE_TIMEOUT,
    Confirm,
    Refused,
    Stored,
    confirm_upload,
    create_with_pre_attachment,
    multipart_body,
    on_canvas,
    send_to_storage,
)
from sis_watcher.canvas.preflight import (
    DATE_RESOLUTION,
    DEFAULT_UPLOAD_LIFETIME,
    Preflight,
    Unusable,
    read_preflight,
)
from sis_watcher.core.errors import (
    CanvasAuthProblem,
    CanvasProtocolError,
    CanvasUnavailable,
    LookupRefused,
    Stopping,
    UploadRejected,
)

BASE = "https://canvas.example.edu"
IMPORTS = f"{BASE}/api/v1/accounts/self/sis_imports"
INST_FS = "https://inst-fs.example.com/files"
S3 = "https://bucket.s3.amazonaws.com/"
CONFIRM_URL = f"{BASE}/api/v1/files/77/create_success?uuid=abc"
TOKEN = "7~canvas-secret-token-d41d8cd98f"
NOW = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)


def jwt(claims: dict[str, object]) -> str:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'HS256'})}.{part(claims)}.c2lnbmF0dXJl"


def initializing(**extra: object) -> dict[str, object]:
    return {"id": 41, "workflow_state": "initializing", "progress": 0, **extra}


INST_FS_PREFLIGHT = {
    "upload_url": f"{INST_FS}?token={jwt({'exp': NOW.timestamp() + 600})}",
    "upload_params": {"filename": "batch.zip", "content_type": "application/zip"},
    "file_param": "file",
    "progress": None,
}
POLICY = base64.b64encode(
    json.dumps({"expiration": "2026-12-02T01:30:00Z", "conditions": []}).encode()
).decode()
S3_PREFLIGHT = {
    "upload_url": S3,
    "upload_params": {
        "key": "attachments/77/batch.zip",
        "acl": "private",
        "Policy": POLICY,
        "x-amz-signature": "abc123",
        "success_action_status": 201,
        "success_action_redirect": CONFIRM_URL,
    },
    "file_param": "file",
}


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as mock:
        yield mock


@pytest.fixture
def stopping() -> threading.Event:
    return threading.Event()


@pytest.fixture
def client(router, stopping) -> Iterator[CanvasClient]:
    canvas = CanvasClient(
        base_url=BASE,
        account_id="self",
        token_source=TokenSource(token_file=None, environ={"CANVAS_TOKEN": TOKEN}),
        stopping=stopping,
    )
    yield canvas
    canvas.close()


@pytest.fixture
def zip_path(tmp_path: Path) -> Path:
    path = tmp_path / "batch.zip"
    path.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 9000)  # over two upload chunks
    return path


def preflight(value: Any = INST_FS_PREFLIGHT) -> Preflight:
    found = read_preflight(value, base_url=httpx.URL(BASE + "/"), received_at=NOW, answered_at=None)
    assert isinstance(found, Preflight)
    return found


def create(client: CanvasClient) -> tuple[dict[str, object], Preflight | Unusable]:
    return create_with_pre_attachment(
        client, name="batch.zip", size=12345, params={"override_sis_stickiness": "true"}, now=lambda: NOW
    )


class TestCreate:
    def test_the_create_names_the_file_and_sends_the_options_and_the_token_but_no_body(self, router, client):
        """pre_attachment[name], [size] and [content_type] go in the query with the options; no bytes move."""
        route = router.post(IMPORTS).respond(200, json=initializing(pre_attachment=INST_FS_PREFLIGHT))

        created, found = create(client)

        request = route.calls.last.request
        query = parse_qs(urlsplit(str(request.url)).query)
        assert {
            "import_type": ["instructure_csv"],
            "override_sis_stickiness": ["true"],
            "pre_attachment[name]": ["batch.zip"],
            "pre_attachment[size]": ["12345"],
            "pre_attachment[content_type]": ["application/zip"],
        } == query
        assert b"" == request.content
        assert f"Bearer {TOKEN}" == request.headers["Authorization"]
        assert "initializing" == created["workflow_state"]
        assert isinstance(found, Preflight)
        assert (("filename", "batch.zip"), ("content_type", "application/zip")) == found.upload_params

    def test_an_inst_fs_upload_expires_with_its_jwt(self, router, client):
        """The inst-fs JWT's `exp` is the upload's expiry."""
        router.post(IMPORTS).respond(200, json=initializing(pre_attachment=INST_FS_PREFLIGHT))

        _created, found = create(client)

        assert isinstance(found, Preflight)
        assert NOW + timedelta(minutes=10) == found.expires_at
        assert "file" == found.file_param
        assert "token" not in repr(found)
        assert found.storage_tells_canvas is True  # inst-fs calls Canvas's files/capture itself

    def test_an_s3_upload_expires_with_its_policy_and_keeps_its_values_as_sent(self, router, client):
        """An S3 policy's `expiration` is the expiry; a number parameter is sent as its JSON text."""
        router.post(IMPORTS).respond(200, json=initializing(pre_attachment=S3_PREFLIGHT))

        _created, found = create(client)

        assert isinstance(found, Preflight)
        assert datetime(2026, 12, 2, 1, 30, tzinfo=UTC) == found.expires_at
        assert ("success_action_status", "201") in found.upload_params
        assert found.storage_tells_canvas is False  # a signed POST policy: only our confirmation tells Canvas

    @pytest.mark.parametrize(
        "upload_url",
        [
            "https://storage.example.com/up?token=not-a-jwt",
            f"https://storage.example.com/up?token={jwt({'sub': 'no exp'})}",
            "https://storage.example.com/up?token=a.bm90IGpzb24.c",
        ],
    )
    def test_without_a_readable_expiry_the_shortest_canvas_lifetime_is_assumed(self, upload_url):
        """No JWT `exp` and no policy: ten minutes from the create, the shortest life Canvas gives."""
        bad_policy = base64.b64encode(b'{"expiration": "soon"}').decode()
        found = preflight({"upload_url": upload_url, "upload_params": {"Policy": bad_policy}})

        assert NOW + DEFAULT_UPLOAD_LIFETIME == found.expires_at
        assert "file" == found.file_param

    def test_a_policy_expiration_without_a_zone_is_utc(self):
        """An S3 expiration without an offset is read as UTC."""
        policy = base64.b64encode(b'{"expiration": "2026-12-02T01:20:00"}').decode()

        found = preflight({"upload_url": S3, "upload_params": {"policy": policy}})

        assert datetime(2026, 12, 2, 1, 20, tzinfo=UTC) == found.expires_at

    def test_an_answer_without_pre_attachment_means_the_instance_lacks_the_flow(self, router, client):
        """An older Canvas ignores the key and answers an ordinary import: no preflight."""
        router.post(IMPORTS).respond(200, json={"id": 42, "workflow_state": "created"})

        created, found = create(client)

        assert (42, True) == (created["id"], isinstance(found, Unusable) and found.go_direct)

    @pytest.mark.parametrize("local_offset", [timedelta(minutes=-11), timedelta(minutes=11)])
    def test_the_expiry_is_the_upload_lifetime_counted_on_the_local_clock(self, router, client, local_offset):
        """A local clock 11 minutes off Canvas's: the JWT's lifetime (exp minus `Date`) counts from receipt."""
        canvas_now = NOW - local_offset
        answer = initializing(
            pre_attachment={
                **INST_FS_PREFLIGHT,
                "upload_url": f"{INST_FS}?token={jwt({'exp': canvas_now.timestamp() + 600})}",
            }
        )
        router.post(IMPORTS).respond(
            200, json=answer, headers={"Date": format_datetime(canvas_now, usegmt=True)}
        )

        _created, found = create(client)

        assert isinstance(found, Preflight)
        assert NOW + timedelta(minutes=10) - DATE_RESOLUTION == found.expires_at

    def test_an_unreadable_date_header_trusts_the_local_clock(self, router, client):
        """Without a usable `Date` the expiry is the JWT's `exp` as it is."""
        router.post(IMPORTS).respond(
            200, json=initializing(pre_attachment=INST_FS_PREFLIGHT), headers={"Date": "yesterday"}
        )

        _created, found = create(client)

        assert isinstance(found, Preflight)
        assert NOW + timedelta(minutes=10) == found.expires_at

    @pytest.mark.parametrize(
        "body",
        [
            {"error": True, "error_message": "Cannot specify both attachment and pre_attachment"},
            {"message": "invalid on_duplicate option"},
            {"message": "Invalid diffing_drop_status"},
        ],
    )
    def test_a_400_is_a_refused_upload_with_canvas_words(self, router, client, body):
        """Canvas's 400s to the create (§A1) refuse the batch, in Canvas's words."""
        router.post(IMPORTS).respond(400, json=body)

        with pytest.raises(UploadRejected) as caught:
            create(client)

        assert next(iter(value for value in body.values() if isinstance(value, str))) in str(caught.value)

    def test_a_5xx_may_have_made_an_import(self, router, client):
        """A gateway error after the create was sent leaves the outcome unknown."""
        router.post(IMPORTS).respond(502)

        with pytest.raises(CanvasUnavailable) as caught:
            create(client)

        assert caught.value.request_may_have_arrived is True

    def test_an_answer_without_an_id_is_a_protocol_error(self, router, client):
        """No id: nothing to record or abort."""
        router.post(IMPORTS).respond(200, json={"workflow_state": "initializing"})

        with pytest.raises(CanvasProtocolError, match="has no id"):
            create(client)

    @pytest.mark.parametrize(
        ("value", "match"),
        [
            ({"upload_params": {}}, "no upload_url"),
            ({"upload_url": INST_FS, "upload_params": []}, "not an object"),
            ({"upload_url": "ftp://storage.example.com/x"}, "not a web address"),
            ({"upload_url": "https://[::1/x"}, "not a URL"),
        ],
    )
    def test_a_malformed_preflight_is_unusable_and_the_zip_goes_direct(self, router, client, value, match):
        """No upload_url, odd params, an address that is not http(s): this instance's flow cannot be used."""
        router.post(IMPORTS).respond(200, json=initializing(pre_attachment=value))

        _created, found = create(client)

        assert isinstance(found, Unusable)
        assert found.go_direct is True
        assert match in found.reason

    def test_plain_http_to_a_remote_storage_host_is_refused_for_good(self, router, client):
        """The zip is never sent unencrypted, and a direct POST is no remedy: the batch is to fail, saying why."""
        router.post(IMPORTS).respond(
            200, json=initializing(pre_attachment={"upload_url": "http://storage.example.com/up"})
        )

        _created, found = create(client)

        assert (
            Unusable(
                "Canvas's file storage (storage.example.com) takes uploads over plain http only; "
                "the zip is not sent unencrypted",
                go_direct=False,
            )
            == found
        )

    def test_plain_http_to_a_loopback_storage_host_is_allowed(self):
        """The https-only rule's one exception is loopback (the simulator)."""
        found = preflight({"upload_url": "http://127.0.0.1:8080/up", "upload_params": {}, "file_param": ""})

        assert "http://127.0.0.1:8080/up" == found.upload_url


def parsed_form(request: httpx.Request) -> list[tuple[Any, Any, Any]]:
    """Return the multipart body's parts as (name, filename, content) in order."""
    head = f"Content-Type: {request.headers['Content-Type']}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + request.content)
    return [
        (
            part.get_param("name", header="content-disposition"),
            part.get_filename(),
            part.get_payload(decode=True),
        )
        for part in message.iter_parts()
    ]


class TestSendToStorage:
    def test_the_params_go_first_unchanged_the_file_last_and_no_token(self, router, client, zip_path):
        """The multipart body: every upload_params entry in order and byte for byte, then the file; no Authorization."""
        route = router.post(S3).respond(303, headers={"Location": CONFIRM_URL})

        answer = send_to_storage(client, preflight(S3_PREFLIGHT), zip_path)

        request = route.calls.last.request
        assert "Authorization" not in request.headers
        assert str(len(request.content)) == request.headers["Content-Length"]
        parts = parsed_form(request)
        params: Any = S3_PREFLIGHT["upload_params"]
        expected = [(key, None, str(value).encode()) for key, value in params.items()]
        assert expected == parts[:-1]
        assert ("file", "batch.zip", zip_path.read_bytes()) == parts[-1]
        assert Confirm(CONFIRM_URL) == answer

    def test_inst_fs_answers_201_and_nothing_is_left_to_confirm(self, router, client, zip_path):
        """inst-fs tells Canvas itself: a 201 is the end of the upload."""
        router.post(INST_FS).respond(201, json={"id": 77, "location": f"{BASE}/api/v1/files/77"})

        assert Stored(201) == send_to_storage(client, preflight(), zip_path)

    def test_a_location_off_canvas_is_a_permanent_refusal(self, router, client, zip_path):
        """A relative Location resolves on the storage host: not Canvas, so the token is not sent there, ever."""
        router.post(S3).respond(302, headers={"Location": "/done?x=1"})

        answer = send_to_storage(client, preflight(S3_PREFLIGHT), zip_path)

        assert (
            Refused(
                302,
                "file storage sent the confirmation to bucket.s3.amazonaws.com, not Canvas",
                permanent=True,
            )
            == answer
        )

    @pytest.mark.parametrize("status", [400, 401, 403])
    def test_a_4xx_is_a_refusal_in_s3_code_only(self, router, client, zip_path, status):
        """S3's refusal echoes the signed policy and its signature: only the status and `<Code>` are kept."""
        router.post(S3).respond(
            status,
            content=b"<Error><Code>SignatureDoesNotMatch</Code><Message>no</Message>"
            b"<StringToSign>eyJleHBpcmF0aW9uIjoi</StringToSign><SignatureProvided>abc123</SignatureProvided></Error>",
        )

        answer = send_to_storage(client, preflight(S3_PREFLIGHT), zip_path)

        assert Refused(status, f"HTTP {status}: SignatureDoesNotMatch") == answer

    def test_an_inst_fs_refusal_keeps_its_message(self, router, client, zip_path):
        """inst-fs answers JSON: its `message` is kept, nothing else."""
        router.post(INST_FS).respond(401, json={"message": "token expired", "token": "eyJ.secret"})

        assert Refused(401, "HTTP 401: token expired") == send_to_storage(client, preflight(), zip_path)

    def test_a_refusal_without_words_is_its_status(self, router, client, zip_path):
        """Neither S3 XML nor inst-fs JSON: the status alone."""
        router.post(INST_FS).respond(413, content=b"<html>Request Entity Too Large</html>")

        assert Refused(413, "HTTP 413") == send_to_storage(client, preflight(), zip_path)

    def test_the_storage_post_waits_long_for_its_answer(self, router, client, zip_path):
        """Storage answers once it has kept the whole body: the POST's read timeout is its own, not canvas.timeout_seconds."""
        route = router.post(INST_FS).respond(201)

        send_to_storage(client, preflight(), zip_path)

        timeout = route.calls.last.request.extensions["timeout"]
        assert (
            (600.0, 15.0)
            == (timeout["read"], timeout["connect"])
            == (STORAGE_TIMEOUT.read, STORAGE_TIMEOUT.connect)
        )

    def test_a_read_timeout_means_the_file_may_be_stored(self, router, client, zip_path):
        """The body went out and no answer came: storage may keep it and tell Canvas."""
        router.post(INST_FS).mock(side_effect=httpx.ReadTimeout("slow"))

        with pytest.raises(CanvasUnavailable) as caught:
            send_to_storage(client, preflight(), zip_path)

        assert caught.value.request_may_have_arrived is True
        assert "connection to file storage (inst-fs.example.com) failed (ReadTimeout)" == str(caught.value)

    def test_a_5xx_is_unavailable_and_the_file_may_be_stored(self, router, client, zip_path):
        """Storage failing after the body went out: the outcome is unknown."""
        router.post(INST_FS).respond(503)

        with pytest.raises(CanvasUnavailable) as caught:
            send_to_storage(client, preflight(), zip_path)

        assert caught.value.request_may_have_arrived is True
        assert 503 == caught.value.status_code

    def test_no_connection_means_nothing_arrived(self, router, client, zip_path):
        """A refused connection proves the file never left."""
        router.post(INST_FS).mock(side_effect=httpx.ConnectError("refused"))

        with pytest.raises(CanvasUnavailable) as caught:
            send_to_storage(client, preflight(), zip_path)

        assert caught.value.request_may_have_arrived is False
        assert "cannot reach file storage (inst-fs.example.com: ConnectError)" == str(caught.value)

    def test_shutdown_interrupts_the_body(self, router, client, zip_path, stopping):
        """A stop request while the zip is read ends the upload (`Stopping`)."""
        router.post(INST_FS).respond(201)
        stopping.set()

        with pytest.raises(Stopping):
            send_to_storage(client, preflight(), zip_path)


class TestConfirm:
    def test_the_confirmation_carries_the_token_to_canvas(self, router, client):
        """create_success is asked on Canvas's origin with the Bearer token."""
        route = router.get(CONFIRM_URL).respond(200, json={"id": 77, "upload_status": "success"})

        assert confirm_upload(client, CONFIRM_URL, repeat=False) is True

        assert f"Bearer {TOKEN}" == route.calls.last.request.headers["Authorization"]

    @pytest.mark.parametrize("repeat", [False, True])
    def test_a_400_means_the_file_is_no_longer_pending(self, router, client, repeat):
        """Canvas's empty 400: nothing to confirm on a first try; on a repeat, the first one took effect."""
        router.get(CONFIRM_URL).respond(400, content=b"")

        assert confirm_upload(client, CONFIRM_URL, repeat=repeat) is repeat

    def test_another_refusal_is_raised(self, router, client):
        """An unknown file (404) is not a confirmation."""
        router.get(CONFIRM_URL).respond(
            404, json={"errors": [{"message": "The specified resource does not exist."}]}
        )

        with pytest.raises(CanvasAuthProblem):
            confirm_upload(client, CONFIRM_URL, repeat=False)

    def test_a_422_is_a_refused_lookup(self, router, client):
        """A 4xx other than 400 is raised as the look-up it is."""
        router.get(CONFIRM_URL).respond(422, json={"message": "no"})

        with pytest.raises(LookupRefused):
            confirm_upload(client, CONFIRM_URL, repeat=False)

    def test_the_token_never_goes_to_another_host(self, router, client):
        """A confirmation URL off Canvas's origin is refused before anything is sent."""
        with pytest.raises(CanvasProtocolError, match="another host"):
            confirm_upload(client, "https://bucket.s3.amazonaws.com/create_success?uuid=abc", repeat=False)

    @pytest.mark.parametrize(
        ("url", "expected"),
        [
            (CONFIRM_URL, True),
            ("https://bucket.s3.amazonaws.com/create_success?uuid=abc", False),
            ("https://[x", False),
        ],
        ids=["canvas", "another-host", "not-a-url"],
    )
    def test_only_canvas_own_origin_may_get_a_confirmation(self, client, url, expected):
        """`on_canvas`: a recorded confirmation URL is asked only on canvas.base_url's origin."""
        assert expected is on_canvas(client, url)

    def test_shutdown_skips_the_confirmation(self, client, stopping):
        """A stop request before the confirmation raises `Stopping`."""
        stopping.set()

        with pytest.raises(Stopping):
            confirm_upload(client, CONFIRM_URL, repeat=False)


class TestBody:
    def test_the_body_is_read_from_disk_a_chunk_at_a_time(self, client, tmp_path):
        """A 5 MiB zip goes out in pieces of at most 1 MiB: the upload's memory does not grow with the zip."""
        big = tmp_path / "big.zip"
        big.write_bytes(b"z" * (5 * UPLOAD_CHUNK + 7))

        length, pieces = multipart_body(client, preflight(), big, boundary="b")
        sizes = [len(piece) for piece in pieces]

        assert length == sum(sizes)
        assert UPLOAD_CHUNK == max(sizes)
        assert len(sizes) >= 8

    def test_on_sent_is_called_once_the_last_piece_was_handed_over(self, client, tmp_path):
        """`on_sent` comes after the tail went out, never before: from then on storage may keep the file."""
        big = tmp_path / "big.zip"
        big.write_bytes(b"z" * (2 * UPLOAD_CHUNK + 1))
        seen: list[str] = []

        _length, pieces = multipart_body(
            client, preflight(), big, boundary="b", on_sent=lambda: seen.append("sent")
        )
        seen.extend("tail" if piece.endswith(b"--b--\r\n") else "piece" for piece in pieces)

        assert ["piece"] * 4 + ["tail", "sent"] == seen

    def test_a_body_cut_short_by_shutdown_never_calls_on_sent(self, client, tmp_path, stopping):
        """Stopped between two chunks of the zip: `Stopping`, and the body never counts as sent."""
        big = tmp_path / "big.zip"
        big.write_bytes(b"z" * (2 * UPLOAD_CHUNK + 1))
        sent: list[bool] = []
        _length, pieces = multipart_body(
            client, preflight(), big, boundary="b", on_sent=lambda: sent.append(True)
        )

        next(pieces)
        next(pieces)
        stopping.set()

        with pytest.raises(Stopping):
            list(pieces)

        assert [] == sent
