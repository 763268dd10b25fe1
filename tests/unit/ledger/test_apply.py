"""Unit tests for `sis_watcher.ledger.apply`: a filed batch's changes applied exactly once, and settling."""

from __future__ import annotations

from pathlib import Path

import pytest

from sis_watcher.batch.manifest import BatchState, CanvasRecord, Manifest
from sis_watcher.config.settings import FolderSettings
from sis_watcher.ledger.apply import apply_batch, apply_filed, forget_batch, settle
from sis_watcher.ledger.changes import ChangeSet, TypeChanges
from sis_watcher.ledger.scope import ImportScope
from sis_watcher.ledger.store import Ledger

from unit.ledger.helpers import (
    APPLIED_AT,
    Batches,
    Files,
    batch_id,
    keys_of,
    preview_folder,
    rows_of,
    write_csv,
    write_files,
)

USERS = ("user_id", "login_id", "first_name", "status")
BASE = [USERS, ("u1", "l1", "Ada", "active"), ("u2", "l2", "Bo", "active"), ("u3", "l3", "Cy", "active")]
SEALED_AT = "2026-11-27T02:00:00Z"


def names(ledger: Ledger) -> dict[str, str]:
    return {key: values["first_name"] for key, values in rows_of(ledger, "user").items()}


@pytest.fixture
def known(batches: Batches) -> Batches:
    batches.send({"users.csv": BASE})
    return batches


class TestErroredRows:
    # users.csv rows: 2 u1 renamed, 3 u2 deleted, 4 u4 added, 5 u3 renamed
    CHANGED = (
        USERS,
        ("u1", "l1", "Ann", "active"),
        ("u2", "l2", "Bo", "deleted"),
        ("u4", "l4", "Di", "active"),
        ("u3", "l3", "Cyd", "active"),
    )

    @pytest.mark.parametrize(
        ("errored", "expected"),
        [
            ((), {"u1": "Ann", "u3": "Cyd", "u4": "Di"}),
            ((2,), {"u1": "Ada", "u3": "Cyd", "u4": "Di"}),
            ((3,), {"u1": "Ann", "u2": "Bo", "u3": "Cyd", "u4": "Di"}),
            ((4,), {"u1": "Ann", "u3": "Cyd"}),
            ((2, 3, 4), {"u1": "Ada", "u2": "Bo", "u3": "Cyd"}),
        ],
        ids=["none", "update", "delete", "add", "all but one"],
    )
    def test_rows_canvas_reported_keep_their_earlier_state(self, known, ledger, errored, expected):
        """An update, delete or add Canvas reported as an error (by file and row) is not applied; the others are."""
        known.send({"users.csv": self.CHANGED}, errored=[("users.csv", row) for row in errored])

        assert expected == names(ledger)

    def test_an_error_in_another_file_changes_nothing_here(self, known, ledger):
        """An errored row is matched by its file's name as well as its number."""
        known.send({"users.csv": self.CHANGED}, errored=[("other.csv", 2)])

        assert {"u1": "Ann", "u3": "Cyd", "u4": "Di"} == names(ledger)

    def test_errored_rows_of_a_new_type_are_not_recorded(self, batches, ledger):
        """In a first batch, the rows Canvas reported are left out of the ledger."""
        batches.send({"users.csv": BASE}, errored=[("users.csv", 3)])

        assert {"u1": "Ada", "u3": "Cy"} == names(ledger)


class TestApplyOnce:
    def test_applying_twice_is_a_no_op(self, known, ledger):
        """A batch already applied is not applied again: the second call returns False and changes nothing."""
        previewed = known.preview({"users.csv": [USERS, ("u1", "l1", "Ann", "active")]})
        assert known.apply(previewed)
        before = rows_of(ledger, "user")

        again = known.apply(previewed)

        assert not again
        assert before == rows_of(ledger, "user")
        assert [] == ledger.pending_batches()

    def test_a_batch_previewed_again_after_it_was_applied_is_not_applied_twice(self, known, ledger):
        """Pending rows kept for an id the ledger already applied are dropped, not applied."""
        previewed = known.preview({"users.csv": [USERS, ("u1", "l1", "Ann", "active")]})
        assert known.apply(previewed)
        preview_folder(ledger, previewed.folder, batch_id=previewed.batch_id)
        write_csv(previewed.folder / "users.csv", [USERS, ("u1", "l1", "Zed", "active")])

        assert not known.apply(previewed)
        assert "Ann" == names(ledger)["u1"]
        assert [] == ledger.pending_batches()

    def test_the_applied_batch_becomes_the_baseline(self, known, ledger):
        """Each applied batch is the next preview's baseline."""
        previewed = known.preview({"users.csv": BASE})
        known.apply(previewed)

        assert previewed.batch_id == ledger.last_applied()

    def test_a_batch_previewed_twice_applies_its_last_preview(self, known, ledger):
        """Previewing a batch again replaces its pending rows."""
        previewed = known.preview({"users.csv": [USERS, ("u1", "l1", "Ann", "active")]})
        write_csv(previewed.folder / "users.csv", [USERS, ("u2", "l2", "Bea", "active")])
        preview_folder(ledger, previewed.folder, batch_id=previewed.batch_id)

        known.apply(previewed)

        assert {"u1": "Ada", "u2": "Bea", "u3": "Cy"} == names(ledger)

    def test_forget_batch_drops_its_pending_rows(self, known, ledger):
        """A forgotten batch leaves no pending rows and the ledger as it was."""
        previewed = known.preview({"users.csv": [USERS, ("u1", "l1", "Ann", "active")]})
        assert [previewed.batch_id] == ledger.pending_batches()

        forget_batch(ledger, previewed.batch_id)

        assert [] == ledger.pending_batches()
        assert {"u1": "Ada", "u2": "Bo", "u3": "Cy"} == names(ledger)
        assert not ledger.is_applied(previewed.batch_id)

    def test_forgetting_one_batch_keeps_the_others(self, known, ledger):
        """forget_batch removes only the named batch's pending rows."""
        first = known.preview({"users.csv": [USERS, ("u1", "l1", "Ann", "active")]})
        second = known.preview({"users.csv": [USERS, ("u2", "l2", "Bea", "active")]})

        forget_batch(ledger, first.batch_id)

        assert [second.batch_id] == ledger.pending_batches()


def filed(
    folder: Path,
    batch: str,
    files: Files,
    ledger: Ledger,
    *,
    canvas: CanvasRecord | None = None,
    name: str | None = None,
) -> Path:
    """Write a batch folder with its CSVs and manifest, previewed against `ledger` under its id."""
    batch_dir = write_files(folder / (name or batch), files)
    changes = preview_folder(ledger, batch_dir, batch_id=batch)
    state = (
        BatchState.FAILED
        if folder.name == "failed"
        else BatchState.DONE
        if folder.name == "done"
        else BatchState.ZIPPED
    )
    Manifest(
        batch_id=batch,
        state=state,
        sealed_at=SEALED_AT,
        changes=changes.to_json(),
        canvas=canvas or CanvasRecord(),
    ).save(batch_dir)
    return batch_dir


class TestSettle:
    def test_settle_applies_done_forgets_failed_and_keeps_queued(self, folders: FolderSettings, ledger):
        """Pending batches are applied when in done/ (also as `<id>.N`), forgotten in failed/ or nowhere, kept in queue/."""
        done, done_again, failed, queued, lost = (batch_id(n) for n in range(1, 6))
        filed(folders.done, done, {"users.csv": [USERS, ("u1", "l1", "Ada", "active")]}, ledger)
        filed(
            folders.failed,
            failed,
            {"groups.csv": [("group_id", "name", "status"), ("g1", "G", "available")]},
            ledger,
        )
        filed(
            folders.done,
            done_again,
            {"terms.csv": [("term_id", "name", "status"), ("T1", "Fall", "active")]},
            ledger,
            name=f"{done_again}.2",
        )
        filed(
            folders.queue,
            queued,
            {
                "accounts.csv": [
                    ("account_id", "parent_account_id", "name", "status"),
                    ("a1", "", "A", "active"),
                ]
            },
            ledger,
        )
        write_files(
            folders.drop / "elsewhere",
            {
                "admins.csv": [
                    ("user_id", "account_id", "role", "status"),
                    ("u1", "", "AccountAdmin", "active"),
                ]
            },
        )
        preview_folder(ledger, folders.drop / "elsewhere", batch_id=lost)

        applied = settle(ledger, folders, applied_at=APPLIED_AT)

        assert [done, done_again] == applied
        assert [queued] == ledger.pending_batches()
        assert {"u1"} == keys_of(ledger, "user")
        assert {"T1"} == keys_of(ledger, "term")
        assert 0 == ledger.row_count("group") + ledger.row_count("account") + ledger.row_count("admin")
        assert not ledger.is_applied(failed)

    def test_settle_applies_the_queued_batch_once_it_is_filed(self, folders: FolderSettings, ledger):
        """A batch kept while in queue/ is applied by a later settle once it is in done/."""
        batch = batch_id(1)
        queued = filed(folders.queue, batch, {"users.csv": [USERS, ("u1", "l1", "Ada", "active")]}, ledger)
        assert [] == settle(ledger, folders, applied_at=APPLIED_AT)
        queued.rename(folders.done / batch)

        assert [batch] == settle(ledger, folders, applied_at=APPLIED_AT)
        assert [] == settle(ledger, folders, applied_at=APPLIED_AT)
        assert {"u1"} == keys_of(ledger, "user")

    def test_settle_applies_in_batch_order(self, folders: FolderSettings, ledger):
        """Two filed batches changing one row are applied oldest first, so the newer value stays."""
        filed(folders.done, batch_id(1), {"users.csv": [USERS, ("u1", "l1", "Ada", "active")]}, ledger)
        filed(folders.done, batch_id(2), {"users.csv": [USERS, ("u1", "l1", "Ann", "active")]}, ledger)

        assert [batch_id(1), batch_id(2)] == settle(ledger, folders, applied_at=APPLIED_AT)
        assert {"u1": "Ann"} == names(ledger)


class TestApplyFiled:
    def test_canvass_errors_file_keeps_the_reported_rows(self, folders: FolderSettings, ledger):
        """The rows of the batch's errors file (file,row) are not applied."""
        batch = batch_id(1)
        canvas = CanvasRecord(errors_report="errors.csv")
        batch_dir = filed(folders.done, batch, {"users.csv": BASE}, ledger, canvas=canvas)
        (batch_dir / "errors.csv").write_text("file,row,message\nusers.csv,3,bad login\n", encoding="utf-8")
        manifest = Manifest(batch_id=batch, state=BatchState.DONE, sealed_at=SEALED_AT, canvas=canvas)

        assert apply_filed(ledger, batch_dir, manifest, applied_at=APPLIED_AT)
        assert {"u1": "Ada", "u3": "Cy"} == names(ledger)

    def test_a_missing_errors_file_keeps_nothing_back(self, folders: FolderSettings, ledger):
        """When the errors file Canvas named is gone, every row is applied."""
        batch = batch_id(1)
        canvas = CanvasRecord(errors_report="errors.csv")
        batch_dir = filed(folders.done, batch, {"users.csv": BASE}, ledger, canvas=canvas)
        manifest = Manifest(batch_id=batch, state=BatchState.DONE, sealed_at=SEALED_AT, canvas=canvas)

        assert apply_filed(ledger, batch_dir, manifest, applied_at=APPLIED_AT)
        assert 3 == ledger.row_count("user")

    def test_a_diffing_threshold_exceeded_keeps_the_dropped_rows(
        self, folders: FolderSettings, ledger, batches
    ):
        """When Canvas applied the diffed file whole, the rows diffing would have dropped stay."""
        batches.send({"users.csv": BASE}, scope=ImportScope(data_set="X"))
        batch = batch_id(9)
        batch_dir = write_files(folders.done / batch, {"users.csv": BASE[:2]})
        changes = preview_folder(ledger, batch_dir, scope=ImportScope(data_set="X"), batch_id=batch)
        assert 2 == changes.by_type["user"].dropped
        canvas = CanvasRecord(diffing_threshold_exceeded=True)
        manifest = Manifest(batch_id=batch, state=BatchState.DONE, sealed_at=SEALED_AT, canvas=canvas)

        assert apply_filed(ledger, batch_dir, manifest, applied_at=APPLIED_AT)
        assert {"u1", "u2", "u3"} == keys_of(ledger, "user")

    def test_the_applied_batch_keeps_its_summary(self, folders: FolderSettings, ledger):
        """The manifest's change summary is recorded with the applied batch."""
        batch = batch_id(1)
        batch_dir = filed(folders.done, batch, {"users.csv": BASE}, ledger)
        changes = ChangeSet(by_type={"user": TypeChanges(added=3)})
        manifest = Manifest(
            batch_id=batch, state=BatchState.DONE, sealed_at=SEALED_AT, changes=changes.to_json()
        )

        apply_filed(ledger, batch_dir, manifest, applied_at=APPLIED_AT)

        assert [(batch, APPLIED_AT, "user +3")] == ledger.db.execute("SELECT * FROM applied").fetchall()


def test_an_apply_that_fails_leaves_the_ledger_as_it_was(known, ledger):
    """An apply that cannot read a new type's file again changes nothing and keeps the batch pending."""
    previewed = known.preview(
        {
            "users.csv": [USERS, ("u1", "l1", "Ann", "active")],
            "terms.csv": [("term_id", "name", "status"), ("T1", "Fall", "active")],
        }
    )
    (previewed.folder / "terms.csv").unlink()

    with pytest.raises(FileNotFoundError):
        apply_batch(ledger, previewed.batch_id, batch_dir=previewed.folder, errored=[], applied_at=APPLIED_AT)

    assert {"u1": "Ada", "u2": "Bo", "u3": "Cy"} == names(ledger)
    assert 0 == ledger.row_count("term")
    assert not ledger.is_applied(previewed.batch_id)
    assert [previewed.batch_id] == ledger.pending_batches()


def test_an_apply_that_failed_can_be_done_again(known, ledger):
    """Once the file is back, the same batch applies whole."""
    previewed = known.preview(
        {
            "users.csv": [USERS, ("u1", "l1", "Ann", "active")],
            "terms.csv": [("term_id", "name", "status"), ("T1", "Fall", "active")],
        }
    )
    terms = (previewed.folder / "terms.csv").read_bytes()
    (previewed.folder / "terms.csv").unlink()
    with pytest.raises(FileNotFoundError):
        known.apply(previewed)
    (previewed.folder / "terms.csv").write_bytes(terms)

    assert known.apply(previewed)
    assert "Ann" == names(ledger)["u1"]
    assert {"T1"} == keys_of(ledger, "term")
