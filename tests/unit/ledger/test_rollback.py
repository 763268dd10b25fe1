"""What the ledger forgets of a batch rolled back in Canvas (`ledger.apply.restored_changes`)."""

from __future__ import annotations

import pytest

from sis_watcher.batch.manifest import BatchState, Manifest, RollbackRecord
from sis_watcher.ledger.apply import WHOLE, restored_changes


def rolled_back(state: str | None, *options: str) -> Manifest:
    manifest = Manifest(
        batch_id="20261201T020000Z-abcdef", state=BatchState.DONE, sealed_at="2026-12-01T02:00:00Z"
    )
    manifest.rollback = RollbackRecord(
        requested_at="2026-12-02T00:00:00Z", options=list(options), workflow_state=state
    )
    return manifest


@pytest.mark.parametrize(
    ("state", "options", "taken"),
    [
        ("restored", (), WHOLE),
        ("partially_restored", (), WHOLE),
        ("partially_restored", ("batch_mode",), frozenset({"dropped"})),
        ("partially_restored", ("undelete_only",), frozenset({"deleted", "dropped"})),
        ("partially_restored", ("unconclude_only",), frozenset()),
        ("partially_restored", ("batch_mode", "undelete_only"), frozenset({"dropped"})),
        ("restore_failed", (), frozenset()),
        (None, (), frozenset()),
    ],
)
def test_the_changes_a_rollback_took_back(state, options, taken):
    """A full restore takes back every change; a partial one what its flags restored; a failed one nothing."""
    assert taken == restored_changes(rolled_back(state, *options))


def test_a_batch_never_rolled_back_keeps_every_change():
    """No rollback record: nothing is taken back."""
    manifest = rolled_back("restored")
    manifest.rollback = None

    assert frozenset() == restored_changes(manifest)
