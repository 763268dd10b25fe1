"""The import queue over time: one at a time, abort, listing, batch mode and diffing (§1.3 to §1.6, §2.4, §3.1)."""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx

from sis_watcher.simulator.canvas import CanvasSimulator

from unit.simulator.helpers import DOCS, TOKEN, import_and_wait, upload, zip_bytes

IMPORTS = "/api/v1/accounts/self/sis_imports"
USERS = zip_bytes({"users.csv": DOCS / "users.csv"})


def authed(sim: CanvasSimulator) -> httpx.Client:
    return httpx.Client(base_url=sim.url, headers={"Authorization": f"Bearer {TOKEN}"})


def test_imports_run_one_at_a_time_oldest_first(make_sim: Callable[..., CanvasSimulator]) -> None:
    """Later imports wait `created` while one imports; they start in creation order (§3.1)."""
    sim = make_sim(min_import_seconds=0.3, pickup_delay_seconds=0.0)
    with authed(sim) as client:
        ids = [upload(client, USERS).json()["id"] for _ in range(3)]
        sim.wait_until(lambda: sim.import_json(ids[0])["workflow_state"] == "importing")  # type: ignore[index]
        importing = client.get(f"{IMPORTS}/importing").json()["sis_imports"]
        second = client.get(f"{IMPORTS}/{ids[1]}").json()
        finals = [sim.wait_for_state(import_id) for import_id in ids]

    assert [row["id"] for row in importing] == [ids[0]]
    assert 0 <= importing[0]["progress"] < 100
    assert importing[0]["started_at"] is not None
    assert second["workflow_state"] == "created"
    assert [final["workflow_state"] for final in finals] == ["imported"] * 3
    starts = [final["started_at"] for final in finals]
    assert starts == sorted(starts)
    ends = [sim.queue.get(import_id).ended_at for import_id in ids]  # type: ignore[union-attr]
    assert all(earlier <= later for earlier, later in itertools.pairwise(ends))  # type: ignore[operator]


def test_abort_created_and_final_imports(make_sim: Callable[..., CanvasSimulator]) -> None:
    """PUT abort aborts a waiting import; a final one is a 404 (§1.5)."""
    sim = make_sim(pickup_delay_seconds=5.0)
    with authed(sim) as client:
        created = upload(client, USERS).json()
        aborted = client.put(f"{IMPORTS}/{created['id']}/abort")
        again = client.put(f"{IMPORTS}/{created['id']}/abort")

    assert aborted.status_code == 200
    assert aborted.json()["workflow_state"] == "aborted"
    assert again.status_code == 404


def test_abort_while_importing_keeps_aborted(make_sim: Callable[..., CanvasSimulator]) -> None:
    """An import aborted while running ends `aborted`, and the queue moves on (§1.5)."""
    sim = make_sim(min_import_seconds=0.3, pickup_delay_seconds=0.0)
    with authed(sim) as client:
        first = upload(client, USERS).json()["id"]
        second = upload(client, USERS).json()["id"]
        sim.wait_until(lambda: sim.import_json(first)["workflow_state"] == "importing")  # type: ignore[index]
        client.put(f"{IMPORTS}/{first}/abort")
        final_first = sim.wait_for_state(first)
        final_second = sim.wait_for_state(second)

    assert final_first["workflow_state"] == "aborted"
    assert final_second["workflow_state"] == "imported"


def test_after_abort_delay_holds_the_queue(make_sim: Callable[..., CanvasSimulator]) -> None:
    """After an abort the next import waits `after_abort_delay_seconds` (Canvas: 10 minutes)."""
    sim = make_sim(pickup_delay_seconds=0.0, after_abort_delay_seconds=0.4)
    with authed(sim) as client:
        first = upload(client, USERS).json()["id"]
        client.put(f"{IMPORTS}/{first}/abort")
        began = time.monotonic()
        second = upload(client, USERS).json()["id"]
        sim.wait_for_state(second)

    assert time.monotonic() - began >= 0.35


def test_abort_all_pending_spares_the_running_one(make_sim: Callable[..., CanvasSimulator]) -> None:
    """abort_all_pending aborts created and initializing imports with progress 100, not running ones (§1.6)."""
    sim = make_sim(min_import_seconds=0.4, pickup_delay_seconds=0.0)
    with authed(sim) as client:
        running = upload(client, USERS).json()["id"]
        sim.wait_until(lambda: sim.import_json(running)["workflow_state"] == "importing")  # type: ignore[index]
        waiting = upload(client, USERS).json()["id"]
        trapped = upload(client, USERS, multi_term_batch_mode="1").status_code
        response = client.put(f"{IMPORTS}/abort_all_pending")
        states = {
            row["id"]: (row["workflow_state"], row["progress"])
            for row in client.get(IMPORTS).json()["sis_imports"]
        }
        final = sim.wait_for_state(running)

    assert trapped == 400
    assert response.json() == {"aborted": True}
    assert states[waiting] == ("aborted", 100)
    assert states[waiting + 1] == ("aborted", 100)
    assert final["workflow_state"] == "imported"


def test_list_filters_and_paginates(sim: CanvasSimulator, client: httpx.Client) -> None:
    """created_since/before are strict, workflow_state[] filters, pages follow `next` (§1.3)."""
    ids = [upload(client, USERS).json()["id"] for _ in range(5)]
    for import_id in ids:
        sim.wait_for_state(import_id)
    sim.queue.get(ids[0]).created_at = datetime.now(UTC) - timedelta(hours=2)  # type: ignore[union-attr]
    since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    recent = client.get(IMPORTS, params={"created_since": since}).json()["sis_imports"]
    old = client.get(IMPORTS, params={"created_before": since}).json()["sis_imports"]
    garbage = client.get(IMPORTS, params={"created_since": "yesterday", "created_before": ""}).json()[
        "sis_imports"
    ]
    imported = client.get(IMPORTS, params={"workflow_state[]": ["imported", "nonsense"]}).json()[
        "sis_imports"
    ]
    none_valid = client.get(IMPORTS, params={"workflow_state[]": "nonsense"}).json()["sis_imports"]
    aborted = client.get(IMPORTS, params={"workflow_state[]": "aborted"}).json()["sis_imports"]
    seen, url, links = [], f"{IMPORTS}?per_page=2&workflow_state[]=imported", []
    while url:
        page = client.get(url)
        seen += [row["id"] for row in page.json()["sis_imports"]]
        links.append(page.headers["Link"])
        found = re.search(r'<([^>]+)>; rel="next"', page.headers["Link"])
        url = found.group(1) if found else ""
    past_end = client.get(IMPORTS, params={"page": 9, "per_page": "x"}).json()["sis_imports"]
    clamped = client.get(IMPORTS, params={"page": "zero", "per_page": 1000})

    assert [row["id"] for row in recent] == list(reversed(ids[1:]))
    assert [row["id"] for row in old] == [ids[0]]
    assert len(garbage) == len(imported) == len(none_valid) == 5
    assert aborted == []
    assert seen == [*reversed(ids[1:]), ids[0]]
    assert 'rel="prev"' in links[1]
    assert "workflow_state%5B%5D=imported" in links[1]
    assert all('rel="last"' not in link for link in links)
    assert past_end == []
    assert len(clamped.json()["sis_imports"]) == 5


def test_account_errors_list(sim: CanvasSimulator, client: httpx.Client) -> None:
    """GET sis_import_errors lists every import's errors; failure=true keeps failures (§1.8)."""
    import_and_wait(sim, client, b"user_id,login_id,status\nu,l,bogus\n", extension="csv")
    import_and_wait(sim, client, zip_bytes({"x.csv": b"nothing,known\n1,2\n"}))
    everything = client.get("/api/v1/accounts/self/sis_import_errors").json()["sis_import_errors"]
    failures = client.get("/api/v1/accounts/self/sis_import_errors", params={"failure": "true"}).json()[
        "sis_import_errors"
    ]
    missing = client.get(f"{IMPORTS}/99/errors")

    assert len(everything) == 2
    assert [error["message"] for error in failures] == ["Couldn't find Canvas CSV import headers"]
    assert missing.status_code == 404


COURSES = "course_id,short_name,long_name,term_id,status\n"
SECTIONS = "section_id,course_id,name,status\n"
ENROLLMENTS = "course_id,section_id,user_id,role,status\n"


def term_batch(courses: int, enrollments: int) -> bytes:
    """A batch for term T1: `courses` courses with one section each, `enrollments` enrollments in C0."""
    return zip_bytes(
        {
            "terms.csv": b"term_id,name,status\nT1,Term 1,active\n",
            "users.csv": b"user_id,login_id,status\n"
            + b"".join(f"u{i},l{i},active\n".encode() for i in range(10)),
            "courses.csv": (
                COURSES + "".join(f"C{i},c{i},Course {i},T1,active\n" for i in range(courses))
            ).encode(),
            "sections.csv": (
                SECTIONS + "".join(f"S{i},C{i},Section {i},active\n" for i in range(courses))
            ).encode(),
            "enrollments.csv": (
                ENROLLMENTS + "".join(f"C0,S0,u{i},student,active\n" for i in range(enrollments))
            ).encode(),
        }
    )


def test_batch_mode_deletes_stale_objects_below_threshold(sim: CanvasSimulator, client: httpx.Client) -> None:
    """A batch-mode import deletes the term's courses, sections, enrollments it does not list (§2.4)."""
    import_and_wait(sim, client, term_batch(4, 10))
    final = import_and_wait(
        sim,
        client,
        term_batch(3, 10),
        batch_mode="true",
        batch_mode_term_id="sis_term_id:T1",
        change_threshold="30",
    )

    assert final["workflow_state"] == "imported"
    assert final["batch_mode_term_id"] == 2
    assert final["data"]["counts"]["batch_courses_deleted"] == 1
    assert final["data"]["counts"]["batch_sections_deleted"] == 1
    assert final["data"]["counts"]["batch_enrollments_deleted"] == 0


def test_change_threshold_breach_aborts(sim: CanvasSimulator, client: httpx.Client) -> None:
    """Deleting more than change_threshold percent ends `aborted` with Canvas's message and null file (§2.4)."""
    import_and_wait(sim, client, term_batch(1, 10))
    final = import_and_wait(
        sim,
        client,
        term_batch(1, 5),
        batch_mode="true",
        batch_mode_term_id="sis_term_id:T1",
        change_threshold="20",
    )
    after = import_and_wait(
        sim, client, term_batch(1, 10), batch_mode="true", batch_mode_term_id="sis_term_id:T1"
    )

    assert final["workflow_state"] == "aborted"
    assert final["processing_warnings"] == [
        [None, "5 enrollments would be deleted and exceeds the set threshold of 20%"]
    ]
    assert after["data"]["counts"]["batch_enrollments_deleted"] == 0


def test_multi_term_batch_mode_uses_the_batch_terms(sim: CanvasSimulator, client: httpx.Client) -> None:
    """multi_term_batch_mode covers the terms of the batch's courses, or aborts without any (§2.4)."""
    import_and_wait(sim, client, term_batch(2, 2))
    final = import_and_wait(
        sim, client, term_batch(1, 2), multi_term_batch_mode="true", change_threshold="60"
    )
    no_terms = import_and_wait(sim, client, USERS, multi_term_batch_mode="true", change_threshold="60")

    assert final["workflow_state"] == "imported"
    assert final["data"]["counts"]["batch_courses_deleted"] == 1
    assert no_terms["workflow_state"] == "aborted"
    assert no_terms["processing_warnings"] == [
        [None, "Terms not found. Terms must be included with multi_term_batch_mode"]
    ]


def test_diffing_links_imports_and_applies_thresholds(sim: CanvasSimulator, client: httpx.Client) -> None:
    """Diffing imports point at the previous one; a size jump over change_threshold skips diffing (§2.4)."""
    first = import_and_wait(sim, client, term_batch(1, 2), diffing_data_set_identifier="set")
    second = import_and_wait(sim, client, term_batch(1, 2), diffing_data_set_identifier="set")
    grown = import_and_wait(
        sim, client, term_batch(1, 9), diffing_data_set_identifier="set", change_threshold="1"
    )
    rows = import_and_wait(
        sim, client, term_batch(1, 8), diffing_data_set_identifier="set", diff_row_count_threshold="0"
    )
    many_rows = import_and_wait(
        sim, client, term_batch(3, 2), diffing_data_set_identifier="set", diff_row_count_threshold="1"
    )
    remaster = import_and_wait(
        sim, client, term_batch(1, 2), diffing_data_set_identifier="set", diffing_remaster_data_set="1"
    )

    assert first["diffed_against_import_id"] is None
    assert second["diffed_against_import_id"] == first["id"]
    assert grown["diffing_threshold_exceeded"] is True
    assert grown["workflow_state"] == "imported_with_messages"
    assert grown["processing_warnings"] == [
        [None, "Diffing not performed because file size difference exceeded threshold"]
    ]
    assert rows["diffed_against_import_id"] == second["id"]
    assert many_rows["processing_warnings"] == [
        [None, "Diffing not performed because difference row count exceeded threshold"]
    ]
    assert remaster["diffing_remaster"] is True
    assert remaster["diffed_against_import_id"] is None


def test_deleted_term_is_no_longer_a_batch_term(sim: CanvasSimulator, client: httpx.Client) -> None:
    """A term set to deleted cannot be named by batch_mode_term_id (only active terms, §1.1)."""
    import_and_wait(sim, client, zip_bytes({"terms.csv": b"term_id,name,status\nT9,Nine,active\n"}))
    found = upload(client, USERS, batch_mode="1", batch_mode_term_id="2")
    import_and_wait(sim, client, zip_bytes({"terms.csv": b"term_id,name,status\nT9,Nine,deleted\n"}))
    gone = upload(client, USERS, batch_mode="1", batch_mode_term_id="sis_term_id:T9")
    by_id = upload(client, USERS, batch_mode="1", batch_mode_term_id="2")
    word = upload(client, USERS, batch_mode="1", batch_mode_term_id="current")

    assert found.status_code == 200
    assert [gone.status_code, by_id.status_code, word.status_code] == [404, 404, 200]
