"""
Large uploads by Canvas's `pre_attachment` flow, with `sis-watcher run` as a subprocess.

The simulator records every import that got a file and every request to its storage host, so
"arrived once" and "no token at storage" are read from its record. Kills are SIGKILL at a moment
the simulator holds still (a stalled storage POST, a large body left unread, a stalled
confirmation), and once the manifest shows the step the test is about.
"""

from __future__ import annotations

import io
import secrets
import zipfile
from typing import Any

import pytest

from sis_watcher.simulator.canvas import CanvasSimulator
from sis_watcher.simulator.model.faults import FaultKind

from support import TOKEN, USERS_CSV, drop_file, wait_until

LARGE = {"method": "auto", "direct_max_bytes": 100}  # the sample's zip is about 200 bytes


def zipped(files: dict[str, bytes]) -> bytes:
    """Return `files` as one zip, stored (not compressed), the way some SIS exports write them."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def arrived_once(canvas: CanvasSimulator, tree) -> Any:
    """The one filed batch came by pre_attachment, its zip arrived in exactly one import, no token at storage."""
    [done] = tree.batches("done")
    manifest = tree.manifest(done)
    canvas.wait_until(lambda: all(upload.processed for upload in canvas.uploads))
    [received] = canvas.uploads
    assert ("pre_attachment", manifest["zip"]["sha256"]) == (received.method, received.sha256)
    assert received.import_id == manifest["canvas"]["import_id"]
    assert "pre_attachment" == manifest["upload"]["method"]
    assert [] == [record for record in canvas.storage_uploads if record.authorization_sent]
    assert TOKEN not in (done / "manifest.json").read_text(encoding="utf-8")
    return manifest


@pytest.mark.parametrize("style", ["inst_fs", "s3"])
def test_a_zip_above_the_threshold_goes_by_pre_attachment_and_arrives_once(tree, simulator, service, style):
    """`upload.method: auto`: a zip above direct_max_bytes is created, sent to storage (and confirmed), imported once."""
    canvas = simulator(upload_style=style)
    running = service(tree.write_config(canvas.url, upload=LARGE))

    drop_file(tree.drop, "users.csv", USERS_CSV)
    wait_until(lambda: tree.batches("done"), what="the batch in done/")

    arrived_once(canvas, tree)
    assert ["imported"] == [item["workflow_state"] for item in canvas.imports]
    assert [style] == [record.style for record in canvas.storage_uploads]
    assert 0 == running.stop()


def upload_marks(tree) -> dict[str, Any]:
    """The `upload` record of the one batch in queue/ (empty while there is none)."""
    batches = tree.batches("queue")
    return tree.manifest(batches[0]).get("upload", {}) if batches else {}


def kill_at(
    canvas: CanvasSimulator, tree, service, stall, config, *, mark: str | None = None, drop=None
) -> dict[str, Any]:
    """
    Drop a batch, SIGKILL the daemon once the stalled fault fired; return the one import it made.

    `mark`: also wait until the manifest's `upload.<mark>` is saved. `drop` drops the batch instead.
    """
    first = service(config)
    (drop or (lambda: drop_file(tree.drop, "users.csv", USERS_CSV)))()
    wait_until(
        lambda: (
            canvas.faults.fired(stall) and canvas.imports and (mark is None or upload_marks(tree).get(mark))
        ),
        what="the daemon to reach the stalled step",
    )
    [made] = canvas.imports
    first.process.kill()
    first.wait()
    return made


def test_a_sigkill_before_the_create_answer_leaves_one_import_run_and_the_orphan_aborted(
    tree, simulator, service
):
    """Killed while Canvas holds the create's answer: the restart finds the orphan, aborts it; one import runs."""
    canvas = simulator(upload_style="inst_fs")
    stall = canvas.faults.add(kind=FaultKind.SLOW, delay_seconds=60, method="POST", path="sis_imports$")
    config = tree.write_config(canvas.url, upload=LARGE)
    orphan = kill_at(canvas, tree, service, stall, config)
    assert "initializing" == (canvas.import_json(orphan["id"]) or {}).get("workflow_state")

    again = service(config)
    wait_until(lambda: tree.batches("done"), what="the batch in done/ after the restart")

    manifest = arrived_once(canvas, tree)
    assert [orphan["id"]] == manifest["upload"]["abandoned_import_ids"]
    assert ["aborted", "imported"] == [item["workflow_state"] for item in canvas.imports]
    assert [orphan["id"]] == [event["import_id"] for event in again.events("upload.orphan_aborted")]
    assert 0 == again.stop()


def test_a_sigkill_once_storage_has_the_whole_zip_adopts_the_import_it_reached(tree, simulator, service):
    """inst-fs stored the zip and told Canvas, its answer held back; killed then: the restart adopts that import, once."""
    canvas = simulator(upload_style="inst_fs")
    stall = canvas.faults.add(kind=FaultKind.SLOW, delay_seconds=60, method="POST", path="^/uploads/")
    config = tree.write_config(canvas.url, upload=LARGE)
    reached = kill_at(canvas, tree, service, stall, config)

    again = service(config)
    wait_until(lambda: tree.batches("done"), what="the batch in done/ after the restart")

    manifest = arrived_once(canvas, tree)
    assert ([], reached["id"]) == (
        manifest["upload"]["abandoned_import_ids"],
        manifest["canvas"]["import_id"],
    )
    assert ["imported"] == [item["workflow_state"] for item in canvas.imports]
    assert [reached["id"]] == [event["import_id"] for event in again.events("upload.adopted")]
    assert 0 == again.stop()


def test_a_sigkill_once_the_whole_body_went_out_waits_for_the_file_rather_than_starting_over(
    tree, simulator, service
):
    """Killed after the zip's last byte went to storage: the restart waits for the import to get it, makes no other."""
    canvas = simulator(upload_style="inst_fs")
    stall = canvas.faults.add(kind=FaultKind.STALL, delay_seconds=60, path="^/uploads/")
    config = tree.write_config(canvas.url, upload=LARGE)
    pending = kill_at(canvas, tree, service, stall, config, mark="file_sent_at")

    again = service(config)
    [waiting] = again.wait_for_event("upload.waiting_for_file")

    assert pending["id"] == waiting["import_id"]
    assert ["initializing"] == [item["workflow_state"] for item in canvas.imports]
    assert 0 == again.stop()
    assert 1 == len(canvas.imports)
    assert [] == again.events("upload.orphan_aborted")


def test_a_sigkill_while_the_body_streams_aborts_and_uploads_again_at_once(tree, simulator, service):
    """Killed mid-body (storage reading slowly): storage keeps no body cut short, so the restart starts over at once."""
    canvas = simulator(upload_style="inst_fs")
    slow = canvas.faults.add(kind=FaultKind.SLOW_BODY, delay_seconds=60, path="^/uploads/")
    config = tree.write_config(canvas.url, upload=LARGE)
    # A ready-made zip, stored (not deflated) and far larger than the socket buffers: it cannot be
    # handed over whole while storage does not read.
    notes = "".join(f"u{index},login{index},active,{secrets.token_hex(50_000)}\n" for index in range(120))
    data = zipped({"users.csv": ("user_id,login_id,status,notes\n" + notes).encode()})
    cut = kill_at(
        canvas,
        tree,
        service,
        slow,
        config,
        mark="file_sending_at",
        drop=lambda: drop_file(tree.drop, "big.zip", data),
    )
    assert upload_marks(tree).get("file_sent_at") is None

    again = service(config)
    wait_until(lambda: tree.batches("done"), timeout=60, what="the batch in done/ after the restart")

    manifest = arrived_once(canvas, tree)
    assert ([cut["id"]], 0) == (manifest["upload"]["abandoned_import_ids"], manifest["upload"]["start_overs"])
    assert ["aborted", "imported"] == [item["workflow_state"] for item in canvas.imports]
    [aborted] = again.events("upload.orphan_aborted")
    assert (cut["id"], "its file was cut short") == (aborted["import_id"], aborted["reason"])
    assert [] == again.events("upload.waiting_for_file")
    assert 0 == again.stop()


def test_a_sigkill_during_the_s3_confirmation_confirms_again_and_adopts_at_once(tree, simulator, service):
    """Killed while Canvas holds the confirmation: the restart asks the recorded create_success again and adopts."""
    canvas = simulator(upload_style="s3")
    stall = canvas.faults.add(kind=FaultKind.STALL, delay_seconds=60, path="create_success")
    config = tree.write_config(canvas.url, upload=LARGE)
    pending = kill_at(canvas, tree, service, stall, config, mark="confirmation_url")

    again = service(config)
    wait_until(lambda: tree.batches("done"), what="the batch in done/ after the restart")

    manifest = arrived_once(canvas, tree)
    assert (pending["id"], True, []) == (
        manifest["canvas"]["import_id"],
        manifest["upload"]["adopted"],
        manifest["upload"]["abandoned_import_ids"],
    )
    assert ["imported"] == [item["workflow_state"] for item in canvas.imports]
    assert [] == again.events("upload.waiting_for_file")
    assert 0 == again.stop()


def test_an_instance_without_pre_attachment_falls_back_to_a_direct_upload(tree, simulator, service):
    """The create answers no `pre_attachment`: that import is aborted, the fact logged once, the zip sent directly."""
    canvas = simulator(pre_attachment_supported=False)
    running = service(tree.write_config(canvas.url, upload={"method": "pre_attachment"}))

    drop_file(tree.drop, "users.csv", USERS_CSV)
    wait_until(lambda: tree.batches("done"), what="the batch in done/")

    [done] = tree.batches("done")
    manifest = tree.manifest(done)
    assert "direct" == manifest["upload"]["method"]
    assert 1 == len(running.events("upload.pre_attachment_unsupported"))
    assert "aborted" == canvas.imports[0]["workflow_state"]
    assert [canvas.imports[0]["id"]] == manifest["upload"]["abandoned_import_ids"]
    direct = [upload for upload in canvas.uploads if upload.import_id == manifest["canvas"]["import_id"]]
    assert [manifest["zip"]["sha256"]] == [upload.sha256 for upload in direct]
    assert [] == canvas.storage_uploads
    assert 0 == running.stop()
