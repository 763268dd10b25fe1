"""
Resume on start: a batch left in any state by a crash continues from there, never twice.

Each test builds the state a crash would leave with the real stages (seal, prepare, a real
upload to the simulator), then runs `once` on the same folders and checks where it ends and how
many imports Canvas holds.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest

from sis_watcher.batch.folder import Batch
from sis_watcher.batch.ids import batch_folders
from sis_watcher.batch.manifest import BatchState, Manifest, PlannedFile, load_manifest
from sis_watcher.batch.sealing import seal
from sis_watcher.canvas.client import CanvasClient
from sis_watcher.canvas.credentials import TokenSource
from sis_watcher.config.load import load
from sis_watcher.config.settings import Config
from sis_watcher.core.backoff import RetryPolicy
from sis_watcher.core.clock import SystemClock, isoformat
from sis_watcher.daemon.service import Daemon
from sis_watcher.intake.readiness import SealPlanner, scan
from sis_watcher.ops.events import Monitor
from sis_watcher.pipeline.context import StageContext
from sis_watcher.pipeline.prepare import prepare
from sis_watcher.simulator.model.faults import FaultKind

from support import COURSES_CSV, TOKEN, USERS_CSV, drop_file


def sealed_batch(tree, config: Config) -> Path:
    """Drop two files and seal them with the real intake rules; return the batch folder."""
    drop_file(tree.drop, "users.csv", USERS_CSV)
    drop_file(tree.drop, "courses.csv", COURSES_CSV)
    tree.queue.mkdir(parents=True, exist_ok=True)
    intake = SealPlanner(config.intake)
    intake.observe(scan(tree.drop, config.intake), 0.0)
    [plan] = intake.plans(1000.0)
    result = seal(plan, folders=config.folders, now=SystemClock().now())
    assert result.batch_dir is not None
    return result.batch_dir


def pipeline_for(config: Config) -> StageContext:
    client = CanvasClient(
        base_url=config.canvas.base_url,
        account_id=config.canvas.account_id,
        token_source=TokenSource(token_file=None, environ={"CANVAS_TOKEN": TOKEN}),
    )
    return StageContext(
        config=config,
        client=client,
        clock=SystemClock(),
        stopping=threading.Event(),
        policy=RetryPolicy(initial_seconds=0.05, max_backoff_seconds=0.2, max_elapsed_seconds=5),
        monitor=Monitor(),
    )


def zipped_batch(tree, config: Config) -> tuple[Path, Manifest, StageContext]:
    batch_dir = sealed_batch(tree, config)
    manifest = load_manifest(batch_dir)
    pipeline = pipeline_for(config)
    prepare(Batch(batch_dir, manifest, clock=pipeline.clock), pipeline)
    assert BatchState.ZIPPED == manifest.state
    return batch_dir, manifest, pipeline


def run_once(config_path: Path) -> int:
    return Daemon(load(config_path), once=True, environ={"CANVAS_TOKEN": TOKEN}).run()


@pytest.fixture
def config_path(tree, canvas):
    return tree.write_config(canvas.url, intake={"settle_seconds": 0, "quiet_seconds": 0})


class TestResume:
    def test_a_queued_batch_is_checked_zipped_and_imported(self, tree, canvas, config_path):
        """A batch sealed just before a crash is processed from the start."""
        sealed_batch(tree, load(config_path))

        assert 0 == run_once(config_path)

        assert 1 == len(tree.batches("done"))
        assert 1 == len(canvas.uploads)

    def test_a_half_sealed_batch_is_repaired_and_nothing_is_lost(self, tree, canvas, config_path):
        """A crash in the middle of sealing: the files still in drop/ are moved in, then imported."""
        config = load(config_path)
        batch_dir = sealed_batch(tree, config)
        manifest = load_manifest(batch_dir)
        (batch_dir / "courses.csv").rename(tree.drop / "courses.csv")
        manifest.state = BatchState.SEALING
        manifest.seal_plan = []
        for entry in manifest.files:
            info = (
                batch_dir / entry.name if (batch_dir / entry.name).exists() else tree.drop / entry.name
            ).stat()
            manifest.seal_plan.append(
                PlannedFile(name=entry.name, bytes=info.st_size, mtime_ns=info.st_mtime_ns, inode=info.st_ino)
            )
        manifest.save(batch_dir)

        assert 0 == run_once(config_path)

        [done] = tree.batches("done")
        assert COURSES_CSV == (done / "courses.csv").read_bytes()
        assert USERS_CSV == (done / "users.csv").read_bytes()
        assert [] == list(tree.drop.iterdir())

    def test_a_zipped_batch_is_uploaded_once(self, tree, canvas, config_path):
        """A batch zipped before the crash is uploaded, once."""
        zipped_batch(tree, load(config_path))

        assert 0 == run_once(config_path)

        assert 1 == len(canvas.uploads)
        assert 1 == len(tree.batches("done"))

    def test_an_upload_that_reached_canvas_before_the_crash_is_adopted(self, tree, canvas, config_path):
        """Crash between POST and recording the import id: the import is found and adopted, not re-sent."""
        batch_dir, manifest, pipeline = zipped_batch(tree, load(config_path))
        manifest.upload.started_at = isoformat(SystemClock().now() - timedelta(seconds=1))
        manifest.state = BatchState.UPLOADING
        manifest.save(batch_dir)
        created = pipeline.client.create_import(batch_dir / "batch.zip", params={})
        pipeline.client.close()

        assert 0 == run_once(config_path)

        assert 1 == len(canvas.uploads)
        manifest = tree.manifest(tree.batches("done")[0])
        assert created["id"] == manifest["canvas"]["import_id"]
        assert manifest["upload"]["adopted"] is True

    def test_an_upload_that_never_reached_canvas_is_sent_again(self, tree, canvas, config_path):
        """Crash after recording the start but before the POST left: nothing found, uploaded once."""
        batch_dir, manifest, pipeline = zipped_batch(tree, load(config_path))
        pipeline.client.close()
        manifest.upload.started_at = isoformat(SystemClock().now())
        manifest.state = BatchState.UPLOADING
        manifest.save(batch_dir)

        assert 0 == run_once(config_path)

        assert 1 == len(canvas.uploads)
        assert tree.manifest(tree.batches("done")[0])["upload"]["adopted"] is False

    def test_an_import_in_progress_is_polled_not_uploaded_again(self, tree, canvas, config_path):
        """A batch whose import id is recorded resumes polling."""
        batch_dir, manifest, pipeline = zipped_batch(tree, load(config_path))
        created = pipeline.client.create_import(batch_dir / "batch.zip", params={})
        pipeline.client.close()
        manifest.canvas.import_id = created["id"]
        manifest.canvas.workflow_state = "created"
        manifest.upload.finished_at = isoformat(SystemClock().now())
        manifest.state = BatchState.IMPORTING
        manifest.save(batch_dir)

        assert 0 == run_once(config_path)

        assert 1 == len(canvas.uploads)
        assert "imported" == tree.manifest(tree.batches("done")[0])["canvas"]["workflow_state"]

    def test_a_batch_decided_but_not_filed_is_filed(self, tree, canvas, config_path):
        """Crash between writing the outcome and the rename: the folder is moved on start."""
        batch_dir = sealed_batch(tree, load(config_path))
        manifest = load_manifest(batch_dir)
        manifest.outcome.result = "failed"
        manifest.outcome.reason = "decided before the crash"
        manifest.move_to(BatchState.FAILED, at=isoformat(SystemClock().now()))
        manifest.save(batch_dir)

        assert 1 == run_once(config_path)

        assert "decided before the crash" == tree.manifest(tree.batches("failed")[0])["outcome"]["reason"]
        assert [] == canvas.uploads

    def test_a_folder_without_manifest_goes_to_failed_for_a_person_and_temp_files_go(
        self, tree, canvas, config_path
    ):
        """Files in queue/ with no manifest are never uploaded blindly: failed/, with advice; leftovers removed."""
        folder = tree.queue / "20261127T020000Z-00000a"
        folder.mkdir(parents=True)
        (folder / "users.csv").write_bytes(USERS_CSV)
        (folder / ".manifest.json.123-abc.sis-watcher-partial").write_bytes(b"{")

        assert 1 == run_once(config_path)

        [failed] = tree.batches("failed")
        assert USERS_CSV == (failed / "users.csv").read_bytes()
        assert "Check in Canvas" in tree.manifest(failed)["outcome"]["reason"]
        assert not [path for path in failed.iterdir() if path.name.endswith(".sis-watcher-partial")]
        assert [] == canvas.uploads

    def test_an_unreadable_manifest_sends_the_batch_to_failed_with_advice(self, tree, canvas, config_path):
        """A corrupt manifest cannot say whether Canvas has the batch: failed/, kept aside, explained."""
        batch_dir = sealed_batch(tree, load(config_path))
        (batch_dir / "manifest.json").write_text("{not json", encoding="utf-8")

        assert 1 == run_once(config_path)

        [failed] = tree.batches("failed")
        assert (failed / "manifest.unreadable.json").exists()
        assert "Check in Canvas" in tree.manifest(failed)["outcome"]["reason"]
        assert [] == canvas.uploads


class TestSealing:
    def test_a_batch_being_sealed_is_invisible_to_the_worker(self, tree, canvas, config_path):
        """While a big file is copied in from another filesystem, queue/ shows no half-sealed batch."""
        if os.geteuid() != 0:
            pytest.fail("this test mounts a tmpfs and must run as root (CI does)")
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300m", "tmpfs", str(tree.drop)], check=True)
        try:
            config = load(config_path)
            big = b"user_id,login_id,status\n" + b"u1,l1,active\n" * 12_000_000
            (tree.drop / "users.csv").write_bytes(big)
            tree.queue.mkdir(parents=True)
            intake = SealPlanner(config.intake)
            intake.observe(scan(tree.drop, config.intake), 0.0)
            [plan] = intake.plans(1000.0)
            states: set[str] = set()
            now = SystemClock().now()
            sealing = threading.Thread(
                target=seal, args=(plan,), kwargs={"folders": config.folders, "now": now}
            )
            sealing.start()
            while sealing.is_alive():
                for batch_dir in batch_folders(tree.queue):
                    manifest = batch_dir / "manifest.json"
                    states.add(tree.manifest(batch_dir)["state"] if manifest.exists() else "no manifest")
                time.sleep(0.001)  # polling the folder as fast as the worker could
            sealing.join()
        finally:
            subprocess.run(["umount", "-l", str(tree.drop)], check=False)

        assert states <= {"queued"}, f"the worker could have seen a batch in these states: {sorted(states)}"
        [batch_dir] = batch_folders(tree.queue)
        assert big == (batch_dir / "users.csv").read_bytes()

    def test_a_seal_interrupted_in_its_staging_folder_is_finished_on_start(self, tree, canvas, config_path):
        """A crash while files were moved into `.sealing-<id>` is finished and published on start."""
        config = load(config_path)
        batch_dir = sealed_batch(tree, config)
        staged = batch_dir.with_name(f".sealing-{batch_dir.name}")
        batch_dir.rename(staged)
        manifest = load_manifest(staged)
        (staged / "courses.csv").rename(tree.drop / "courses.csv")
        info = (tree.drop / "courses.csv").stat()
        manifest.state = BatchState.SEALING
        manifest.seal_plan = [
            PlannedFile(name="courses.csv", bytes=info.st_size, mtime_ns=info.st_mtime_ns, inode=info.st_ino)
        ]
        manifest.save(staged)

        assert 0 == run_once(config_path)

        [done] = tree.batches("done")
        assert done.name == batch_dir.name
        assert {"users.csv", "courses.csv"} <= {path.name for path in done.iterdir()}

    def test_an_empty_staging_folder_left_by_a_crash_is_removed(self, tree, canvas, config_path):
        """A crash right after the staging folder was made leaves nothing behind."""
        tree.queue.mkdir(parents=True)
        (tree.queue / ".sealing-20261127T020000Z-00000b").mkdir()

        assert 0 == run_once(config_path)

        assert [] == list(tree.queue.glob(".sealing-*"))
        assert [] == tree.batches("done")


class TestReviewFindings:
    def test_a_dropped_zip_whose_upload_reached_canvas_is_adopted_not_sent_twice(
        self, tree, canvas, config_path
    ):
        """Crash after POSTing a dropped zip: its members are matched by name, and the import adopted."""
        source = tree.root / "export.zip"
        with zipfile.ZipFile(source, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("users.csv", USERS_CSV)
            archive.writestr("courses.csv", COURSES_CSV)
        drop_file(tree.drop, "export.zip", source.read_bytes())
        config = load(config_path)
        tree.queue.mkdir(parents=True)
        intake = SealPlanner(config.intake)
        intake.observe(scan(tree.drop, config.intake), 0.0)
        [plan] = intake.plans(1000.0)
        batch_dir = seal(plan, folders=config.folders, now=SystemClock().now()).batch_dir
        assert batch_dir is not None
        manifest = load_manifest(batch_dir)
        pipeline = pipeline_for(config)
        prepare(Batch(batch_dir, manifest, clock=pipeline.clock), pipeline)
        assert manifest.zip is not None
        assert ["courses.csv", "users.csv"] == sorted(member.name for member in manifest.zip.members)
        manifest.upload.started_at = isoformat(SystemClock().now() - timedelta(seconds=1))
        manifest.state = BatchState.UPLOADING
        manifest.save(batch_dir)
        pipeline.client.create_import(batch_dir / "export.zip", params={})
        pipeline.client.close()

        assert 0 == run_once(config_path)

        assert 1 == len(canvas.uploads)
        assert tree.manifest(tree.batches("done")[0])["upload"]["adopted"] is True

    def test_a_refused_errors_file_download_falls_back_to_the_errors_api_without_pausing(
        self, tree, canvas, config_path
    ):
        """An expired or forbidden errors-file link is no token problem: the errors API is used instead."""
        canvas.faults.add(kind=FaultKind.PERMISSION_DENIED, status=403, count=None, path=r"/files/")
        drop_file(tree.drop, "users.csv", b"user_id,login_id,status\nu1,l1,wandering\n")

        assert 0 == run_once(config_path)

        [done] = tree.batches("done")
        assert "errors.csv" == tree.manifest(done)["canvas"]["errors_report"]
        assert "wandering" in (done / "errors.csv").read_text()

    def test_a_4xx_while_polling_is_retried_not_a_crash_nor_a_failed_batch(self, tree, canvas, config_path):
        """Two odd 400s on the import's status (a proxy, say) delay the batch; it still ends in done/."""
        canvas.faults.add(kind=FaultKind.STATUS, status=400, count=2, method="GET", path=r"/sis_imports/\d+$")
        drop_file(tree.drop, "users.csv", USERS_CSV)

        assert 0 == run_once(config_path)

        assert 1 == len(tree.batches("done"))
        assert 1 == len(canvas.uploads)
