"""
The SIS objects the simulated account holds, built up by imports.

Only what the simulator needs to behave like Canvas is kept: ids for reference checks
(a section's course, an enrollment's course, section and user); for batch mode, the term of
each course, section and enrollment plus the import that last touched it (docs/canvas.md §2.4);
and every object's workflow state, so that each import's state changes can be counted as
Canvas's `data.statistics` (`StateChanges`, docs/canvas.md §A3). Memory is bounded by
`max_objects`: past it the store stops growing and stops checking references (`overflowed`),
so a 1 GB benchmark upload cannot exhaust memory (its statistics are then incomplete).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sis_watcher.simulator.model.statistics import (
    COMMUNICATION_CHANNEL,
    MODELS,
    StateChanges,
    channel_state,
    workflow_state,
)

DEFAULT_TERM_ID = 1
BATCH_MODE_KINDS = ("course", "section", "enrollment")  # docs/canvas.md §2.4: the only ones deleted
PLURALS = {"course": "courses", "section": "sections", "enrollment": "enrollments"}


@dataclass(slots=True)
class Item:
    """One SIS object: its workflow state, the SIS term of its course (None: default term), its last batch."""

    state: str
    term: str | None
    batch_id: int

    @property
    def active(self) -> bool:
        """Not deleted (Canvas's `active` scope: completed and inactive objects are still there)."""
        return self.state != "deleted"


@dataclass(frozen=True, slots=True, kw_only=True)
class Change:
    """One row's effect on the store: `kind` (the CSV type), its key, its status and fields."""

    kind: str
    key: str
    status: str = "active"
    parent: str | None = None
    integration_id: str | None = None
    email: str | None = None

    @property
    def active(self) -> bool:
        return not self.status.lower().startswith("deleted")


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
    states: dict[tuple[str, str], str] = field(default_factory=dict)  # (kind, key) -> workflow state
    changed: dict[int, StateChanges] = field(default_factory=dict)  # import id -> its state changes
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
        """Record the effect of one CSV file's rows, and count their state changes for the import."""
        with self.lock:
            counted = self.changed.setdefault(batch_id, StateChanges())
            for change in changes:
                if self.size >= self.max_objects:
                    self.overflowed = True
                    return
                self.size += 1
                self.count(change, counted)
                self.apply_one(change, batch_id)

    def count(self, change: Change, counted: StateChanges) -> None:
        """Count the state change of the row's object (and of a user's e-mail channel)."""
        model = MODELS.get(change.kind)
        if model is None:
            return
        namespace = model if model == "Pseudonym" else change.kind  # users and logins are both logins
        previous = self.states.get((namespace, change.key))
        state = workflow_state(change.kind, change.status, previous)
        self.states[namespace, change.key] = state
        counted.add(model, previous, state)
        if change.kind == "user" and change.email:
            channel = (COMMUNICATION_CHANNEL, f"{change.key}\x1f{change.email.lower()}")
            before = self.states.get(channel)
            self.states[channel] = channel_state(state)
            counted.add(COMMUNICATION_CHANNEL, before, self.states[channel])

    def apply_one(self, change: Change, batch_id: int) -> None:
        key = change.key
        state = self.states.get(
            (change.kind, key), "active"
        )  # set by `count` for courses, sections, enrollments
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
            self.courses[key] = Item(state, change.parent, batch_id)
        elif change.kind == "section":
            course = self.courses.get(change.parent or "")
            self.section_course[key] = change.parent or ""
            self.sections[key] = Item(state, course.term if course else None, batch_id)
        elif change.kind == "user":
            self.users.add(key)
            if change.integration_id:
                self.user_integration_ids.add(change.integration_id)
        elif change.kind == "enrollment":
            course = self.courses.get(change.parent or "")
            self.enrollments[key] = Item(state, course.term if course else None, batch_id)

    def batch_terms(self, batch_id: int) -> set[str | None]:
        """Return the SIS terms of the courses an import touched (for multi_term_batch_mode)."""
        with self.lock:
            return {item.term for item in self.courses.values() if item.batch_id == batch_id}

    def items_of(self, kind: str) -> dict[str, Item]:
        return {"course": self.courses, "section": self.sections, "enrollment": self.enrollments}[kind]

    def stale(
        self, *, terms: set[str | None], batch_id: int, kinds: Iterable[str], drop_state: str = "deleted"
    ) -> dict[str, tuple[int, int]]:
        """
        Return, per plural kind, (objects batch mode would remove, active objects) in `terms`.

        `kinds` are the supplied ones among course, section, enrollment (docs/canvas.md §2.4:
        only these are removed); enrollments already in `drop_state` are not removed again.
        """
        with self.lock:
            result = {}
            for kind in kinds:
                items = self.items_of(kind).values()
                in_terms = [item for item in items if item.active and item.term in terms]
                skip = drop_state if kind == "enrollment" else "deleted"
                stale = sum(1 for item in in_terms if item.batch_id != batch_id and item.state != skip)
                result[PLURALS[kind]] = (stale, len(in_terms))
            return result

    def delete_stale(
        self, *, terms: set[str | None], batch_id: int, kinds: Iterable[str], drop_state: str = "deleted"
    ) -> None:
        """
        Remove every active object of `kinds` in `terms` the import did not touch, counting the changes.

        Enrollments go to `drop_state` (`batch_mode_enrollment_drop_status`); courses and
        sections are deleted. Enrollments first, then sections, then courses, as Canvas does.
        """
        with self.lock:
            counted = self.changed.setdefault(batch_id, StateChanges())
            for kind in sorted(kinds, key=BATCH_MODE_KINDS.index, reverse=True):
                new = drop_state if kind == "enrollment" else "deleted"
                for key, item in self.items_of(kind).items():
                    if item.active and item.term in terms and item.batch_id != batch_id and item.state != new:
                        counted.add(MODELS[kind], item.state, new, batch_mode=True)
                        item.state = new
                        self.states[kind, key] = new

    def statistics(self, batch_id: int) -> dict[str, Any]:
        """Return the import's `data.statistics` and forget its count (docs/canvas.md §A3)."""
        with self.lock:
            return self.changed.pop(batch_id, StateChanges()).statistics()

    def take_changes(self, batch_id: int) -> StateChanges:
        """Return the import's state changes (its roll-back rows, counted) and forget them here."""
        with self.lock:
            return self.changed.pop(batch_id, StateChanges())

    def forget(self, batch_id: int) -> None:
        """Drop the count of an import that ends without statistics."""
        with self.lock:
            self.changed.pop(batch_id, None)
