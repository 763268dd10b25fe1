"""What Canvas removes besides the rows' own statuses: the import options the preview needs."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportScope:
    """Batch mode and its term(s), diffing's data set, and `skip_deletes`."""

    batch_mode: bool = False
    batch_mode_terms: frozenset[str] | None = None  # SIS term ids; None when not known by SIS id
    multi_term_batch_mode: bool = False
    data_set: str | None = None
    skip_deletes: bool = False
