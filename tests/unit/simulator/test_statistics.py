"""`data.statistics`: each import's state changes per model, counted like Canvas (docs/canvas.md §A3)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from sis_watcher.simulator.canvas import CanvasSimulator
from sis_watcher.simulator.model.faults import FaultKind
from sis_watcher.simulator.model.statistics import RESTORE_ORDER

from unit.simulator.helpers import TOKEN, import_and_wait, upload, zip_bytes

IMPORTS = "/api/v1/accounts/self/sis_imports"
USER_WITH_EMAIL = b"user_id,login_id,email,status\nu1,jdoe,jdoe@example.edu,active\n"
TERM = b"term_id,name,status\nT1,Term 1,active\n"
COURSES = "course_id,short_name,long_name,term_id,status\n"
SECTIONS = "section_id,course_id,name,status\n"
ENROLLMENTS = "course_id,section_id,user_id,role,status\n"


def zeroes() -> dict[str, Any]:
    """The statistics of an import that changed nothing: every RESTORE_ORDER model zero-filled."""
    result: dict[str, Any] = {"total_state_changes": 0}
    for model in RESTORE_ORDER:
        result[model] = {"created": 0, "restored": 0, "deleted": 0}
    result["Course"]["concluded"] = 0
    result["Enrollment"] |= {"concluded": 0, "deactivated": 0}
    return result


def expected(total: int, **models: dict[str, int]) -> dict[str, Any]:
    """Zero-filled statistics with `total_state_changes` and some models' counts set."""
    result = zeroes()
    result["total_state_changes"] = total
    for model, counts in models.items():
        result[model] |= counts
    return result


def users(*rows: str) -> bytes:
    return zip_bytes({"users.csv": ("user_id,login_id,email,status\n" + "".join(rows)).encode()})


def term_export(courses: dict[str, str], enrollments: dict[str, str]) -> bytes:
    """Term T1 with ten users, courses (id -> status) with one section each, enrollments (user -> status) in C0."""
    return zip_bytes(
        {
            "terms.csv": TERM,
            "users.csv": b"user_id,login_id,status\n"
            + b"".join(f"u{i},l{i},active\n".encode() for i in range(10)),
            "courses.csv": (
                COURSES
                + "".join(f"{course},{course},{course},T1,{status}\n" for course, status in courses.items())
            ).encode(),
            "sections.csv": (
                SECTIONS + "".join(f"S{course},{course},S,active\n" for course in courses)
            ).encode(),
            "enrollments.csv": (
                ENROLLMENTS
                + "".join(f"C0,SC0,{user},student,{status}\n" for user, status in enrollments.items())
            ).encode(),
        }
    )


def test_a_user_row_counts_as_a_login_and_its_email(sim: CanvasSimulator, client: httpx.Client) -> None:
    """One new user with an e-mail is a Pseudonym and a CommunicationChannel created, the rest zero (§6.2)."""
    final = import_and_wait(sim, client, zip_bytes({"users.csv": USER_WITH_EMAIL}))

    assert (
        expected(2, Pseudonym={"created": 1}, CommunicationChannel={"created": 1})
        == final["data"]["statistics"]
    )
    assert "statistics" not in final
    assert ["counts", "statistics"] == list(final["data"])[-2:]


def test_unchanged_rows_are_no_state_change(sim: CanvasSimulator, client: httpx.Client) -> None:
    """The same export imported twice changes nothing the second time: all zeroes."""
    import_and_wait(sim, client, zip_bytes({"users.csv": USER_WITH_EMAIL}))
    again = import_and_wait(sim, client, zip_bytes({"users.csv": USER_WITH_EMAIL}))

    assert zeroes() == again["data"]["statistics"]


def test_deleting_and_restoring_users(sim: CanvasSimulator, client: httpx.Client) -> None:
    """A deleted user retires its e-mail (counted deleted); made active again, both are restored."""
    import_and_wait(sim, client, users("u1,l1,a@x.edu,active\n", "u2,l2,,active\n"))
    deleted = import_and_wait(sim, client, users("u1,l1,a@x.edu,deleted\n", "u2,l2,,active\n"))
    restored = import_and_wait(sim, client, users("u1,l1,a@x.edu,active\n", "u2,l2,,suspended\n"))

    assert (
        expected(2, Pseudonym={"deleted": 1}, CommunicationChannel={"deleted": 1})
        == deleted["data"]["statistics"]
    )
    assert (
        expected(3, Pseudonym={"restored": 1}, CommunicationChannel={"restored": 1})
        == restored["data"]["statistics"]
    )


def test_courses_and_enrollments_conclude_deactivate_and_restore(
    sim: CanvasSimulator, client: httpx.Client
) -> None:
    """Completed courses and enrollments are concluded, inactive ones deactivated, active again restored."""
    first = import_and_wait(
        sim, client, term_export({"C0": "active", "C1": "active"}, {"u1": "active", "u2": "active"})
    )
    second = import_and_wait(
        sim, client, term_export({"C0": "active", "C1": "completed"}, {"u1": "completed", "u2": "inactive"})
    )
    third = import_and_wait(
        sim, client, term_export({"C0": "active", "C1": "active"}, {"u1": "active", "u2": "active"})
    )

    assert (
        expected(
            17,
            EnrollmentTerm={"created": 1},
            Pseudonym={"created": 10},
            Course={"created": 2},
            CourseSection={"created": 2},
            Enrollment={"created": 2},
        )
        == first["data"]["statistics"]
    )
    assert (
        expected(3, Course={"concluded": 1}, Enrollment={"concluded": 1, "deactivated": 1})
        == second["data"]["statistics"]
    )
    assert expected(3, Course={"restored": 1}, Enrollment={"restored": 2}) == third["data"]["statistics"]


def test_other_importers_count_under_their_models(sim: CanvasSimulator, client: httpx.Client) -> None:
    """Accounts, groups, memberships, observers, admins and logins count under Canvas's model names."""
    export = zip_bytes(
        {
            "accounts.csv": b"account_id,parent_account_id,name,status\nA1,,Arts,active\n",
            "users.csv": b"user_id,login_id,status\nu1,l1,active\nu2,l2,active\n",
            "logins.csv": b"user_id,login_id,existing_user_id\nu1b,l1b,u1\n",
            "admins.csv": b"user_id,account_id,role,status\nu1,A1,AccountAdmin,active\n",
            "group_categories.csv": b"group_category_id,category_name,status\nGC1,Projects,active\n",
            "groups.csv": b"group_id,name,group_category_id,status\nG1,Team,GC1,available\n",
            "group_memberships.csv": b"group_id,user_id,status\nG1,u1,accepted\nG1,u2,accepted\n",
            "user_observers.csv": b"observer_id,student_id,status\nu1,u2,active\n",
        }
    )

    final = import_and_wait(sim, client, export)

    assert "imported" == final["workflow_state"], final.get("processing_warnings")
    assert (
        expected(
            10,
            Account={"created": 1},
            Pseudonym={"created": 3},
            AccountUser={"created": 1},
            GroupCategory={"created": 1},
            Group={"created": 1},
            GroupMembership={"created": 2},
            UserObserver={"created": 1},
        )
        == final["data"]["statistics"]
    )


def test_batch_mode_removals_are_state_changes(sim: CanvasSimulator, client: httpx.Client) -> None:
    """Batch mode's deletions count as deleted, and its inactive drop status as deactivated."""
    everyone = {f"u{i}": "active" for i in range(10)}
    import_and_wait(sim, client, term_export({"C0": "active", "C1": "active"}, everyone))
    fewer = {f"u{i}": "active" for i in range(7)}
    deleted = import_and_wait(
        sim, client, term_export({"C0": "active"}, fewer), batch_mode="1", batch_mode_term_id="sis_term_id:T1"
    )
    dropped = import_and_wait(
        sim,
        client,
        term_export({"C0": "active"}, {f"u{i}": "active" for i in range(5)}),
        batch_mode="1",
        batch_mode_term_id="sis_term_id:T1",
        batch_mode_enrollment_drop_status="inactive",
    )

    counts = deleted["data"]["counts"]
    assert (1, 1, 3) == (
        counts["batch_courses_deleted"],
        counts["batch_sections_deleted"],
        counts["batch_enrollments_deleted"],
    )
    assert (
        expected(5, Course={"deleted": 1}, CourseSection={"deleted": 1}, Enrollment={"deleted": 3})
        == deleted["data"]["statistics"]
    )
    assert 2 == dropped["data"]["counts"]["batch_enrollments_deleted"]
    assert expected(2, Enrollment={"deactivated": 2}) == dropped["data"]["statistics"]


def test_batch_mode_removes_only_the_supplied_types(sim: CanvasSimulator, client: httpx.Client) -> None:
    """An enrollments-only batch-mode import removes enrollments, never courses or sections (§A5)."""
    import_and_wait(
        sim, client, term_export({"C0": "active", "C1": "active"}, {"u1": "active", "u2": "active"})
    )
    only_enrollments = zip_bytes({"enrollments.csv": f"{ENROLLMENTS}C0,SC0,u1,student,active\n".encode()})

    final = import_and_wait(
        sim, client, only_enrollments, batch_mode="1", batch_mode_term_id="sis_term_id:T1"
    )

    assert {"batch_enrollments_deleted": 1} == {
        key: value for key, value in final["data"]["counts"].items() if key.startswith("batch_")
    }
    assert expected(1, Enrollment={"deleted": 1}) == final["data"]["statistics"]


def test_a_threshold_abort_has_statistics_without_removals(
    sim: CanvasSimulator, client: httpx.Client
) -> None:
    """A change_threshold abort keeps the rows' changes in statistics, and nothing batch mode removed."""
    import_and_wait(sim, client, term_export({"C0": "active"}, {f"u{i}": "active" for i in range(10)}))

    final = import_and_wait(
        sim,
        client,
        term_export({"C0": "active"}, {"u0": "active"}),
        batch_mode="1",
        batch_mode_term_id="sis_term_id:T1",
        change_threshold="10",
    )

    assert "aborted" == final["workflow_state"]
    assert zeroes() == final["data"]["statistics"]


def test_no_statistics_while_running_when_failed_outright_or_aborted(
    make_sim: Callable[..., CanvasSimulator],
) -> None:
    """Statistics appear only at the end: not while importing, not on `failed`, not on an API abort."""
    sim = make_sim(pickup_delay_seconds=0.0, min_import_seconds=0.0, max_zip_members=1)
    with httpx.Client(base_url=sim.url, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        sim.faults.add(kind=FaultKind.STUCK_IMPORTING)
        stuck = upload(client, zip_bytes({"users.csv": USER_WITH_EMAIL})).json()["id"]
        sim.wait_until(lambda: "csv_attachments" in (sim.import_json(stuck) or {}))
        running = client.get(f"{IMPORTS}/{stuck}").json()
        client.put(f"{IMPORTS}/{stuck}/abort")
        aborted = sim.wait_for_state(stuck)
        failed = import_and_wait(sim, client, zip_bytes({"a.csv": USER_WITH_EMAIL, "b.csv": USER_WITH_EMAIL}))

    assert ("importing", False) == (running["workflow_state"], "statistics" in running["data"])
    assert ("aborted", False) == (aborted["workflow_state"], "statistics" in aborted["data"])
    assert ("failed", False) == (failed["workflow_state"], "statistics" in failed["data"])
    assert {} == sim.store.changed
