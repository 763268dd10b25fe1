"""
What Canvas removes besides the rows' own statuses: the import options the preview needs.

`scope_of` reads them from the config; `scope_options` and `recorded_scope` are how the
manifest keeps them (`changes.options`), so `ledger rebuild` previews a batch as it was.
"""

from __future__ import annotations

from dataclasses import dataclass

from sis_watcher.config.settings import ImportOptions

SIS_TERM_PREFIX = "sis_term_id:"


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportScope:
    """Batch mode and its term(s), diffing's data set, and `skip_deletes`."""

    batch_mode: bool = False
    batch_mode_terms: frozenset[str] | None = None  # SIS term ids; None when not known by SIS id
    multi_term_batch_mode: bool = False
    data_set: str | None = None
    skip_deletes: bool = False


def scope_of(options: ImportOptions) -> ImportScope:
    """Return what the import options make Canvas remove besides the rows' own statuses."""
    term = options.batch_mode_term_id
    terms = (
        frozenset({term.removeprefix(SIS_TERM_PREFIX)}) if term and term.startswith(SIS_TERM_PREFIX) else None
    )
    return ImportScope(
        batch_mode=bool(options.batch_mode),
        batch_mode_terms=terms,
        multi_term_batch_mode=bool(options.multi_term_batch_mode),
        data_set=options.diffing_data_set_identifier,
        skip_deletes=bool(options.skip_deletes),
    )


def scope_options(scope: ImportScope) -> dict[str, object]:
    """Return the scope as the manifest records it (`changes.options`), for `ledger rebuild`."""
    return {
        "batch_mode": scope.batch_mode,
        "batch_mode_terms": sorted(scope.batch_mode_terms) if scope.batch_mode_terms is not None else None,
        "multi_term_batch_mode": scope.multi_term_batch_mode,
        "diffing_data_set_identifier": scope.data_set,
        "skip_deletes": scope.skip_deletes,
    }


def recorded_scope(changes: dict[str, object] | None) -> ImportScope | None:
    """Return the scope a batch was previewed with (None for a batch previewed before it was recorded)."""
    options = (changes or {}).get("options")
    if not isinstance(options, dict):
        return None
    terms = options.get("batch_mode_terms")
    data_set = options.get("diffing_data_set_identifier")
    return ImportScope(
        batch_mode=bool(options.get("batch_mode")),
        batch_mode_terms=frozenset(str(term) for term in terms) if isinstance(terms, list) else None,
        multi_term_batch_mode=bool(options.get("multi_term_batch_mode")),
        data_set=str(data_set) if data_set is not None else None,
        skip_deletes=bool(options.get("skip_deletes")),
    )
