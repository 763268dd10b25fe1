"""
`queue/.alerts-state.json`: what the timed alerts (export freshness, the daily digest) remember.

    last_batch_id      the newest batch sealed (None before the first one)
    last_sealed_at     when it was sealed (ISO 8601 UTC)
    watching_since     the first start (freshness or the digest on) without any batch: the
                       silence of a fresh install is counted from here, also across restarts
    overdue_alerted    the silence (`silence_key`) whose "no export" alert went out, or None
    digest_date        the local date (YYYY-MM-DD) of the last digest sent
    digest_until       the end of the window that digest covered (ISO 8601 UTC): the next
                       digest starts there, so no hour is left out or reported twice

The file is small and rewritten atomically (`core.durable`), never on the intake thread; a
kill -9 leaves the old version or the new. A file that cannot be read or parsed (nested too
deep included), or whose times are not in-range times or its date not a real date, is logged
as `alerts_state.unreadable` with its path and replaced at the next change: what it held is
rebuilt from the batch folders (the newest batch id), and what cannot be rebuilt is lost (a
digest may go out a second time that day, an open silence may alert again). It never stops
the daemon.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints, ValidationError

from sis_watcher.core.clock import parse_time
from sis_watcher.core.durable import DocumentUnreadable, atomic_write_json, read_json_document
from sis_watcher.core.logs import get_logger

STATE_NAME = ".alerts-state.json"
log = get_logger()
BatchId = Annotated[str, StringConstraints(pattern=r"^\d{8}T\d{6}Z-[0-9a-f]{6}$")]
MIN_TIME = datetime(1970, 1, 1, tzinfo=UTC)
MAX_TIME = datetime(9000, 1, 1, tzinfo=UTC)  # far from year 9999, where time arithmetic overflows


def real_time(text: str) -> str:
    """Accept an ISO 8601 time in UTC between 1970 and 9000 (arithmetic on it cannot overflow)."""
    try:
        moment: datetime | None = parse_time(text)
    except (ValueError, OverflowError):  # OverflowError: `9999-12-31T23:59:59-05:00` has no UTC time
        moment = None
    if moment is None or not MIN_TIME <= moment <= MAX_TIME:
        msg = f"not a usable time: {text!r}"
        raise ValueError(msg)
    return text


def real_date(text: str) -> str:
    """Accept a calendar date `YYYY-MM-DD` (not `2026-02-30`)."""
    date.fromisoformat(text)
    return text


Moment = Annotated[str, AfterValidator(real_time)]
LocalDate = Annotated[str, StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}$"), AfterValidator(real_date)]


class TimedState(BaseModel):
    """The remembered facts; see the module docstring."""

    model_config = ConfigDict(extra="ignore", validate_assignment=True)

    last_batch_id: BatchId | None = None
    last_sealed_at: Moment | None = None
    watching_since: Moment | None = None
    overdue_alerted: str | None = None
    digest_date: LocalDate | None = None
    digest_until: Moment | None = None

    def silence_key(self) -> str | None:
        """Return the name of the current silence: the last batch id, or `never:<watching_since>`."""
        if self.last_batch_id is not None:
            return self.last_batch_id
        return f"never:{self.watching_since}" if self.watching_since is not None else None


def load_state(path: Path) -> TimedState:
    """Return the state in `path`: empty if the file is absent, or unreadable (logged)."""
    try:
        return TimedState.model_validate(read_json_document(path))
    except FileNotFoundError:
        return TimedState()
    except (DocumentUnreadable, OSError, ValidationError) as error:
        log.error(
            "alerts_state.unreadable",
            path=str(path),
            caused_by=f"{error.__class__.__name__}: {error}"[:300],
            note="rebuilt from the batch folders; it is rewritten at the next change",
        )
        return TimedState()


def save_state(path: Path, state: TimedState) -> bool:
    """Write `state` to `path` atomically; log `alerts_state.write_failed` and return False on OSError."""
    try:
        atomic_write_json(path, state.model_dump(mode="json"))
    except OSError as error:
        log.error("alerts_state.write_failed", path=str(path), caused_by=str(error))
        return False
    return True
