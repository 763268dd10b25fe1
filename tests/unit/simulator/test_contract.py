"""Contract tests that hold for the simulator and for a real Canvas test environment alike."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx

from unit.simulator.helpers import Target, zip_bytes

NOT_FOUND = {"errors": [{"message": "The specified resource does not exist."}]}
CONTRACT_USER = b"user_id,login_id,first_name,last_name,status\nsis_watcher_contract,sis_watcher_contract,Contract,Test,active\n"


def test_users_self_names_the_token_owner(canvas_target: Target) -> None:
    """GET users/self answers the token's user with an integer id and a name."""
    with canvas_target.client() as client:
        response = client.get("/api/v1/users/self")

    assert response.status_code == 200
    assert isinstance(response.json()["id"], int)
    assert isinstance(response.json()["name"], str)


def test_root_account_resolves(canvas_target: Target) -> None:
    """GET accounts/:id answers the root account, which has no parent."""
    with canvas_target.client() as client:
        response = client.get(f"/api/v1/accounts/{canvas_target.account}")

    assert response.status_code == 200
    assert response.json()["parent_account_id"] is None
    assert isinstance(response.json()["id"], int)


def test_unknown_account_is_404_with_canvas_body(canvas_target: Target) -> None:
    """An account id that does not exist is a 404 with Canvas's not-found body."""
    with canvas_target.client() as client:
        response = client.get("/api/v1/accounts/987654321987/sis_imports")

    assert response.status_code == 404
    assert response.json() == NOT_FOUND


def test_bad_token_is_401_with_www_authenticate(canvas_target: Target) -> None:
    """A wrong token is a 401 with `WWW-Authenticate: Bearer realm="canvas-lms"` (docs/canvas.md §4.1)."""
    with canvas_target.client(token="not-the-token") as client:
        response = client.get("/api/v1/users/self")

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="canvas-lms"'
    assert response.json() == {"errors": [{"message": "Invalid access token."}]}


def test_missing_credentials_is_401_unauthenticated(canvas_target: Target) -> None:
    """No Authorization header is a 401 with the `unauthenticated` body."""
    with canvas_target.client(auth=False) as client:
        response = client.get(canvas_target.imports_path())

    assert response.status_code == 401
    assert response.json()["status"] == "unauthenticated"


def test_authenticated_responses_carry_rate_limit_headers(canvas_target: Target) -> None:
    """Token-authenticated responses carry X-Request-Cost and X-Rate-Limit-Remaining as floats."""
    with canvas_target.client() as client:
        response = client.get(canvas_target.imports_path())

    assert float(response.headers["X-Request-Cost"]) >= 0
    assert float(response.headers["X-Rate-Limit-Remaining"]) > 0


def test_list_is_wrapped_and_links_have_no_last(canvas_target: Target) -> None:
    """The index is `{"sis_imports": [...]}` with current and first links, never `last` (§1.3)."""
    with canvas_target.client() as client:
        response = client.get(canvas_target.imports_path(), params={"per_page": 1})

    assert response.status_code == 200
    assert isinstance(response.json()["sis_imports"], list)
    rels = set(re.findall(r'rel="(\w+)"', response.headers["Link"]))
    assert {"current", "first"} <= rels
    assert "last" not in rels


def test_json_suffix_is_accepted(canvas_target: Target) -> None:
    """`sis_imports.json` is the same route as `sis_imports` (docs/canvas.md §1)."""
    with canvas_target.client() as client:
        response = client.get(canvas_target.imports_path(".json"))

    assert response.status_code == 200
    assert "sis_imports" in response.json()


def test_importing_is_a_wrapped_list(canvas_target: Target) -> None:
    """GET sis_imports/importing answers a wrapped list, not one object (§1.4)."""
    with canvas_target.client() as client:
        response = client.get(canvas_target.imports_path("/importing"))

    assert response.status_code == 200
    assert isinstance(response.json()["sis_imports"], list)


def test_unknown_import_is_404(canvas_target: Target) -> None:
    """An import id that does not exist is a 404 with Canvas's body (§1.2)."""
    with canvas_target.client() as client:
        response = client.get(canvas_target.imports_path("/987654321987"))

    assert response.status_code == 404
    assert response.json() == NOT_FOUND


def test_multipart_without_attachment_is_400(canvas_target: Target) -> None:
    """A multipart create with no `attachment` field is 400 "Missing attachment" (§1.1)."""
    with canvas_target.client() as client:
        response = client.post(
            canvas_target.imports_path(),
            data={"import_type": "instructure_csv"},
            files={"other": ("x.txt", b"x")},
        )

    assert response.status_code == 400
    assert response.json() == {"error": True, "error_message": "Missing attachment"}


def test_non_utf8_charset_is_400(canvas_target: Target) -> None:
    """A raw body whose Content-Type charset is not UTF-8 is refused, without creating a batch (§1.1)."""
    with canvas_target.client() as client:
        headers = {"Content-Type": "text/csv; charset=ISO-8859-1"}
        response = client.post(canvas_target.imports_path(), content=CONTRACT_USER, headers=headers)

    assert response.status_code == 400
    assert response.json() == {"error": "Invalid content type, UTF-8 required"}


def test_batch_mode_without_term_is_400(canvas_target: Target) -> None:
    """batch_mode without batch_mode_term_id is a 400 with Canvas's message (§1.1)."""
    with canvas_target.client() as client:
        params = {"extension": "csv", "batch_mode": "true"}
        response = client.post(canvas_target.imports_path(), params=params, content=CONTRACT_USER)

    assert response.status_code == 400
    assert response.json() == {
        "message": "Batch mode specified, but the given batch_mode_term_id cannot be found."
    }


def test_tiny_import_runs_to_imported(canvas_target: Target) -> None:
    """One tiny users CSV is created with Canvas's shape and ends `imported` with its counts."""
    with canvas_target.client() as client:
        created = client.post(
            canvas_target.imports_path(), params={"extension": "csv"}, content=CONTRACT_USER
        )
        assert created.status_code == 200
        body = created.json()
        final = canvas_target.wait_final(client, body["id"])
        listed = client.get(canvas_target.imports_path(), params={"per_page": 100}).json()["sis_imports"]

    assert body["workflow_state"] in ("created", "importing", "imported")
    assert isinstance(body["progress"], int)
    assert body["data"]["import_type"] == "instructure_csv"
    assert body["batch_mode"] is None
    assert body["override_sis_stickiness"] is None
    assert body["skip_deletes"] is False
    assert body["update_sis_id_if_login_claimed"] is False
    assert final["workflow_state"] == "imported"
    assert final["progress"] == 100
    assert final["data"]["supplied_batches"] == ["user"]
    assert final["data"]["counts"]["users"] == 1
    assert final["data"]["counts"]["error_count"] == 0
    assert "processing_errors" not in final
    assert [row["display_name"] for row in final["csv_attachments"]] == ["sis_import.csv"]
    assert body["id"] in [row["id"] for row in listed]


def test_import_errors_are_wrapped(canvas_target: Target) -> None:
    """GET sis_imports/:id/errors of an existing import answers `{"sis_import_errors": [...]}` (§1.8)."""
    with canvas_target.client() as client:
        listed = client.get(canvas_target.imports_path()).json()["sis_imports"]
        if not listed:
            created = client.post(
                canvas_target.imports_path(), params={"extension": "csv"}, content=CONTRACT_USER
            )
            listed = [created.json()]
        response = client.get(canvas_target.imports_path(f"/{listed[0]['id']}/errors"))

    assert response.status_code == 200
    assert isinstance(response.json()["sis_import_errors"], list)


def assert_loopback(target: Target) -> None:
    """Simulator targets are on loopback; the suite sends nothing elsewhere unless told to."""
    if target.simulator is not None:
        assert httpx.URL(target.url).host == "127.0.0.1"


def test_simulator_target_is_loopback(canvas_target: Target) -> None:
    """The default target is the simulator on 127.0.0.1."""
    assert_loopback(canvas_target)

    assert canvas_target.name in ("simulator", "canvas")


PROGRESS_FIELDS = [
    "id",
    "context_id",
    "context_type",
    "user_id",
    "tag",
    "completion",
    "workflow_state",
    "created_at",
    "updated_at",
    "message",
    "url",
]


def contract_import(target: Target, client: httpx.Client) -> dict[str, Any]:
    """Create the contract user's import and return its final JSON."""
    created = client.post(target.imports_path(), params={"extension": "csv"}, content=CONTRACT_USER)
    assert created.status_code == 200, created.text
    return target.wait_final(client, created.json()["id"])


def test_restore_states_answers_a_progress_followed_to_its_end(canvas_target: Target) -> None:
    """restore_states answers a Progress (float completion, `url`, no user) that ends `completed`; the import `restored` (§A2)."""
    with canvas_target.client() as client:
        final = contract_import(canvas_target, client)
        response = client.put(canvas_target.imports_path(f"/{final['id']}/restore_states"))
        assert response.status_code == 200, response.text
        started = response.json()
        seen = [started]
        deadline = time.monotonic() + (10 if canvas_target.simulator else 600)
        while seen[-1]["workflow_state"] not in ("completed", "failed") and time.monotonic() < deadline:
            time.sleep(0.02 if canvas_target.simulator else 5)
            seen.append(client.get(f"/api/v1/progress/{started['id']}").json())
        restored = client.get(canvas_target.imports_path(f"/{final['id']}")).json()
        while restored["workflow_state"] == "restoring" and time.monotonic() < deadline:  # saved just after
            time.sleep(0.02 if canvas_target.simulator else 1)
            restored = client.get(canvas_target.imports_path(f"/{final['id']}")).json()

    assert PROGRESS_FIELDS == [name for name in started if name != "results"]
    assert ("SisBatch", final["id"], "sis_batch_state_restore") == (
        started["context_type"],
        started["context_id"],
        started["tag"],
    )
    assert started["user_id"] is None
    assert started["url"].endswith(f"/api/v1/progress/{started['id']}")
    assert all(isinstance(item["completion"], float) for item in seen)
    assert "completed" == seen[-1]["workflow_state"]
    assert 100.0 == seen[-1]["completion"]
    assert "restored" == restored["workflow_state"]
    assert isinstance(restored["data"]["statistics"]["Pseudonym"]["restored"], int)


def test_restore_states_refuses_both_flags_and_unknown_imports(canvas_target: Target) -> None:
    """Both undelete_only and unconclude_only is a 400 `{"message"}`; an unknown import or Progress a 404."""
    with canvas_target.client() as client:
        listed = client.get(canvas_target.imports_path()).json()["sis_imports"]
        import_id = listed[0]["id"] if listed else contract_import(canvas_target, client)["id"]
        both = client.put(
            canvas_target.imports_path(f"/{import_id}/restore_states"),
            params={"undelete_only": "true", "unconclude_only": "true"},
        )
        unknown = client.put(canvas_target.imports_path("/987654321987/restore_states"))
        no_progress = client.get("/api/v1/progress/987654321987")

    assert (400, {"message": "cannot set both undelete_only and unconclude_only"}) == (
        both.status_code,
        both.json(),
    )
    assert 404 == unknown.status_code
    assert 404 == no_progress.status_code


def test_create_with_pre_attachment_answers_an_initializing_import_and_its_preflight(
    canvas_target: Target,
) -> None:
    """A create with `pre_attachment[name]`/`[size]` waits `initializing` and answers the upload's preflight (§A1)."""
    query = {
        "import_type": "instructure_csv",
        "pre_attachment[name]": "sis_watcher_contract.zip",
        "pre_attachment[size]": "1234",
    }
    with canvas_target.client() as client:
        response = client.post(canvas_target.imports_path(), params=query)
        body = response.json()
        aborted = client.put(canvas_target.imports_path(f"/{body['id']}/abort"))  # no orphan left behind

    assert response.status_code == 200
    assert body["workflow_state"] == "initializing"
    assert body["progress"] == 0
    assert body["started_at"] is None
    assert "csv_attachments" not in body
    preflight = body["pre_attachment"]
    assert isinstance(preflight["upload_url"], str)
    assert isinstance(preflight["upload_params"], dict)
    assert preflight.get("file_param", "file") == "file"
    assert aborted.status_code == 200
    assert aborted.json()["workflow_state"] == "aborted"


def test_attachment_and_pre_attachment_together_are_400(canvas_target: Target) -> None:
    """A multipart file and `pre_attachment` in one create are refused with Canvas's message (§A1)."""
    with canvas_target.client() as client:
        response = client.post(
            canvas_target.imports_path(),
            params={"import_type": "instructure_csv", "pre_attachment[name]": "x.zip"},
            files={"attachment": ("users.csv", CONTRACT_USER)},
        )

    assert response.status_code == 400
    assert response.json() == {
        "error": True,
        "error_message": "Cannot specify both attachment and pre_attachment",
    }


def test_a_pre_attachment_upload_runs_to_imported(canvas_target: Target) -> None:
    """The whole flow: create, multipart POST to storage without the token, the 3xx confirmation if any, imported."""
    content = zip_bytes({"users.csv": CONTRACT_USER})
    query = {
        "import_type": "instructure_csv",
        "pre_attachment[name]": "sis_watcher_contract.zip",
        "pre_attachment[size]": str(len(content)),
    }
    with canvas_target.client() as client:
        created = client.post(canvas_target.imports_path(), params=query).json()
        preflight = created["pre_attachment"]
        with httpx.Client(timeout=60) as storage:  # no Authorization: storage is not Canvas
            stored = storage.post(
                preflight["upload_url"],
                data=preflight["upload_params"],
                files={preflight.get("file_param", "file"): ("sis_watcher_contract.zip", content)},
            )
        if stored.is_redirect:
            confirmed = client.get(stored.headers["Location"])
            assert confirmed.status_code == 200
            again = client.get(stored.headers["Location"])
            assert (again.status_code, again.content) == (400, b"")
        final = canvas_target.wait_final(client, created["id"])

    assert stored.status_code in (201, 301, 302, 303)
    assert final["workflow_state"] == "imported"
    assert final["data"]["counts"]["users"] == 1
