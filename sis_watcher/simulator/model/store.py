"""
The SIS objects the simulated account holds, built up by imports.

Only what the simulator needs to behave like Canvas is kept: ids for reference checks
(a section's course, an enrollment's course, section and user) and, for batch mode, the term of
each course, section and enrollment plus the import that last touched it (docs/canvas.md §2.4).
Memory is bounded by `max_objects`: past it the store stops growing and stops checking
references (`overflowed`), so a 1 GB benchmark upload cannot exhaust memory.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

DEFAULT_TERM_ID = 1


@dataclass(slots=True)
class Item:
    """One SIS object: its status, the SIS term of its course (None: default term), its last batch."""

    active: bool
    term: str | None
    batch_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Change:
    """One row's effect on the store: `kind` (course, section, ...), its key and fields."""

    kind: str
    key: str
    active: bool
    parent: str | None = None
    integration_id: str | None = None


@dataclass(slots=True)
class SisStore:
    """Every SIS object seen so far, by kind; thread-safe through `lock`."""

    max_objects: int = 500_000
    lock: threading.RLock = field(default_factory=threading.RLock)
    terms: dict[str, int] = field(default_factory=dict)  # SIS id -> Canvas id, active terms only
    deleted_terms: set[str] = field(default_factory=set)
    accounts: set[str] = field(default_factory=set)
    courses: dict[str, Item] = field(default_factory=dict)
    sections: dict[str, Item] = field(default_factory=dict)
    section_course: dict[str, str] = field(default_factory=dict)
    users: set[str] = field(default_factory=set)
    user_integration_ids: set[str] = field(default_factory=set)
    enrollments: dict[str, Item] = field(default_factory=dict)
    next_term_id: int = DEFAULT_TERM_ID + 1
    size: int = 0
    overflowed: bool = False

    def has_course(self, course_id: str | None) -> bool:
        return self.overflowed or (course_id is not None and course_id in self.courses)

    def has_section(self, section_id: str | None) -> bool:
        return self.overflowed or (section_id is not None and section_id in self.sections)

    def has_user(self, user_id: str | None, integration_id: str | None) -> bool:
        if self.overflowed:
            return True
        return (user_id is not None and user_id in self.users) or (
            integration_id is not None and integration_id in self.user_integration_ids
        )

    def course_of_section(self, section_id: str | None) -> str | None:
        return self.section_course.get(section_id) if section_id else None

    def term_canvas_id(self, reference: str) -> int | None:
        """Resolve a `batch_mode_term_id` (Canvas id, `sis_term_id:X`, default, current) to an active term."""
        with self.lock:
            if reference in ("default", "current"):
                return DEFAULT_TERM_ID
            if reference.startswith("sis_term_id:"):
                return self.terms.get(reference.removeprefix("sis_term_id:"))
            if reference.isdigit():
                wanted = int(reference)
                if wanted == DEFAULT_TERM_ID or wanted in self.terms.values():
                    return wanted
            return None

    def term_sis_id(self, canvas_id: int) -> str | None:
        """Return the SIS id of the active term `canvas_id` (None for the default term)."""
        with self.lock:
            return next((sis for sis, known in self.terms.items() if known == canvas_id), None)

    def apply(self, changes: Iterable[Change], *, batch_id: int) -> None:
        """Record the effect of one CSV file's rows."""
        with self.lock:
            for change in changes:
                if self.size >= self.max_objects:
                    self.overflowed = True
                    return
                self.size += 1
                self.apply_one(change, batch_id)

    def apply_one(self, change: Change, batch_id: int) -> None:
        key = change.key
        if change.kind == "term":
            if change.active:
                self.deleted_terms.discard(key)
                if key not in self.terms:
                    self.terms[key] = self.next_term_id
                    self.next_term_id += 1
            else:
                self.terms.pop(key, None)
                self.deleted_terms.add(key)
        elif change.kind == "account":
            self.accounts.add(key)
        elif change.kind == "course":
            self.courses[key] = Item(change.active, change.parent, batch_id)
        elif change.kind == "section":
            course = self.courses.get(change.parent or "")
            self.section_course[key] = change.parent or ""
            self.sections[key] = Item(change.active, course.term if course else None, batch_id)
        elif change.kind == "user":
            self.users.add(key)
            if change.integration_id:
                self.user_integration_ids.add(change.integration_id)
        elif change.kind == "enrollment":
            course = self.courses.get(change.parent or "")
            self.enrollments[key] = Item(change.active, course.term if course else None, batch_id)

    def batch_terms(self, batch_id: int) -> set[str | None]:
        """Return the SIS terms of the courses an import touched (for multi_term_batch_mode)."""
        with self.lock:
            return {item.term for item in self.courses.values() if item.batch_id == batch_id}

    def stale(self, *, terms: set[str | None], batch_id: int) -> dict[str, tuple[int, int]]:
        """
        Return, per kind, (objects batch mode would delete, active objects) in `terms`.

        Kinds are courses, sections, enrollments (docs/canvas.md §2.4: only these are deleted).
        """
        with self.lock:
            result = {}
            for name, items in (
                ("courses", self.courses),
                ("sections", self.sections),
                ("enrollments", self.enrollments),
            ):
                in_terms = [item for item in items.values() if item.active and item.term in terms]
                stale = sum(1 for item in in_terms if item.batch_id != batch_id)
                result[name] = (stale, len(in_terms))
            return result

    def delete_stale(self, *, terms: set[str | None], batch_id: int) -> None:
        """Mark deleted every active course, section and enrollment in `terms` the import did not touch."""
        with self.lock:
            for items in (self.courses, self.sections, self.enrollments):
                for item in items.values():
                    if item.active and item.term in terms and item.batch_id != batch_id:
                        item.active = False
