"""respx tests of the rollback and abort calls: restore_states, the Progress, abort, and every answer Canvas gives."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx

from sis_watcher.canvas.client import CanvasClient
from sis_watcher.canvas.credentials import TokenSource
from sis_watcher.canvas.restore import get_progress, restore_states
from sis_watcher.core.errors import (
    CanvasAuthProblem,
    CanvasProtocolError,
    CanvasUnavailable,
    LookupRefused,
    RestoreRefused,
)

BASE = "https://canvas.example.edu"
IMPORTS = f"{BASE}/api/v1/accounts/self/sis_imports"
RESTORE = f"{IMPORTS}/42/restore_states"
TOKEN = "7~canvas-secret-token-restore"


def progress(**fields: Any) -> dict[str, Any]:
    """A restore's Progress as Canvas answers it (docs/canvas.md §A2)."""
    return {
        "id": 7,
        "context_id": 42,
        "context_type": "SisBatch",
        "user_id": None,
        "tag": "sis_batch_state_restore",
        "completion": 0.0,
        "workflow_state": "queued",
        "created_at": "2026-12-01T02:00:00Z",
        "updated_at": "2026-12-01T02:00:00Z",
        "message": None,
        "url": f"{BASE}/api/v1/progress/7",
        **fields,
    }


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=True, assert_all_mocked=True) as mock:
        yield mock


@pytest.fixture
def client(router) -> Iterator[CanvasClient]:
    source = TokenSource(token_file=None, environ={"CANVAS_TOKEN": TOKEN})
    canvas = CanvasClient(base_url=BASE, account_id="self", token_source=source)
    yield canvas
    canvas.close()


class TestRestoreStates:
    def test_the_progress_is_returned_and_no_flag_is_sent_unless_asked(self, router, client):
        """A plain restore sends no parameters and returns Canvas's Progress, completion a float."""
        route = router.put(RESTORE).respond(200, json=progress())

        answer = restore_states(client, 42)

        assert progress() == answer
        assert isinstance(answer["completion"], float)
        request = route.calls.last.request
        assert b"" == request.url.query
        assert f"Bearer {TOKEN}" == request.headers["Authorization"]

    @pytest.mark.parametrize("flag", ["batch_mode", "undelete_only", "unconclude_only"])
    def test_each_flag_is_sent_as_true(self, router, client, flag):
        """Each flag that is set goes as `<flag>=true`, and only that one."""
        route = router.put(RESTORE).respond(200, json=progress())

        restore_states(client, 42, **{flag: True})

        assert {flag: "true"} == dict(route.calls.last.request.url.params)

    @pytest.mark.parametrize(
        ("body", "words"),
        [
            ({"message": "restore data unavailable"}, "HTTP 400: restore data unavailable"),
            (
                {"message": "cannot set both undelete_only and unconclude_only"},
                "HTTP 400: cannot set both undelete_only and unconclude_only",
            ),
            ("cannot set both undelete_only and unconclude_only", "HTTP 400: cannot set both"),
        ],
    )
    def test_canvas_refusals_raise_restore_refused_with_its_words(self, router, client, body, words):
        """Canvas's 400s (expired data, both flags, old bare-string form) are `RestoreRefused` in its words."""
        router.put(RESTORE).respond(400, json=body)

        with pytest.raises(RestoreRefused) as caught:
            restore_states(client, 42, undelete_only=True, unconclude_only=True)

        assert caught.value.message.startswith(words)
        assert 400 == caught.value.status_code

    def test_an_unknown_import_is_refused_by_name(self, router, client):
        """404: Canvas has no such import in this account (RestoreRefused, not an auth pause)."""
        router.put(RESTORE).respond(
            404, json={"errors": [{"message": "The specified resource does not exist."}]}
        )

        with pytest.raises(RestoreRefused, match=r"Canvas has no import 42 in this account"):
            restore_states(client, 42)

    def test_a_lost_answer_may_have_started_a_restore(self, router, client):
        """A 502 or a dropped connection after the request: CanvasUnavailable, `request_may_have_arrived`."""
        router.put(RESTORE).mock(side_effect=[httpx.Response(502), httpx.ReadError("reset")])

        for _ in range(2):
            with pytest.raises(CanvasUnavailable) as caught:
                restore_states(client, 42)
            assert caught.value.request_may_have_arrived

    def test_an_import_only_token_is_an_auth_problem(self, router, client):
        """401 (the token lacks manage_sis) is `CanvasAuthProblem`, never a refusal of the data."""
        router.put(RESTORE).respond(
            401, json={"errors": [{"message": "user not authorized to perform that action"}]}
        )

        with pytest.raises(CanvasAuthProblem):
            restore_states(client, 42)

    def test_an_answer_without_an_id_is_a_protocol_error(self, router, client):
        """A 200 that is not a Progress (no id) is unreadable: `CanvasProtocolError`."""
        router.put(RESTORE).respond(200, json={"workflow_state": "queued"})

        with pytest.raises(CanvasProtocolError, match="progress has no id"):
            restore_states(client, 42)


class TestGetProgress:
    def test_the_progress_is_read(self, router, client):
        """`GET /api/v1/progress/:id` returns the Progress as Canvas sent it."""
        router.get(f"{BASE}/api/v1/progress/7").respond(
            200, json=progress(workflow_state="completed", completion=100.0)
        )

        answer = get_progress(client, 7)

        assert ("completed", 100.0) == (answer["workflow_state"], answer["completion"])

    def test_a_missing_progress_is_a_refused_look_up_or_an_auth_problem(self, router, client):
        """400 is a refused look-up (retried); 404 is `CanvasAuthProblem` like every missing resource."""
        router.get(f"{BASE}/api/v1/progress/7").mock(
            side_effect=[httpx.Response(400, json={"message": "bad"}), httpx.Response(404)]
        )

        with pytest.raises(LookupRefused):
            get_progress(client, 7)
        with pytest.raises(CanvasAuthProblem):
            get_progress(client, 7)

    def test_a_body_that_is_not_an_object_is_a_protocol_error(self, router, client):
        """A list where the Progress should be raises `CanvasProtocolError`."""
        router.get(f"{BASE}/api/v1/progress/7").respond(200, json=[1])

        with pytest.raises(CanvasProtocolError):
            get_progress(client, 7)


class TestAbortImport:
    def test_an_aborted_import_is_returned(self, router, client):
        """`PUT .../abort` answers the import, now `aborted`."""
        router.put(f"{IMPORTS}/42/abort").respond(200, json={"id": 42, "workflow_state": "aborted"})

        assert {"id": 42, "workflow_state": "aborted"} == client.abort_import(42)

    def test_an_import_already_final_is_none(self, router, client):
        """404: the import is already final (docs/canvas.md §1.5), so there is nothing to abort."""
        router.put(f"{IMPORTS}/42/abort").respond(404, json={"errors": [{"message": "not found"}]})

        assert client.abort_import(42) is None

    def test_a_refused_token_still_raises(self, router, client):
        """401 is not "already final": `CanvasAuthProblem` propagates."""
        router.put(f"{IMPORTS}/42/abort").respond(
            401, json={"errors": [{"message": "Invalid access token."}]}
        )

        with pytest.raises(CanvasAuthProblem):
            client.abort_import(42)

    def test_a_lost_answer_may_hide_an_abort_and_a_refusal_did_not_abort(self, router, client):
        """A 502 may hide an abort that happened (`request_may_have_arrived`); a 422 is a refusal that did not."""
        router.put(f"{IMPORTS}/42/abort").mock(
            side_effect=[httpx.Response(502), httpx.Response(422, json={"message": "no"})]
        )

        with pytest.raises(CanvasUnavailable) as lost:
            client.abort_import(42)
        with pytest.raises(LookupRefused) as refused:
            client.abort_import(42)

        assert lost.value.request_may_have_arrived is True
        assert (False, 422) == (refused.value.request_may_have_arrived, refused.value.status_code)
