"""Faults on demand, auth modes, the control endpoint and concurrency records (§4)."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable

import httpx
import pytest

from sis_watcher.simulator.canvas import CanvasSimulator
from sis_watcher.simulator.model.faults import Fault, FaultKind, FaultPlan

from unit.simulator.helpers import DOCS, TOKEN, upload, zip_bytes

IMPORTS = "/api/v1/accounts/self/sis_imports"
USERS = zip_bytes({"users.csv": DOCS / "users.csv"})


def test_status_fault_fires_count_times_with_retry_after(sim: CanvasSimulator, client: httpx.Client) -> None:
    """A 503 fault answers the next N matching requests with Retry-After, then stops."""
    fault_id = sim.faults.add(
        kind=FaultKind.STATUS, status=503, count=2, method="POST", path=r"/sis_imports$", retry_after=7
    )
    answers = [upload(client, USERS) for _ in range(3)]
    listed = client.get(IMPORTS)

    assert [answer.status_code for answer in answers] == [503, 503, 200]
    assert answers[0].headers["Retry-After"] == "7"
    assert "503 Service Unavailable" in answers[0].text
    assert listed.status_code == 200
    assert len(sim.uploads) == 1
    assert sim.faults.fired(fault_id) == 2
    assert [record.fault for record in sim.requests] == ["status", "status", None, None]


def test_default_status_fault_is_canvas_500(sim: CanvasSimulator, client: httpx.Client) -> None:
    """Without a status the fault is a 500 with Canvas's generic error JSON."""
    sim.faults.add(kind="status")
    response = client.get(IMPORTS)

    assert response.status_code == 500
    assert response.json()["errors"][0]["message"] == "An error occurred."


def test_gateway_error_after_processing_creates_the_import(
    sim: CanvasSimulator, client: httpx.Client
) -> None:
    """`process_first` answers 502 although the import was created, like a timed-out gateway."""
    sim.faults.add(Fault(kind=FaultKind.STATUS, status=502, process_first=True, method="POST"))
    response = upload(client, USERS)

    assert response.status_code == 502
    assert len(sim.uploads) == 1


def test_throttle_403_is_plain_text_without_retry_after(sim: CanvasSimulator, client: httpx.Client) -> None:
    """The 403 throttle is text/plain "Rate Limit Exceeded", remaining 0.0, no Retry-After or cost (§4.2)."""
    sim.faults.add(kind=FaultKind.THROTTLE_403)
    response = client.get(IMPORTS)

    assert response.status_code == 403
    assert response.text == "403 Forbidden (Rate Limit Exceeded)\n"
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.headers["X-Rate-Limit-Remaining"] == "0.0"
    assert "Retry-After" not in response.headers
    assert "X-Request-Cost" not in response.headers


def test_throttle_429_may_carry_retry_after(sim: CanvasSimulator, client: httpx.Client) -> None:
    """The 429 throttle is plain text, optionally with Retry-After."""
    sim.faults.add(kind=FaultKind.THROTTLE_429, retry_after=1.5)
    response = client.get(IMPORTS)

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "1.5"
    assert "Rate Limit Exceeded" in response.text


def test_drop_after_upload_creates_the_import_without_answer(
    sim: CanvasSimulator, client: httpx.Client
) -> None:
    """The connection closes after the body was read; the import exists all the same."""
    sim.faults.add(kind=FaultKind.DROP_AFTER_UPLOAD, method="POST")
    with pytest.raises(httpx.RemoteProtocolError):
        upload(client, USERS)
    listed = client.get(IMPORTS).json()["sis_imports"]

    assert len(sim.uploads) == 1
    assert [row["id"] for row in listed] == [sim.uploads[0].import_id]
    assert sim.requests[0].status is None


def test_drop_does_nothing_and_hangs_up(sim: CanvasSimulator, client: httpx.Client) -> None:
    """A plain drop reads the body and hangs up without creating anything."""
    sim.faults.add(kind=FaultKind.DROP)
    with pytest.raises(httpx.RemoteProtocolError):
        upload(client, USERS)

    assert sim.uploads == []


def test_slow_fault_delays_the_answer(sim: CanvasSimulator, client: httpx.Client) -> None:
    """A slow fault answers after its delay, so a short client timeout fires while the import exists."""
    sim.faults.add(kind=FaultKind.SLOW, delay_seconds=1.0, method="POST")
    with pytest.raises(httpx.ReadTimeout):
        client.post(IMPORTS, params={"extension": "zip"}, content=USERS, timeout=0.2)

    sim.wait_until(lambda: len(sim.uploads) == 1)
    assert sim.uploads[0].size == len(USERS)


def test_stuck_imports_never_finish(make_sim: Callable[..., CanvasSimulator]) -> None:
    """Stuck faults leave an import `initializing` or `importing` until it is aborted."""
    sim = make_sim(pickup_delay_seconds=0.0, min_import_seconds=0.0)
    with httpx.Client(base_url=sim.url, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        sim.faults.add(kind=FaultKind.STUCK_INITIALIZING)
        sim.faults.add(kind=FaultKind.STUCK_IMPORTING)
        initializing = upload(client, USERS).json()
        importing = upload(client, USERS).json()["id"]
        sim.wait_until(lambda: "csv_attachments" in (sim.import_json(importing) or {}))
        blocked = upload(client, USERS).json()["id"]
        states = [
            client.get(f"{IMPORTS}/{i}").json()["workflow_state"]
            for i in (initializing["id"], importing, blocked)
        ]
        client.put(f"{IMPORTS}/{importing}/abort")
        final = sim.wait_for_state(blocked)

    assert initializing["workflow_state"] == "initializing"
    assert states == ["initializing", "importing", "created"]
    assert final["workflow_state"] == "imported"


def test_revoked_token_fault_then_restored(sim: CanvasSimulator, client: httpx.Client) -> None:
    """A revoked-token fault answers 401 "Revoked access token." for N requests, then the token works."""
    sim.faults.add(kind=FaultKind.REVOKED_TOKEN, count=2)
    answers = [client.get(IMPORTS) for _ in range(3)]

    assert [answer.status_code for answer in answers] == [401, 401, 200]
    assert answers[0].json() == {"errors": [{"message": "Revoked access token."}]}
    assert answers[0].headers["WWW-Authenticate"] == 'Bearer realm="canvas-lms"'


def test_revoke_restore_and_rotate_token(sim: CanvasSimulator, client: httpx.Client) -> None:
    """Explicit revoke/restore and rotation change what the simulator accepts."""
    sim.revoke_token()
    revoked = client.get(IMPORTS)
    sim.restore_token()
    restored = client.get(IMPORTS)
    sim.set_token("new-token")
    old = client.get(IMPORTS)
    with httpx.Client(base_url=sim.url, headers={"Authorization": "Bearer new-token"}) as rotated:
        new = rotated.get(IMPORTS)

    assert revoked.status_code == 401
    assert restored.status_code == 200
    assert old.json() == {"errors": [{"message": "Invalid access token."}]}
    assert new.status_code == 200
    assert sim.token == "new-token"
    assert "new-token" not in repr(sim.gate)


@pytest.mark.parametrize("status", [401, 403])
def test_permission_denied_mode(sim: CanvasSimulator, client: httpx.Client, status: int) -> None:
    """Permission denial is 401 or 403 with status "unauthorized" and no WWW-Authenticate (§4.1)."""
    sim.deny_permission(status=status)
    denied = client.get(IMPORTS)
    sim.allow_permission()
    allowed = client.get(IMPORTS)
    sim.faults.add(kind=FaultKind.PERMISSION_DENIED, status=status)
    faulted = client.get(IMPORTS)

    assert denied.status_code == status
    assert denied.json()["status"] == "unauthorized"
    assert "WWW-Authenticate" not in denied.headers
    assert allowed.status_code == 200
    assert faulted.status_code == status


def test_rate_faults_are_seeded_and_repeatable() -> None:
    """A rate fault fires by a seeded RNG: the same seed gives the same pattern."""

    def pattern(seed: int) -> list[bool]:
        plan = FaultPlan(seed=seed)
        plan.add(kind=FaultKind.STATUS, count=None, rate=0.5, path="sis_imports")
        return [plan.take("GET", "/api/v1/accounts/self/sis_imports") is not None for _ in range(40)]

    first, second = pattern(7), pattern(7)
    expected = [random.Random(7).random() < 0.5 for _ in range(1)]

    assert first == second
    assert 5 < sum(first) < 35
    assert first[0] == expected[0]
    assert FaultPlan().take("GET", "/x") is None


def test_fault_matching_and_management() -> None:
    """Faults match by method and path; they can be removed, cleared and listed."""
    plan = FaultPlan()
    kept = plan.add(kind=FaultKind.SLOW, method="get", count=None)
    removed = plan.add(kind=FaultKind.DROP, path="never")
    plan.remove(removed)

    assert plan.take("POST", "/a") is None
    assert plan.take("GET", "/a") is not None
    assert [entry["id"] for entry in plan.snapshot()] == [kept]
    plan.clear()
    assert plan.snapshot() == []
    with pytest.raises(ValueError, match="unknown fault fields"):
        Fault.from_json({"kind": "drop", "colour": "red"})
    with pytest.raises(ValueError, match="not a valid FaultKind"):
        Fault.from_json({"kind": "explode"})


def test_max_in_flight_counts_overlap(make_sim: Callable[..., CanvasSimulator]) -> None:
    """Two requests at once are recorded as two in flight; sequential ones as one."""
    sim = make_sim()
    with httpx.Client(base_url=sim.url, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        client.get(IMPORTS)
        sequential = sim.max_in_flight
        sim.faults.add(kind=FaultKind.SLOW, delay_seconds=0.3, count=1)
        thread = threading.Thread(
            target=lambda: httpx.get(f"{sim.url}{IMPORTS}", headers={"Authorization": f"Bearer {TOKEN}"})
        )
        thread.start()
        sim.wait_until(lambda: sim.recorder.in_flight == 1)
        client.get(IMPORTS)
        thread.join()

    assert sequential == 1
    assert sim.max_in_flight == 2


def test_control_endpoint_drives_a_simulator(sim: CanvasSimulator, client: httpx.Client) -> None:
    """Everything is inspectable and controllable over HTTP under /__simulator__/ without auth."""
    with httpx.Client(base_url=f"{sim.url}/__simulator__") as control:
        fault = control.post("/faults", json={"kind": "throttle_429", "count": 1}).json()["id"]
        listed_faults = control.get("/faults").json()
        throttled = upload(client, USERS)
        created = upload(client, USERS).json()
        sim.wait_for_state(created["id"])
        uploads = control.get("/uploads").json()
        requests = control.get("/requests").json()
        imports = control.get("/imports").json()
        state = control.get("/state").json()
        control.post("/token/revoke")
        revoked = client.get(IMPORTS).status_code
        control.post("/token/restore")
        control.post("/permission", json={"denied_status": 403})
        denied = client.get(IMPORTS).status_code
        control.post("/permission", json={"denied_status": None})
        control.post("/token", json={"token": "rotated"})
        rotated = client.get(IMPORTS).status_code
        sim.set_token(TOKEN)
        bad = [
            control.post("/faults", json={"kind": "nope"}).status_code,
            control.post("/faults", content=b"{not json").status_code,
            control.post("/token").status_code,
            control.post("/nothing").status_code,
            control.get("/nothing").status_code,
            control.put("/faults").status_code,
        ]
        control.post("/faults", json={"kind": "drop", "path": "nowhere"})
        one = control.get("/faults").json()[0]["id"]
        removed = control.delete(f"/faults/{one}").json()
        control.post("/faults", json={"kind": "drop", "path": "nowhere"})
        cleared = control.delete("/faults").json()
        control.get("/downloads").raise_for_status()
        control.post("/reset")
        after_reset = control.get("/imports").json()

    assert listed_faults[0]["id"] == fault
    assert throttled.status_code == 429
    assert uploads[0]["import_id"] == created["id"]
    assert uploads[0]["members"][0]["csv_type"] == "user"
    assert [entry["status"] for entry in requests] == [429, 200]
    assert imports[0]["workflow_state"] == "imported"
    assert state["max_in_flight"] == 1
    assert TOKEN not in str(state)
    assert [revoked, denied, rotated] == [401, 403, 401]
    assert bad == [400, 400, 400, 404, 404, 404]
    assert removed == {"removed": True}
    assert cleared == {"cleared": True}
    assert after_reset == []
    assert sim.requests == []
