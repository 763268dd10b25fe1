"""
A person's decision on a held batch: approve (send it on as it is) or discard (file it failed).

Exactly one process changes a batch at a time. Without a daemon, `sis-watcher approve` and
`discard` take the queue's lock and change the batch themselves. With a daemon running, they
leave the decision beside the batch as `queue/<id>/.decision.json` (written atomically); the
daemon, which polls a held batch every few seconds, carries it out and removes the file. A
decision file found beside a batch that is no longer held (the daemon carried it out and was
killed before removing it) is stale and removed: a decision takes effect once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sis_watcher.batch.folder import Batch
from sis_watcher.batch.manifest import BatchState, HoldRecord
from sis_watcher.core.durable import DocumentUnreadable, atomic_write_json, read_json_document

DECISION_NAME = ".decision.json"
DISCARD_REASON = "discarded by operator"

Choice = Literal["approve", "discard"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    choice: Choice
    by: str
    at: str


def leave_decision(batch_dir: Path, decision: Decision) -> None:
    """Write the decision beside a held batch for the running daemon to carry out."""
    atomic_write_json(
        batch_dir / DECISION_NAME, {"choice": decision.choice, "by": decision.by, "at": decision.at}
    )


def read_decision(batch_dir: Path) -> Decision | None:
    """Return the decision left beside the batch, or None (also for one that cannot be read)."""
    try:
        document = read_json_document(batch_dir / DECISION_NAME)
    except (OSError, DocumentUnreadable):
        return None
    if not isinstance(document, dict) or document.get("choice") not in ("approve", "discard"):
        return None
    return Decision(choice=document["choice"], by=str(document.get("by")), at=str(document.get("at")))


def carry_out(batch: Batch, decision: Decision) -> None:
    """Approve (-> zipped) or discard (-> failed) a held batch, recording who and when; saved."""
    hold = batch.manifest.hold or HoldRecord()
    hold.decided_by, hold.decided_at = decision.by, decision.at
    batch.manifest.hold = hold
    if decision.choice == "approve":
        hold.decision = "approved"
        batch.advance(BatchState.ZIPPED, note=f"approved by {decision.by}")
    else:
        hold.decision = "discarded"
        batch.fail(f"{DISCARD_REASON} ({decision.by} at {decision.at})")


def take_decision(batch: Batch) -> bool:
    """Carry out a decision left beside a held batch; return True if one was carried out."""
    decision = read_decision(batch.folder)
    if decision is None:
        return False
    if batch.state is BatchState.HELD:
        carry_out(batch, decision)
    (batch.folder / DECISION_NAME).unlink(missing_ok=True)
    return batch.state is not BatchState.HELD
