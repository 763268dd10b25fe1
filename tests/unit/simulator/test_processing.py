"""How the simulator reads uploads like Canvas: types, failures, warnings, attachments (docs/canvas.md §2, §3)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from sis_watcher.simulator.canvas import CanvasSimulator, SimulatorSettings
from sis_watcher.simulator.model.processing import Cancelled, process_upload
from sis_watcher.simulator.model.store import SisStore

from unit.simulator.helpers import DOCS, FIXTURES, OTHER, TOKEN, demo_file, import_and_wait, upload, zip_bytes

CLEAN_DOC_EXAMPLES = [
    "accounts.csv",
    "courses.csv",
    "terms.csv",
    "users.csv",
    "groups.csv",
    "group_categories.csv",
    "groups_membership.csv",
    "user_observers.csv",
    "xlists.csv",
    "differentiation_tag_sets.csv",
    "differentiation_tags.csv",
    "differentiation_tag_membership.csv",
    "admins.csv",
]


def test_generated_demo_import_is_clean(sim: CanvasSimulator, client: httpx.Client) -> None:
    """The demo export whose references all resolve imports clean, every row counted (§3.2)."""
    kinds = ["account", "term", "course", "section", "user", "enrollment"]
    final = import_and_wait(
        sim, client, zip_bytes({f"{kind}s.csv": demo_file(kind) for kind in reversed(kinds)})
    )

    assert final["workflow_state"] == "imported"
    assert final["data"]["supplied_batches"] == kinds
    assert final["data"]["counts"]["users"] == 10000
    assert final["data"]["counts"]["enrollments"] == 10000
    assert [member.rows for member in sim.uploads[0].members] == [10000, 10000, 1, 1, 1, 1]
    assert {row["display_name"] for row in final["csv_attachments"]} >= {
        "users_filtered.csv",
        "enrollments.csv",
    }


@pytest.mark.parametrize("name", CLEAN_DOC_EXAMPLES)
def test_clean_doc_examples_import_clean(sim: CanvasSimulator, client: httpx.Client, name: str) -> None:
    """Each self-contained sample of Canvas's CSV docs imports `imported`."""
    final = import_and_wait(sim, client, zip_bytes({name: DOCS / name}))

    assert final["workflow_state"] == "imported", final.get("processing_warnings")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "enrollments.csv",
            "Neither course nor section existed for user enrollment (Course ID: E411208, Section ID: 1B, User ID: 01103)",
        ),
        ("sections.csv", "Section S001 references course E411208 which doesn't exist"),
        ("logins.csv", "Could not find the existing user for login with SIS ID 01103, skipping"),
        ("change_sis_id.csv", "No type given for change sis id u001"),
    ],
)
def test_defective_doc_examples_warn(
    sim: CanvasSimulator, client: httpx.Client, name: str, message: str
) -> None:
    """Doc samples with dangling references or short rows end `imported_with_messages` (§5.0)."""
    final = import_and_wait(sim, client, zip_bytes({name: DOCS / name}))

    assert final["workflow_state"] == "imported_with_messages"
    assert [name, message] in final["processing_warnings"]


def test_enrollment_with_unknown_section_or_user_warns(sim: CanvasSimulator, client: httpx.Client) -> None:
    """With the course known, a missing section or user is its own warning (enrollment_importer.rb)."""
    members: dict[str, bytes | Path] = {
        "courses.csv": DOCS / "courses.csv",
        "enrollments.csv": b"course_id,user_id,role,section_id,status\nE411208,nobody,student,,active\nE411208,x,student,1B,active\n",
    }
    warnings = import_and_wait(sim, client, zip_bytes(members))["processing_warnings"]

    assert [
        "enrollments.csv",
        "User not found for enrollment (User ID: nobody, Course ID: E411208, Section ID: )",
    ] in warnings
    assert ["enrollments.csv", "An enrollment referenced a non-existent section 1B"] in warnings


def test_unknown_header_fails_with_messages(sim: CanvasSimulator, client: httpx.Client) -> None:
    """A CSV whose header matches no importer fails the batch (§3.3)."""
    name = "course_list.csv"
    members: dict[str, bytes | Path] = {
        name: OTHER / "tfullwood__canvas-contrib__API_Examples__Automation__demodata__course_list.csv",
        "users.csv": DOCS / "users.csv",
    }
    final = import_and_wait(sim, client, zip_bytes(members))

    assert final["workflow_state"] == "failed_with_messages"
    assert final["processing_errors"] == [[name, "Couldn't find Canvas CSV import headers"]]
    assert final["data"]["counts"]["users"] == 3
    assert final["data"]["supplied_batches"] == ["user"]


def test_invalid_utf8_and_malformed_csv_fail(sim: CanvasSimulator, client: httpx.Client) -> None:
    """Invalid UTF-8 and broken quoting are failures for their file (§3.4)."""
    members: dict[str, bytes | Path] = {
        "latin1.csv": "user_id,login_id,status\nu1,Andr\u00e9,active\n".encode("latin-1"),
        "broken.csv": b'user_id,login_id,status\nu1,"unclosed,active\n',
        "truncated.csv": b"user_id,login_id,status\nu1,\xc3",
    }
    final = import_and_wait(sim, client, zip_bytes(members))

    assert final["workflow_state"] == "failed_with_messages"
    assert sorted(final["processing_errors"]) == [
        ["broken.csv", "Malformed CSV"],
        ["latin1.csv", "Invalid UTF-8"],
        ["truncated.csv", "Invalid UTF-8"],
    ]


@pytest.mark.parametrize(
    "name",
    [
        "spec__fixtures__sis__with_bom.csv",
        "spec__fixtures__sis__utf8.csv",
        "spec__fixtures__sis__users_utf.csv",
    ],
)
def test_canvas_fixtures_import_clean(sim: CanvasSimulator, client: httpx.Client, name: str) -> None:
    """Canvas's own users fixtures (BOM, multi-byte at 4096, accents) import clean."""
    final = import_and_wait(sim, client, (FIXTURES / name).read_bytes(), extension="csv")

    assert final["workflow_state"] == "imported"
    assert final["data"]["supplied_batches"] == ["user"]
    assert final["csv_attachments"][0]["display_name"] == "sis_import.csv"


def test_row_problems_are_warnings_with_header_counted_rows(
    sim: CanvasSimulator, client: httpx.Client
) -> None:
    """Missing values, bad statuses and NUL bytes warn; `row` counts the header as 1 (§1.8, §3.4)."""
    csv = b"user_id,login_id,status\nu1,l1,active\n,l2,active\nu3,l3,retired\nu4,l\x004,active\n,,\nu5,,active\n"
    final = import_and_wait(sim, client, csv, extension="csv")
    errors = client.get(f"/api/v1/accounts/self/sis_imports/{final['id']}/errors").json()["sis_import_errors"]

    assert final["workflow_state"] == "imported_with_messages"
    assert final["data"]["counts"]["users"] == 1
    assert final["data"]["counts"]["warning_count"] == 4
    assert [(error["row"], error["message"]) for error in errors] == [
        (3, "No user_id given for a user"),
        (4, 'Improper status "retired" for user u3'),
        (5, "Some of the fields contain NULL character"),
        (7, "No login_id given for user u5"),
    ]
    assert errors[0]["file"] == "sis_import.csv"
    assert errors[0]["row_info"] == ",l2,active"
    assert sim.uploads[0].members[0].rows == 5


def test_skip_deletes_skips_deleted_rows(sim: CanvasSimulator, client: httpx.Client) -> None:
    """With skip_deletes, rows with status deleted are skipped and not counted (§1.1)."""
    csv = b"user_id,login_id,status\nu1,l1,active\nu2,l2,deleted\n"
    final = import_and_wait(sim, client, csv, extension="csv", skip_deletes="true")

    assert final["workflow_state"] == "imported"
    assert final["data"]["counts"]["users"] == 1


def test_zip_members_ignored_skipped_and_filtered(sim: CanvasSimulator, client: httpx.Client) -> None:
    """__MACOSX, dot-files and desktop.ini are silent; other non-CSVs warn; passwords are filtered (§2.6, §3.2)."""
    members: dict[str, bytes | Path] = {
        "__MACOSX/._users.csv": b"junk",
        ".DS_Store": b"junk",
        "desktop.ini": b"junk",
        "READY": b"",
        "sub/users.csv": OTHER / "unsupported__canvas__sis__create_ssha_passwords__users_hashed.csv",
        "empty.csv": b"",
    }
    final = import_and_wait(sim, client, zip_bytes(members))

    assert final["workflow_state"] == "imported_with_messages"
    assert final["processing_warnings"] == [["READY", "Skipping unknown file type"]]
    attachments = final["csv_attachments"]
    assert [row["display_name"] for row in attachments] == ["users_filtered.csv"]
    assert attachments[0]["size"] == len(b"user_id,login_id,status\nshauser_v10,shauser_v10,active\n")
    assert [member.name for member in sim.uploads[0].members] == ["sub/users.csv", "empty.csv"]


def test_more_than_24_warnings_are_truncated(sim: CanvasSimulator, client: httpx.Client) -> None:
    """At most 24 warnings are listed, then "and N more" (§2.3); the counts hold the total."""
    rows = "".join(f"u{index},l{index},bogus\n" for index in range(30))
    final = import_and_wait(sim, client, ("user_id,login_id,status\n" + rows).encode(), extension="csv")

    warnings = final["processing_warnings"]
    assert len(warnings) == 25
    assert warnings[-1] == [
        "and 6 more warnings that were not included",
        "Download the error file to see all warnings.",
    ]
    assert final["data"]["counts"]["warning_count"] == 30


def test_errors_attachment_appears_late_and_redirects_to_storage(
    make_sim: Callable[..., CanvasSimulator],
) -> None:
    """The errors file shows up after the end and downloads through a cross-host redirect (§2.5)."""
    sim = make_sim(errors_attachment_delay_seconds=0.3)
    with httpx.Client(base_url=sim.url, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        created = upload(client, b"user_id,login_id,status\nu1,l1,bogus\n", extension="csv").json()
        first = sim.wait_for_state(created["id"])
        sim.wait_until(lambda: "errors_attachment" in (sim.import_json(created["id"]) or {}))
        attachment = sim.import_json(created["id"])["errors_attachment"]  # type: ignore[index]
        redirect = client.get(attachment["url"])
        bad_verifier = client.get(attachment["url"].replace("verifier=v", "verifier=x"))
        missing = client.get("/files/999/download")
        wrong_name = client.get(f"{sim.storage_url}/storage/{attachment['id']}/other.csv")
    with httpx.Client() as plain:
        download = plain.get(redirect.headers["Location"])

    assert "errors_attachment" not in first
    assert attachment["display_name"] == f"sis_errors_attachment_{created['id']}.csv"
    assert redirect.status_code == 302
    assert redirect.headers["Location"].startswith(sim.storage_url)
    assert bad_verifier.status_code == 401
    assert missing.status_code == 404
    assert wrong_name.status_code == 404
    assert download.status_code == 200
    assert download.text.splitlines()[0] == "sis_import_id,file,message,row"
    assert f'{created["id"]},sis_import.csv,"Improper status ""bogus"" for user u1",2' in download.text
    assert [record.authorization_sent for record in sim.downloads] == [True, False]


def test_follow_redirects_with_httpx_drops_authorization(make_sim: Callable[..., CanvasSimulator]) -> None:
    """httpx following the redirect does not carry the token to the storage host (recorded)."""
    sim = make_sim(errors_attachment_delay_seconds=0.0)
    with httpx.Client(
        base_url=sim.url, headers={"Authorization": f"Bearer {TOKEN}"}, follow_redirects=True
    ) as client:
        created = upload(client, b"user_id,login_id,status\nu1,l1,bogus\n", extension="csv").json()
        final = sim.wait_for_state(created["id"])
        response = client.get(final["errors_attachment"]["url"])

    assert response.status_code == 200
    assert [record.authorization_sent for record in sim.downloads] == [False]


def test_zip_limits_fail_the_batch(make_sim: Callable[..., CanvasSimulator]) -> None:
    """Too many members or more than 100x expansion fails the batch outright (§3.5)."""
    sim = make_sim(max_zip_members=2)
    with httpx.Client(base_url=sim.url, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        many = import_and_wait(
            sim, client, zip_bytes({f"u{index}.csv": DOCS / "users.csv" for index in range(3)})
        )
        bomb = import_and_wait(
            sim, client, zip_bytes({"big.csv": b"user_id,login_id,status\n" + b" " * 1_000_000})
        )

    assert many["workflow_state"] == "failed"
    assert many["data"]["error_message"] == "CanvasUnzip::FileLimitExceeded"
    assert bomb["workflow_state"] == "failed"
    assert bomb["data"]["error_message"] == "CanvasUnzip::SizeLimitExceeded"
    assert "processing_errors" not in bomb


def test_not_a_zip_fails_and_xml_is_not_processed(sim: CanvasSimulator, client: httpx.Client) -> None:
    """A body that is no zip fails; a non-zip, non-CSV extension is silently not processed (§1.1)."""
    broken = import_and_wait(sim, client, b"this is not a zip")
    xml = import_and_wait(sim, client, b"<xml/>", extension="xml")

    assert broken["workflow_state"] == "failed"
    assert broken["data"]["error_message"].startswith("BadZipFile")
    assert broken["progress"] < 100
    assert xml["workflow_state"] == "imported"
    assert "supplied_batches" not in xml["data"]


def test_unsafe_zip_entries_are_skipped(sim: CanvasSimulator, client: httpx.Client) -> None:
    """Symlinks and `..` paths in a zip are skipped silently (CanvasUnzip, §3.5)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../evil.csv", b"user_id,login_id,status\nu,l,active\n")
        link = zipfile.ZipInfo("link.csv")
        link.external_attr = 0o120777 << 16
        archive.writestr(link, "users.csv")
        archive.writestr("dir/", b"")
        archive.writestr("users.csv", (DOCS / "users.csv").read_bytes())
    final = import_and_wait(sim, client, buffer.getvalue())

    assert final["workflow_state"] == "imported"
    assert [member.name for member in sim.uploads[0].members] == ["users.csv"]


def test_store_overflow_stops_reference_checks(make_sim: Callable[..., CanvasSimulator]) -> None:
    """Past `max_tracked_objects` the simulator stops remembering objects and checking references."""
    sim = make_sim(max_tracked_objects=2)
    with httpx.Client(base_url=sim.url, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        users = import_and_wait(sim, client, zip_bytes({"users.csv": DOCS / "users.csv"}))
        enrollments = import_and_wait(sim, client, zip_bytes({"enrollments.csv": DOCS / "enrollments.csv"}))

    assert users["workflow_state"] == "imported"
    assert enrollments["workflow_state"] == "imported"
    assert sim.store.overflowed is True


def test_processing_stops_when_cancelled(tmp_path: Path) -> None:
    """Processing gives up with Cancelled once the simulator is stopping."""
    body = tmp_path / "upload"
    body.write_bytes(b"user_id,login_id,status\nu1,l1,active\n")

    with pytest.raises(Cancelled):
        process_upload(
            body,
            file_name="sis_import.csv",
            import_id=1,
            settings=SimulatorSettings(),
            store=SisStore(),
            skip_deletes=False,
            cancelled=lambda: True,
        )
