"""
`Batch`: one batch folder and its manifest, as one object the stages share.

The worker opens a batch once and hands the same object from stage to stage, so what one stage
learned (Canvas's last answer, the validation record) is what the next one reads, and no stage
reads the manifest back from disk. Every change of state is saved at once (`advance`, `fail`);
a stage that records something within a state (a poll's progress, an upload's start) calls
`save` after it. Saving is atomic (`Manifest.save`), so a crash leaves the last saved state.
"""

from __future__ import annotations

from pathlib import Path

from sis_watcher.batch.manifest import BatchState, Manifest
from sis_watcher.core.clock import Clock, isoformat

NOTE_CHARS = 500


class Batch:
    """A batch folder (`queue/<id>/`, later `done/<id>/` or `failed/<id>/`) and its manifest."""

    def __init__(self, folder: Path, manifest: Manifest, *, clock: Clock) -> None:
        self.folder = folder
        self.manifest = manifest
        self.clock = clock

    def __repr__(self) -> str:
        return f"Batch({self.folder}, state={self.manifest.state.value})"

    @property
    def batch_id(self) -> str:
        return self.manifest.batch_id

    @property
    def state(self) -> BatchState:
        return self.manifest.state

    def path(self, name: str) -> Path:
        """Return the path of one of the batch's files."""
        return self.folder / name

    def now_text(self) -> str:
        return isoformat(self.clock.now())

    def save(self) -> None:
        """Write the manifest (atomically and durably) after a change within the current state."""
        self.manifest.save(self.folder)

    def advance(self, state: BatchState, *, note: str | None = None) -> None:
        """Move to `state`, append it to the history, and save."""
        self.manifest.move_to(state, at=self.now_text(), note=note[:NOTE_CHARS] if note else None)
        self.save()

    def fail(self, reason: str) -> None:
        """Record a failed outcome with its reason, move to `failed`, and save (filing comes next)."""
        self.manifest.outcome.result = "failed"
        self.manifest.outcome.reason = reason
        self.advance(BatchState.FAILED, note=reason)

    def finish(self, *, result: str, reason: str) -> None:
        """Record Canvas's verdict (`done` or `failed`) and move to that state, saved."""
        self.manifest.outcome.result = "done" if result == "done" else "failed"
        self.manifest.outcome.reason = reason
        self.advance(BatchState.DONE if result == "done" else BatchState.FAILED, note=reason)
