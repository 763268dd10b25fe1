"""
Stage part: the change preview of a batch, and whether it must wait for a person (the hold).

The preview (`ledger.preview`) runs after validation and before any request, while the zip is
being written. Its counts go into the manifest as `changes`, every changed key into
`changes.csv`, and the batch's changes into the ledger as pending rows.

The hold rules (`hold.*`, README "The hold") are checked per CSV type: the ledger rules only for
types with at least `hold.min_rows` rows in the ledger, the shrink rule against the last batch
filed done (the old shrink guard, which failed the batch; now it holds it). A batch that breaks
one is held: `state: held`, `hold.reasons[]`, nothing sent. `retry --force` skips the rules.
"""

from __future__ import annotations

import sqlite3

from sis_watcher.batch.folder import Batch
from sis_watcher.batch.manifest import HoldReason
from sis_watcher.config.settings import Config
from sis_watcher.core.logs import get_logger
from sis_watcher.core.memory import give_back_freed
from sis_watcher.ledger.apply import settle
from sis_watcher.ledger.changes import CHANGES_NAME, ChangeSet
from sis_watcher.ledger.preview import preview
from sis_watcher.ledger.reading import batch_sources
from sis_watcher.ledger.scope import scope_of, scope_options
from sis_watcher.ledger.store import Ledger, LedgerUnusable
from sis_watcher.pipeline.context import StageContext
from sis_watcher.pipeline.guard import find_shrinks

log = get_logger()


def preview_batch(batch: Batch, context: StageContext) -> ChangeSet | None:
    """Preview the batch against the ledger (None without a ledger); record it in the manifest."""
    if context.ledger is None:
        return None
    ledger = context.ledger.open()
    give_back_freed()  # validation's blocks, before the preview's (core/memory.py)
    try:
        changes = preview_with(ledger, batch, context)
    except sqlite3.Error as error:  # disk full, I/O error, a file damaged while open
        raise LedgerUnusable(ledger.path, str(error)) from None
    finally:
        give_back_freed()
    log.info(
        "preview.computed", summary=changes.summary(), baseline=changes.baseline, notes=changes.notes or None
    )
    return changes


def preview_with(ledger: Ledger, batch: Batch, context: StageContext) -> ChangeSet:
    """Settle what a crash left, then preview the batch and record it in its manifest."""
    settle(ledger, context.config.folders, applied_at=batch.now_text())
    with batch_sources(batch.folder, [entry.name for entry in batch.manifest.files]) as sources:
        scope = scope_of(context.config.import_options)
        changes = preview(
            ledger,
            sources,
            scope=scope,
            batch_id=batch.batch_id,
            changes_csv=batch.path(CHANGES_NAME),
            should_stop=context.stopping.is_set,
        )
    batch.manifest.changes = changes.to_json() | {"options": scope_options(scope)}
    return changes


def ledger_reasons(changes: ChangeSet, config: Config) -> list[HoldReason]:
    """Return the ledger rules the preview breaks, per CSV type with enough ledger rows."""
    rules = config.hold
    reasons = []
    for csv_type, counts in changes.by_type.items():
        if counts.ledger_rows < rules.min_rows or counts.ledger_rows == 0:
            continue
        removed_percent = 100.0 * counts.removed / counts.ledger_rows
        new_percent = 100.0 * counts.added / counts.ledger_rows
        checks = (
            ("max_delete_percent", removed_percent, rules.max_delete_percent, "deleted or dropped"),
            ("max_delete_rows", float(counts.removed), rules.max_delete_rows, "rows deleted or dropped"),
            ("max_new_percent", new_percent, rules.max_new_percent, "new"),
        )
        for rule, value, limit, what in checks:
            if limit is not None and value > limit:
                shown = f"{value:.1f}%" if rule.endswith("percent") else f"{value:,.0f}"
                reasons.append(
                    HoldReason(
                        csv_type=csv_type,
                        rule=f"hold.{rule}",
                        value=round(value, 2),
                        limit=float(limit),
                        text=f"{csv_type}: {shown} {what} of {counts.ledger_rows:,} in the ledger "
                        f"(hold.{rule} is {limit:g})",
                    )
                )
    return reasons


def shrink_reasons(batch: Batch, config: Config) -> list[HoldReason]:
    """Return the shrink rule's reasons: a type with far fewer rows than the last batch filed done."""
    limit = config.max_shrink_percent
    if limit is None:
        return []
    shrinks = find_shrinks(
        batch.manifest, max_shrink_percent=limit, queue=config.folders.queue, done=config.folders.done
    )
    return [
        HoldReason(
            csv_type=item.csv_type,
            rule="hold.max_shrink_percent",
            value=round(item.percent, 2),
            limit=limit,
            text=f"{item.csv_type}: rows fell from {item.previous_rows:,} (batch {item.previous_batch}) "
            f"to {item.rows:,} (-{item.percent:.1f}%; hold.max_shrink_percent is {limit:g})",
        )
        for item in shrinks
    ]


def hold_reasons(batch: Batch, changes: ChangeSet | None, context: StageContext) -> list[HoldReason]:
    """Return every hold rule the batch breaks (none for a batch retried with `--force`)."""
    if batch.manifest.force:
        return []
    reasons = ledger_reasons(changes, context.config) if changes is not None else []
    return reasons + shrink_reasons(batch, context.config)
