"""How the simulator receives uploads and echoes create parameters (docs/canvas.md §1.1, §2.1)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator

import httpx
import pytest

from sis_watcher.simulator.canvas import CanvasSimulator

from unit.simulator.helpers import DOCS, TOKEN, upload, zip_bytes

USERS = (DOCS / "users.csv").read_bytes()
IMPORTS = "/api/v1/accounts/self/sis_imports"


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("application/zip", "sis_import.zip"),
        ("application/octet-stream", "sis_import.zip"),
        ("text/csv", "sis_import.csv"),
        ("text/plain; charset=utf-8", "sis_import.csv"),
        ("text/xml", "sis_import.xml"),
        (None, "sis_import.zip"),
    ],
)
def test_raw_body_is_named_by_content_type(
    sim: CanvasSimulator, client: httpx.Client, content_type: str | None, expected: str
) -> None:
    """Without `extension`, the media type names the stored file (docs/canvas.md §1.1)."""
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post(IMPORTS, content=b"data", headers=headers)

    assert response.status_code == 200
    assert sim.uploads[0].file_name == expected


def test_extension_wins_over_content_type_and_skips_charset_check(
    sim: CanvasSimulator, client: httpx.Client
) -> None:
    """With `extension`, neither the media type nor its charset matters (docs/canvas.md §1.1)."""
    headers = {"Content-Type": "text/csv; charset=latin1"}
    response = client.post(IMPORTS, params={"extension": "csv"}, content=USERS, headers=headers)

    assert response.status_code == 200
    assert sim.uploads[0].file_name == "sis_import.csv"


def test_upload_record_has_body_hash_size_and_params(sim: CanvasSimulator, client: httpx.Client) -> None:
    """Each created import records the body's sha256, size, parameters and content type."""
    body = zip_bytes({"users.csv": USERS})
    response = upload(client, body, skip_deletes="true")

    record = sim.uploads[0]
    assert record.import_id == response.json()["id"]
    assert record.sha256 == hashlib.sha256(body).hexdigest()
    assert record.size == len(body)
    assert record.params == {"extension": "zip", "skip_deletes": "true"}


def test_chunked_upload_is_received(sim: CanvasSimulator, client: httpx.Client) -> None:
    """A chunked (streamed, no Content-Length) body arrives whole."""
    body = zip_bytes({"users.csv": USERS})

    def pieces() -> Iterator[bytes]:
        for start in range(0, len(body), 7):
            yield body[start : start + 7]

    response = client.post(IMPORTS, params={"extension": "zip"}, content=pieces())
    final = sim.wait_for_state(response.json()["id"])

    assert sim.uploads[0].size == len(body)
    assert final["workflow_state"] == "imported"


def test_multipart_attachment_keeps_client_file_name(sim: CanvasSimulator, client: httpx.Client) -> None:
    """A multipart upload stores the client's filename and takes form fields as parameters."""
    body = zip_bytes({"users.csv": USERS})
    files: dict[str, tuple[str, bytes, str]] = {
        "attachment": ("export.zip", body, "application/zip"),
        "ignored": ("x.bin", b"x", "application/octet-stream"),
    }
    response = client.post(IMPORTS, data={"import_type": "instructure_csv", "skip_deletes": "1"}, files=files)
    final = sim.wait_for_state(response.json()["id"])

    assert response.json()["skip_deletes"] is True
    assert sim.uploads[0].file_name == "export.zip"
    assert sim.uploads[0].size == len(body)
    assert final["workflow_state"] == "imported"


def test_broken_multipart_is_400(sim: CanvasSimulator, client: httpx.Client) -> None:
    """A multipart body without its closing boundary is refused and creates nothing."""
    headers = {"Content-Type": "multipart/form-data; boundary=XYZ"}
    response = client.post(
        IMPORTS, content=b"--XYZ\r\nContent-Disposition: form-data; name=a\r\n\r\nvalue", headers=headers
    )

    assert response.status_code == 400
    assert sim.uploads == []


def test_unknown_import_type_is_500(sim: CanvasSimulator, client: httpx.Client) -> None:
    """An import_type other than instructure_csv raises in Canvas, a 500 (docs/canvas.md §1.1)."""
    response = upload(client, b"x", import_type="other")

    assert response.status_code == 500
    assert response.json()["errors"][0]["message"] == "An error occurred."


def test_unset_options_echo_as_canvas_shapes_them(sim: CanvasSimulator, client: httpx.Client) -> None:
    """Unset options are null, skip_deletes and update_sis_id_if_login_claimed false (§2.1, §6.1)."""
    body = upload(client, zip_bytes({"users.csv": USERS})).json()

    assert list(body)[:8] == [
        "id",
        "created_at",
        "started_at",
        "ended_at",
        "updated_at",
        "progress",
        "workflow_state",
        "data",
    ]
    assert body["progress"] == 0
    assert body["workflow_state"] == "created"
    assert body["data"] == {"import_type": "instructure_csv"}
    for name in (
        "batch_mode",
        "batch_mode_term_id",
        "multi_term_batch_mode",
        "override_sis_stickiness",
        "change_threshold",
    ):
        assert body[name] is None
    assert body["skip_deletes"] is False
    assert body["update_sis_id_if_login_claimed"] is False
    assert "csv_attachments" not in body
    assert body["user"]["id"] == 1


def test_stickiness_options_only_with_override(sim: CanvasSimulator, client: httpx.Client) -> None:
    """add/clear_sis_stickiness are stored only when override_sis_stickiness is true (§1.1)."""
    without = upload(client, b"x", add_sis_stickiness="true").json()
    with_override = upload(
        client, b"x", override_sis_stickiness="true", add_sis_stickiness="1", clear_sis_stickiness="yes"
    ).json()

    assert without["add_sis_stickiness"] is None
    assert with_override["override_sis_stickiness"] is True
    assert with_override["add_sis_stickiness"] is True
    assert with_override["clear_sis_stickiness"] is True


def test_batch_mode_with_term_echoes_integer_term_id(sim: CanvasSimulator, client: httpx.Client) -> None:
    """batch_mode with a resolvable term stores the term's integer Canvas id (§2.1)."""
    body = upload(client, b"x", batch_mode="true", batch_mode_term_id="default", change_threshold="10").json()

    assert body["batch_mode"] is True
    assert body["batch_mode_term_id"] == 1
    assert body["change_threshold"] == 10


def test_batch_mode_with_unknown_term_is_404(sim: CanvasSimulator, client: httpx.Client) -> None:
    """A batch_mode_term_id that names no active term is a 404 and creates nothing (§1.1)."""
    response = upload(client, b"x", batch_mode="true", batch_mode_term_id="sis_term_id:nope")

    assert response.status_code == 404
    assert sim.uploads == []


@pytest.mark.parametrize(
    "name", ["diffing_drop_status", "diffing_user_remove_status", "batch_mode_enrollment_drop_status"]
)
def test_invalid_status_options_are_400(sim: CanvasSimulator, client: httpx.Client, name: str) -> None:
    """Drop and remove statuses outside Canvas's lists are 400 `Invalid <name>` (§1.1)."""
    response = upload(client, b"x", **{name: "bogus"})

    assert response.status_code == 400
    assert response.json() == {"message": f"Invalid {name}"}


def test_multi_term_false_still_means_batch_mode(sim: CanvasSimulator, client: httpx.Client) -> None:
    """Sending multi_term_batch_mode=false turns batch mode on and stores false (the presence trap)."""
    body = upload(client, b"x", multi_term_batch_mode="false", change_threshold="5").json()

    assert body["batch_mode"] is True
    assert body["multi_term_batch_mode"] is False


def test_multi_term_without_threshold_leaves_row_initializing(
    sim: CanvasSimulator, client: httpx.Client
) -> None:
    """Without change_threshold the create is a 400, yet the row stays `initializing` for ever (§1.1)."""
    response = upload(client, b"x", multi_term_batch_mode="true")
    listed = client.get(IMPORTS).json()["sis_imports"]

    assert response.status_code == 400
    assert response.json() == {"message": "change_threshold is required to use multi term_batch mode."}
    assert [row["workflow_state"] for row in listed] == ["initializing"]
    assert len(sim.uploads) == 1


def test_diffing_is_ignored_in_batch_mode(sim: CanvasSimulator, client: httpx.Client) -> None:
    """diffing_data_set_identifier is dropped when batch mode is on (the elsif chain, §1.1)."""
    batch = upload(
        client, b"x", batch_mode="1", batch_mode_term_id="1", diffing_data_set_identifier="set"
    ).json()
    plain = upload(
        client,
        b"x",
        diffing_data_set_identifier="set",
        diffing_drop_status="inactive",
        diff_row_count_threshold="0",
    ).json()

    assert batch["diffing_data_set_identifier"] is None
    assert "diffing_threshold_exceeded" not in batch
    assert plain["diffing_data_set_identifier"] == "set"
    assert plain["diffing_drop_status"] == "inactive"
    assert plain["diff_row_count_threshold"] is None
    assert plain["diffing_threshold_exceeded"] is False


def test_sub_account_is_refused_and_unknown_route_is_404(sim: CanvasSimulator, client: httpx.Client) -> None:
    """sis_imports on the sub-account is the root-only 400; other paths are 404 (§1, §6.6)."""
    sub = client.get("/api/v1/accounts/2/sis_imports")
    sub_by_sis = client.get("/api/v1/accounts/sis_account_id:SUB")
    root_by_sis = client.get("/api/v1/accounts/sis_account_id:ROOT")
    other = client.get("/api/v1/accounts/self/courses")
    wrong_method = client.delete("/api/v1/accounts/self")
    no_account = client.get("/api/v1/courses")
    bad_id = client.get(f"{IMPORTS}/abc")
    wrong_verb = client.delete(IMPORTS)
    unknown_action = client.get(f"{IMPORTS}/1/restore")

    assert sub.status_code == 400
    assert sub.json() == {"errors": ["SIS imports can only be executed on root accounts"]}
    assert sub_by_sis.json()["parent_account_id"] == 1
    assert root_by_sis.json()["id"] == 1
    assert [other.status_code, wrong_method.status_code, no_account.status_code] == [404, 404, 404]
    assert [bad_id.status_code, wrong_verb.status_code, unknown_action.status_code] == [404, 404, 404]


def test_disabled_sis_imports_are_403(make_sim: Callable[..., CanvasSimulator]) -> None:
    """A root account with SIS imports off answers 403 with Canvas's message (§1)."""
    sim = make_sim(sis_imports_enabled=False)
    with httpx.Client(base_url=sim.url, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        response = client.get(IMPORTS)

    assert response.status_code == 403
    assert response.json() == {"errors": ["SIS imports are not enabled for this account"]}


def test_token_in_query_string_is_accepted(sim: CanvasSimulator) -> None:
    """A token given as `access_token` works like the header (docs/canvas.md §4.1)."""
    with httpx.Client(base_url=sim.url) as client:
        response = client.get("/api/v1/users/self", params={"access_token": TOKEN})

    assert response.status_code == 200


def test_multipart_with_preamble_and_unnamed_parts(sim: CanvasSimulator, client: httpx.Client) -> None:
    """A preamble, a part without a name and an extra attachment are tolerated like a browser form."""
    body = zip_bytes({"users.csv": USERS})
    parts = [
        b"preamble text\r\n--B\r\n",
        b"Content-Type: text/plain\r\n\r\nno name\r\n--B\r\n",
        b'Content-Disposition: form-data; name="attachment"; filename="a.zip"\r\n\r\n'
        + body
        + b"\r\n--B\r\n",
        b'Content-Disposition: form-data; name="attachment"; filename="b.zip"\r\n\r\nsecond\r\n--B--\r\n',
    ]
    headers = {"Content-Type": "multipart/form-data; boundary=B"}
    response = client.post(IMPORTS, content=b"".join(parts), headers=headers)

    assert response.status_code == 200
    assert sim.uploads[0].file_name == "a.zip"
    assert sim.uploads[0].size == len(body)


def test_multipart_part_without_header_end_is_400(sim: CanvasSimulator, client: httpx.Client) -> None:
    """A part whose headers never end is a broken body."""
    headers = {"Content-Type": "multipart/form-data; boundary=B"}
    response = client.post(IMPORTS, content=b"--B\r\nContent-Disposition: form-data", headers=headers)

    assert response.status_code == 400
