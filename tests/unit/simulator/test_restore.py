"""The simulator's restore_states, its Progress and the diffing remaster rule (docs/canvas.md §A2, §A4)."""

from __future__ import annotations

import time
from typing import Any

import httpx

from sis_watcher.simulator.canvas import CanvasSimulator
from sis_watcher.simulator.model.faults import FaultKind
from sis_watcher.simulator.model.worker import REMASTER_REQUIRED

from unit.simulator.helpers import TOKEN, import_and_wait, zip_bytes

IMPORTS = "/api/v1/accounts/self/sis_imports"
TERM = b"term_id,name,status\nT1,Term 1,active\n"
USERS = b"user_id,login_id,status\nu1,l1,active\nu2,l2,active\n"
BATCH_MODE = {"batch_mode": "true", "batch_mode_term_id": "sis_term_id:T1"}


def courses(*ids: str, status: str = "active") -> bytes:
    rows = "".join(f"{course},{course},{course},T1,{status}\n" for course in ids)
    return zip_bytes({"courses.csv": ("course_id,short_name,long_name,term_id,status\n" + rows).encode()})


def restore(client: httpx.Client, import_id: int, **flags: str) -> dict[str, Any]:
    """PUT restore_states (expect 200), follow the Progress, then the import, to their ends; return the Progress."""
    response = client.put(f"{IMPORTS}/{import_id}/restore_states", params=flags)
    assert response.status_code == 200, response.text
    progress = response.json()
    deadline = time.monotonic() + 10
    while progress["workflow_state"] not in ("completed", "failed"):
        assert time.monotonic() < deadline, progress
        time.sleep(0.01)
        progress = client.get(f"/api/v1/progress/{progress['id']}").json()
    while client.get(f"{IMPORTS}/{import_id}").json()["workflow_state"] == "restoring":  # saved just after
        assert time.monotonic() < deadline, "the import stayed restoring"
        time.sleep(0.01)
    return dict(progress)


def with_a_deleted_course(sim: CanvasSimulator, client: httpx.Client) -> dict[str, Any]:
    """Courses C1 and C2 in T1, then a batch-mode import of C1 alone (batch mode deletes C2)."""
    import_and_wait(sim, client, zip_bytes({"terms.csv": TERM}))
    import_and_wait(sim, client, courses("C1", "C2"))
    final = import_and_wait(sim, client, courses("C1"), **BATCH_MODE)
    assert 1 == final["data"]["statistics"]["Course"]["deleted"]
    return final


class TestRestore:
    def test_a_restore_puts_back_every_change_and_overwrites_restored(self, sim, client):
        """A full restore ends `restored`; `restored` per model is the rows put back (2 logins, 2 e-mails)."""
        final = import_and_wait(sim, client, zip_bytes({"users.csv": USERS}))

        ended = restore(client, final["id"])

        after = client.get(f"{IMPORTS}/{final['id']}").json()
        assert ("completed", 100.0, None) == (ended["workflow_state"], ended["completion"], ended["message"])
        assert "restored" == after["workflow_state"]
        assert {"created": 2, "restored": 2, "deleted": 0} == after["data"]["statistics"]["Pseudonym"]
        assert (
            final["data"]["statistics"]["total_state_changes"]
            == after["data"]["statistics"]["total_state_changes"]
        )

    def test_the_import_is_restoring_while_the_job_runs(self, make_sim):
        """While the job runs the Progress is `running` (50.0 half-way) and the import `restoring`."""
        sim = make_sim(pickup_delay_seconds=0.0, min_import_seconds=0.01, restore_seconds=0.6)
        with httpx.Client(base_url=sim.url, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
            final = import_and_wait(sim, client, zip_bytes({"users.csv": USERS}))
            started = client.put(f"{IMPORTS}/{final['id']}/restore_states").json()
            sim.wait_for_state(final["id"], states=frozenset({"restoring"}))
            running = client.get(f"/api/v1/progress/{started['id']}").json()
            sim.wait_for_state(final["id"], states=frozenset({"restored"}))

        assert "queued" == started["workflow_state"]
        assert "running" == running["workflow_state"]
        assert running["completion"] in (0.0, 50.0)

    def test_the_progress_completes_before_the_import_is_saved(self, make_sim):
        """As MODEL2: the Progress is `completed` while the import still shows `restoring`, then `restored`."""
        sim = make_sim(pickup_delay_seconds=0.0, min_import_seconds=0.01, restore_save_delay_seconds=0.5)
        with httpx.Client(base_url=sim.url, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
            final = import_and_wait(sim, client, zip_bytes({"users.csv": USERS}))
            started = client.put(f"{IMPORTS}/{final['id']}/restore_states").json()
            progress = started
            deadline = time.monotonic() + 10
            while progress["workflow_state"] != "completed":
                assert time.monotonic() < deadline, progress
                time.sleep(0.01)
                progress = client.get(f"/api/v1/progress/{started['id']}").json()
            unsaved = client.get(f"{IMPORTS}/{final['id']}").json()
            sim.wait_for_state(final["id"], states=frozenset({"restored"}))
            saved = client.get(f"{IMPORTS}/{final['id']}").json()

        assert 100.0 == progress["completion"]
        assert "restoring" == unsaved["workflow_state"]
        assert 0 == unsaved["data"]["statistics"]["Pseudonym"]["restored"]
        assert 2 == saved["data"]["statistics"]["Pseudonym"]["restored"]

    def test_undelete_only_puts_back_what_batch_mode_deleted(self, sim, client):
        """undelete_only (and batch_mode) keep batch mode's deletion: `partially_restored`, Course restored 1."""
        final = with_a_deleted_course(sim, client)

        restore(client, final["id"], undelete_only="true")

        after = client.get(f"{IMPORTS}/{final['id']}").json()
        assert "partially_restored" == after["workflow_state"]
        assert 1 == after["data"]["statistics"]["Course"]["restored"]
        restore(client, final["id"], batch_mode="1")
        assert 1 == client.get(f"{IMPORTS}/{final['id']}").json()["data"]["statistics"]["Course"]["restored"]

    def test_batch_mode_only_leaves_rows_batch_mode_did_not_write(self, sim, client):
        """batch_mode on an import without batch-mode deletions puts nothing back (`partially_restored`)."""
        final = import_and_wait(sim, client, zip_bytes({"users.csv": USERS}))

        restore(client, final["id"], batch_mode="true")

        after = client.get(f"{IMPORTS}/{final['id']}").json()
        assert ("partially_restored", 0) == (
            after["workflow_state"],
            after["data"]["statistics"]["Pseudonym"]["restored"],
        )

    def test_unconclude_only_puts_back_only_conclusions(self, sim, client):
        """unconclude_only keeps rows whose new state is `completed`: none in a deletion-only import."""
        final = with_a_deleted_course(sim, client)

        restore(client, final["id"], unconclude_only="true")

        after = client.get(f"{IMPORTS}/{final['id']}").json()
        assert ("partially_restored", 0) == (
            after["workflow_state"],
            after["data"]["statistics"]["Course"]["restored"],
        )

    def test_a_failed_restore_job_ends_restore_failed_with_canvas_words(self, sim, client):
        """The `restore_fails` fault: Progress `failed` with "Unexpected error, ID", import `restore_failed`."""
        final = import_and_wait(sim, client, zip_bytes({"users.csv": USERS}))
        sim.faults.add(kind=FaultKind.RESTORE_FAILS, count=1, path="restore_states")

        ended = restore(client, final["id"])

        after = client.get(f"{IMPORTS}/{final['id']}").json()
        assert "failed" == ended["workflow_state"]
        assert ended["message"].startswith("Unexpected error, ID: ")
        assert "restore_failed" == after["workflow_state"]
        assert after["data"]["error_message"]
        listed = client.get(IMPORTS, params={"workflow_state[]": "restore_failed"}).json()["sis_imports"]
        assert len(listed) >= 1  # an unknown filter value is ignored (it cannot be used as a filter)

    def test_expired_or_missing_restore_data_is_refused(self, make_sim):
        """Restore data older than restore_data_days, or an import that changed nothing, is a 400."""
        sim = make_sim(pickup_delay_seconds=0.0, min_import_seconds=0.01, restore_data_days=0.0)
        with httpx.Client(base_url=sim.url, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
            final = import_and_wait(sim, client, zip_bytes({"users.csv": USERS}))
            expired = client.put(f"{IMPORTS}/{final['id']}/restore_states")
        fresh_sim = make_sim(pickup_delay_seconds=0.0, min_import_seconds=0.01)
        with httpx.Client(base_url=fresh_sim.url, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
            empty = import_and_wait(fresh_sim, client, zip_bytes({"users.csv": b"user_id,login_id,status\n"}))
            nothing = client.put(f"{IMPORTS}/{empty['id']}/restore_states")
            other = client.put(f"{IMPORTS}/{empty['id']}/abort_all_pending/restore_states")

        for refused in (expired, nothing):
            assert (400, {"message": "restore data unavailable"}) == (refused.status_code, refused.json())
        assert 404 == other.status_code

    def test_reset_forgets_progresses(self, sim, client):
        """`reset()` forgets every Progress with the imports."""
        final = import_and_wait(sim, client, zip_bytes({"users.csv": USERS}))
        progress_id = restore(client, final["id"])["id"]

        sim.reset()

        assert 404 == client.get(f"/api/v1/progress/{progress_id}").status_code


def users_of(count: int) -> bytes:
    rows = "".join(f"u{n},l{n},active\n" for n in range(count))
    return zip_bytes({"users.csv": ("user_id,login_id,status\n" + rows).encode()})


class TestRemasterRule:
    def test_more_over_threshold_imports_than_max_skip_fail_until_a_remaster(self, make_sim):
        """Past `sis_diffing_max_skip` over-threshold imports since the base every import fails; a remaster re-bases."""
        sim = make_sim(pickup_delay_seconds=0.0, min_import_seconds=0.01, sis_diffing_max_skip=1)
        diffing = {"diffing_data_set_identifier": "ds", "change_threshold": "10"}
        with httpx.Client(base_url=sim.url, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
            base = import_and_wait(sim, client, users_of(2), **diffing)
            over = [import_and_wait(sim, client, users_of(size), **diffing) for size in (40, 80)]
            failed = [import_and_wait(sim, client, users_of(2), **diffing) for _ in range(2)]
            other_set = import_and_wait(sim, client, users_of(2), diffing_data_set_identifier="other")
            remaster = import_and_wait(sim, client, users_of(2), **diffing, diffing_remaster_data_set="true")
            after = import_and_wait(sim, client, users_of(2), **diffing)

        assert base["diffing_threshold_exceeded"] is False
        assert [True, True] == [item["diffing_threshold_exceeded"] for item in over]
        for item in failed:
            assert "failed_with_messages" == item["workflow_state"]
            assert [[None, REMASTER_REQUIRED]] == item["processing_errors"]
            assert {"error_count": 1, "warning_count": 0} == item["data"]["counts"]
            assert (0, None) == (item["progress"], item["data"].get("error_message"))
            assert "supplied_batches" not in item["data"]
            assert 0 == item["data"]["statistics"]["total_state_changes"]
        assert "imported" == other_set["workflow_state"]
        assert ("imported", True) == (remaster["workflow_state"], remaster["diffing_remaster"])
        assert "imported" == after["workflow_state"]
