"""The simulator's `pre_attachment` flow (docs/canvas.md §A1): the create, both storage styles, refusals, faults."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from sis_watcher.simulator.canvas import CanvasSimulator, SimulatorSettings
from sis_watcher.simulator.model.faults import FaultKind

from unit.simulator.helpers import TOKEN, zip_bytes

USERS = b"user_id,login_id,status\nu1,jdoe,active\n"
CONTENT = zip_bytes({"users.csv": USERS})
PRE = {
    "import_type": "instructure_csv",
    "pre_attachment[name]": "batch.zip",
    "pre_attachment[size]": str(len(CONTENT)),
}
IMPORTS = "/api/v1/accounts/self/sis_imports"


def create(client: httpx.Client, **extra: str) -> dict[str, Any]:
    response = client.post(IMPORTS, params={**PRE, **extra})
    assert response.status_code == 200, response.text
    return dict(response.json())


def send(
    preflight: dict[str, Any],
    *,
    params: dict[str, Any] | None = None,
    file_field: str = "file",
    content: bytes = CONTENT,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """POST the upload to storage as a client would (the params, then the file)."""
    fields = preflight["upload_params"] if params is None else params
    with httpx.Client(timeout=10, headers=headers or {}) as storage:
        return storage.post(preflight["upload_url"], data=fields, files={file_field: ("batch.zip", content)})


def state(sim: CanvasSimulator, import_id: int) -> str:
    return str((sim.import_json(import_id) or {}).get("workflow_state"))


class TestCreate:
    def test_the_create_waits_initializing_and_answers_an_inst_fs_preflight(self, sim, client):
        """The import is `initializing` with no job; the preflight is inst-fs's: a JWT URL, filename, content_type."""
        body = create(client, **{"pre_attachment[content_type]": "application/zip"})

        preflight = body["pre_attachment"]
        assert "initializing" == body["workflow_state"]
        assert "token=" in preflight["upload_url"]
        assert {"filename": "batch.zip", "content_type": "application/zip"} == preflight["upload_params"]
        assert ("file", None) == (preflight["file_param"], preflight["progress"])
        assert [] == sim.uploads

    def test_the_key_may_come_in_a_json_body(self, sim, client):
        """`{"pre_attachment": {...}}` as JSON works like the query form; JSON options are stored."""
        body = {
            "import_type": "instructure_csv",
            "override_sis_stickiness": True,
            "pre_attachment": {"name": "b.zip"},
        }
        response = client.post(
            IMPORTS, content=json.dumps(body), headers={"Content-Type": "application/json"}
        )

        assert 200 == response.status_code
        assert "initializing" == response.json()["workflow_state"]
        assert response.json()["override_sis_stickiness"] is True
        assert "upload_url" in response.json()["pre_attachment"]

    def test_an_empty_pre_attachment_in_json_still_chooses_the_flow(self, sim, client):
        """The key's presence chooses the flow (`params.key?`), even with nothing in it."""
        response = client.post(
            IMPORTS, content=b'{"pre_attachment": null}', headers={"Content-Type": "application/json"}
        )

        assert "sis_import.zip" == response.json()["pre_attachment"]["upload_params"]["filename"]

    def test_a_json_body_without_the_key_is_an_ordinary_create(self, sim, client):
        """A JSON body without `pre_attachment` is a raw upload as before (the body is the file)."""
        response = client.post(IMPORTS, content=b"[1]", headers={"Content-Type": "application/json"})

        assert "pre_attachment" not in response.json()

    def test_both_attachment_and_pre_attachment_are_400(self, sim, client):
        """A multipart file plus `pre_attachment` is refused, and nothing is created."""
        response = client.post(IMPORTS, params=PRE, files={"attachment": ("users.csv", USERS)})

        assert 400 == response.status_code
        assert {
            "error": True,
            "error_message": "Cannot specify both attachment and pre_attachment",
        } == response.json()
        assert [] == sim.imports

    def test_a_form_without_a_file_and_an_invalid_json_body_are_no_attachment(self, sim, client):
        """Only a file is an `attachment`: a multipart form of fields still chooses the flow; bad JSON is a raw body."""
        form = client.post(IMPORTS, params=PRE, files={"other": (None, b"x")})
        raw = client.post(IMPORTS, content=b"{not json", headers={"Content-Type": "application/json"})

        assert "initializing" == form.json()["workflow_state"]
        assert "pre_attachment" not in raw.json()
        assert [9] == [upload.size for upload in sim.uploads]

    def test_an_invalid_on_duplicate_is_400_and_leaves_an_initializing_row(self, sim, client):
        """The preflight runs after the row is saved: its 400 leaves an orphan `initializing` import."""
        response = client.post(IMPORTS, params={**PRE, "pre_attachment[on_duplicate]": "explode"})

        assert (400, {"message": "invalid on_duplicate option"}) == (response.status_code, response.json())
        assert ["initializing"] == [item["workflow_state"] for item in sim.imports]

    def test_an_option_refusal_is_answered_before_any_preflight(self, sim, client):
        """Invalid options are refused like a direct create; the multi-term trap leaves its orphan."""
        refused = client.post(IMPORTS, params={**PRE, "diffing_drop_status": "bogus"})
        trapped = client.post(IMPORTS, params={**PRE, "multi_term_batch_mode": "true"})

        assert (400, {"message": "Invalid diffing_drop_status"}) == (refused.status_code, refused.json())
        assert 400 == trapped.status_code
        assert ["initializing"] == [item["workflow_state"] for item in sim.imports]

    def test_an_instance_without_the_flow_ignores_the_key_and_takes_the_empty_body(self, make_sim):
        """An older Canvas answers no `pre_attachment`; the import it made is of the empty body."""
        sim = make_sim(pre_attachment_supported=False)
        with httpx.Client(base_url=sim.url, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
            body = create(client)

        assert "pre_attachment" not in body
        assert [0] == [upload.size for upload in sim.uploads]


class TestInstFs:
    def test_a_good_upload_is_201_and_the_import_gets_the_file_at_once(self, sim, client):
        """inst-fs answers 201 and tells Canvas: the import is `created`, recorded once, no token seen."""
        body = create(client)

        response = send(body["pre_attachment"])

        assert 201 == response.status_code
        assert response.headers["Location"].startswith(sim.url)
        [received] = sim.uploads
        assert ("pre_attachment", len(CONTENT), body["id"]) == (
            received.method,
            received.size,
            received.import_id,
        )
        assert "imported" == sim.wait_for_state(body["id"])["workflow_state"]
        [record] = sim.storage_uploads
        assert (201, False, True) == (record.status, record.authorization_sent, record.stored)

    def test_a_token_sent_to_storage_is_recorded_as_a_leak(self, sim, client):
        """Storage is not Canvas: an Authorization header there is recorded, also for the control endpoint."""
        send(create(client)["pre_attachment"], headers={"Authorization": f"Bearer {TOKEN}"})

        assert [True] == [record.authorization_sent for record in sim.storage_uploads]
        listed = httpx.get(f"{sim.url}/__simulator__/storage_uploads").json()
        assert [(True, 201)] == [(record["authorization_sent"], record["status"]) for record in listed]

    @pytest.mark.parametrize(
        ("change", "status", "reason"),
        [
            ({"params": {"filename": "other.zip", "content_type": "application/zip"}}, 401, "altered"),
            ({"params": {"filename": "batch.zip"}}, 401, "altered"),
            ({"file_field": "attachment"}, 400, "`file` field"),
        ],
    )
    def test_an_edited_upload_is_refused_and_nothing_attached(self, sim, client, change, status, reason):
        """Signed uploads: an edited or missing parameter, or the file in another field, is refused."""
        body = create(client, **{"pre_attachment[content_type]": "application/zip"})

        response = send(body["pre_attachment"], **change)

        assert status == response.status_code
        assert reason in response.json()["message"]
        assert "initializing" == state(sim, body["id"])
        assert [] == sim.uploads

    def test_a_field_after_the_file_is_refused(self, sim, client):
        """The file must be the last field."""
        preflight = create(client)["pre_attachment"]
        boundary = "b0undary"
        parts = [*preflight["upload_params"].items()]
        body = b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode()
            for key, value in parts[:1]
        )
        body += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="b.zip"\r\n\r\n'.encode()
        )
        body += CONTENT + b"\r\n"
        body += f'--{boundary}\r\nContent-Disposition: form-data; name="{parts[1][0]}"\r\n\r\n{parts[1][1]}\r\n'.encode()
        body += f"--{boundary}--\r\n".encode()
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}

        response = httpx.post(preflight["upload_url"], content=body, headers=headers)

        assert (400, "the file must be the last field") == (response.status_code, response.json()["message"])

    def test_a_forged_token_an_unknown_path_and_a_non_multipart_body_are_refused(self, sim, client):
        """Storage refuses what no preflight announced."""
        preflight = create(client)["pre_attachment"]
        forged = {**preflight, "upload_url": preflight["upload_url"][:-4] + "AAAA"}
        base = sim.storage_url

        assert 403 == send(forged).status_code
        assert 404 == httpx.post(f"{base}/uploads/elsewhere", content=b"x").status_code
        assert 400 == httpx.post(preflight["upload_url"], content=b"x").status_code
        broken = {"Content-Type": "multipart/form-data; boundary=zz"}
        assert (
            400 == httpx.post(preflight["upload_url"], content=b"--zz\r\nno end", headers=broken).status_code
        )

    def test_a_token_that_is_not_a_jwt_and_a_form_without_a_policy_are_refused(self, sim, client, make_sim):
        """Neither style stores what it cannot verify."""
        preflight = create(client)["pre_attachment"]
        not_jwt = {**preflight, "upload_url": preflight["upload_url"].split("?")[0] + "?token=nope"}
        s3 = make_sim(upload_style="s3")

        assert 403 == send(not_jwt).status_code
        assert (
            403
            == send({"upload_url": f"{s3.storage_url}/uploads/s3", "upload_params": {"key": "k"}}).status_code
        )

    def test_an_import_stuck_initializing_stays_so_after_its_upload(self, sim, client):
        """The stuck fault holds a pre_attachment import too: the file lands, the import never moves."""
        sim.faults.add(kind=FaultKind.STUCK_INITIALIZING, method="POST", path="sis_imports")
        body = create(client)

        assert 201 == send(body["pre_attachment"]).status_code
        assert "initializing" == state(sim, body["id"])

    def test_a_second_upload_to_the_same_token_is_refused(self, sim, client):
        """One preflight, one file."""
        preflight = create(client)["pre_attachment"]
        send(preflight)

        assert 400 == send(preflight).status_code
        assert 1 == len(sim.uploads)

    def test_an_expired_token_is_401(self, make_sim):
        """The JWT's life is a setting (10 minutes in Canvas): past it, storage refuses."""
        sim = make_sim(upload_jwt_seconds=-1.0)
        with httpx.Client(base_url=sim.url, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
            response = send(create(client)["pre_attachment"])

        assert (401, "the upload has expired") == (response.status_code, response.json()["message"])

    def test_an_unusable_or_empty_file_fails_the_import_with_file_upload_failed(self, sim, client):
        """Canvas's callback with a file that is not available: `failed`, "File upload failed"."""
        sim.faults.add(kind=FaultKind.UNUSABLE_FILE, path="^/uploads/")
        first = create(client)
        second = create(client)

        send(first["pre_attachment"])
        send(second["pre_attachment"], content=b"")

        for body in (first, second):
            final = sim.import_json(body["id"]) or {}
            assert ("failed", "File upload failed") == (
                final["workflow_state"],
                final["data"]["error_message"],
            )
        assert [] == sim.uploads

    def test_a_file_for_an_aborted_import_revives_it_as_canvas_does(self, sim, client):
        """MODEL2's callback does not look at the state: the aborted import becomes `created` and runs."""
        body = create(client)
        client.put(f"{IMPORTS}/{body['id']}/abort")

        assert 201 == send(body["pre_attachment"]).status_code
        sim.wait_until(lambda: state(sim, body["id"]) == "imported")
        assert [body["id"]] == [upload.import_id for upload in sim.uploads]

    def test_a_late_capture_hangs_up_and_tells_canvas_later(self, sim, client):
        """`late_capture`: storage keeps the file and hangs up; the import gets it `delay_seconds` later."""
        sim.faults.add(kind=FaultKind.LATE_CAPTURE, delay_seconds=0.3, path="^/uploads/")
        body = create(client)

        with pytest.raises(httpx.RemoteProtocolError):
            send(body["pre_attachment"])

        assert "initializing" == state(sim, body["id"])
        sim.wait_until(lambda: state(sim, body["id"]) not in ("initializing", "created"))
        assert [True] == [record.stored for record in sim.storage_uploads]

    def test_upload_urls_can_name_a_remote_host(self):
        """`upload_host`: the preflight names that host (a client must then refuse plain http)."""
        with CanvasSimulator(
            token=TOKEN, settings=SimulatorSettings(upload_host="storage.example.com")
        ) as other:
            with httpx.Client(base_url=other.url, headers={"Authorization": f"Bearer {TOKEN}"}) as remote:
                url = httpx.URL(create(remote)["pre_attachment"]["upload_url"])

        assert ("http", "storage.example.com") == (url.scheme, url.host)

    def test_faults_apply_at_storage(self, sim, client):
        """A refusal fault answers without storing; a process-first one stores, then fails; slow ones wait."""
        sim.faults.add(kind=FaultKind.STATUS, status=503, path="^/uploads/")
        first = create(client)
        assert 503 == send(first["pre_attachment"]).status_code
        assert "initializing" == state(sim, first["id"])

        sim.faults.add(kind=FaultKind.STATUS, status=502, path="^/uploads/", process_first=True)
        assert 502 == send(first["pre_attachment"]).status_code
        assert "initializing" != state(sim, first["id"])

        sim.faults.add(kind=FaultKind.SLOW, delay_seconds=0.01, path="^/uploads/")
        second = create(client)
        assert 201 == send(second["pre_attachment"]).status_code
        assert ["fault status", None, None] == [record.reason for record in sim.storage_uploads]

    def test_reset_forgets_announced_uploads(self, sim, client):
        """After a reset, an old preflight is unknown."""
        preflight = create(client)["pre_attachment"]
        sim.reset()

        assert 403 == send(preflight).status_code


class TestS3:
    @pytest.fixture
    def s3(self, make_sim):
        return make_sim(upload_style="s3", pickup_delay_seconds=0.0, min_import_seconds=0.02)

    def test_storage_redirects_and_only_the_confirmation_with_the_token_attaches(self, s3):
        """303 to create_success; the import waits until Canvas is asked with the token; a repeat is an empty 400."""
        with httpx.Client(base_url=s3.url, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
            body = create(client)
            preflight = body["pre_attachment"]
            assert {"key", "acl", "Policy", "x-amz-signature", "success_action_redirect"} == set(
                preflight["upload_params"]
            )
            stored = send(preflight)
            location = stored.headers["Location"]
            assert 303 == stored.status_code
            assert "initializing" == state(s3, body["id"])
            assert 401 == httpx.get(location).status_code  # the token is needed
            confirmed = client.get(location)
            again = client.post(location)
            wrong = client.get(location.replace("uuid=", "uuid=x"))

        assert (200, "success") == (confirmed.status_code, confirmed.json()["upload_status"])
        assert (400, b"") == (again.status_code, again.content)
        assert 404 == wrong.status_code
        assert "imported" == s3.wait_for_state(body["id"])["workflow_state"]
        assert ["pre_attachment"] == [upload.method for upload in s3.uploads]

    def test_an_altered_policy_field_and_an_expired_policy_are_403(self, s3, make_sim):
        """S3 refuses with its XML AccessDenied: a changed signed field, an expired policy."""
        with httpx.Client(base_url=s3.url, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
            preflight = create(client)["pre_attachment"]
        altered = send(preflight, params={**preflight["upload_params"], "acl": "public-read"})
        expired_sim = make_sim(upload_style="s3", upload_policy_seconds=-1.0)
        with httpx.Client(base_url=expired_sim.url, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
            expired = send(create(client)["pre_attachment"])

        assert (403, "application/xml") == (altered.status_code, altered.headers["Content-Type"])
        assert b"altered" in altered.content
        assert b"expired" in expired.content
