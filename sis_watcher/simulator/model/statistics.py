"""
Canvas's `data.statistics`: the state changes of one import, counted per model (docs/canvas.md §A3).

Canvas keeps a roll-back row for every SIS object an import creates or moves to another
workflow state, and counts them when the import ends. Here each CSV row the store applies, and
each object batch mode removes, is one such change: `StateChanges.add(model, previous, new)`,
`previous` None for an object that did not exist. A row that leaves its object's state as it
was is no change. `statistics()` is the JSON: `total_state_changes`, then every `RESTORE_ORDER`
model zero-filled (every model counted here is one of them).

What a row's status makes of its object (`workflow_state`) follows the importers: a course
`active` stays published or unpublished (a new one is `claimed`, a completed one `available`),
`published` is `available`, `unpublished` `claimed`; an enrollment keeps `completed` and
`inactive`; a login is always `active`; every `deleted...` status is `deleted` (`retired` for
the e-mail of a deleted user).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

RESTORE_ORDER = (
    "Account",
    "EnrollmentTerm",
    "AbstractCourse",
    "Course",
    "CourseSection",
    "GroupCategory",
    "Group",
    "Pseudonym",
    "CommunicationChannel",
    "Enrollment",
    "GroupMembership",
    "UserObserver",
    "AccountUser",
)
MODELS = {
    "account": "Account",
    "term": "EnrollmentTerm",
    "abstract_course": "AbstractCourse",
    "course": "Course",
    "section": "CourseSection",
    "group_category": "GroupCategory",
    "differentiation_tag_set": "GroupCategory",
    "group": "Group",
    "differentiation_tag": "Group",
    "user": "Pseudonym",
    "login": "Pseudonym",
    "enrollment": "Enrollment",
    "group_membership": "GroupMembership",
    "differentiation_tag_membership": "GroupMembership",
    "user_observer": "UserObserver",
    "admin": "AccountUser",
}
COMMUNICATION_CHANNEL = "CommunicationChannel"
ACTIVE_STATES = {
    "Course": frozenset({"claimed", "created", "available"}),
    "Group": frozenset({"available"}),
    "GroupMembership": frozenset({"accepted"}),
}
RESTORABLE_STATES = {
    "Course": frozenset({"completed", "deleted"}),
    "Enrollment": frozenset({"inactive", "completed", "rejected", "deleted"}),
    "CommunicationChannel": frozenset({"retired", "unconfirmed"}),
}
DELETED_STATES = {"CommunicationChannel": "retired"}
NEVER_EXISTED = (None, "creation_pending")
COURSE_LIVE = frozenset({"claimed", "created", "available"})


KEPT_STATUSES = {  # the statuses besides `active` a kind keeps as its workflow state
    "enrollment": ("completed", "inactive"),
    "group": ("closed", "completed"),
    "differentiation_tag": ("closed", "completed"),
    "user": ("suspended",),
}
LIVE_STATES = {  # the workflow state of a live object, when not `active`
    "group": "available",
    "differentiation_tag": "available",
    "group_membership": "accepted",
    "differentiation_tag_membership": "accepted",
}


def workflow_state(kind: str, status: str, previous: str | None) -> str:
    """Return the workflow state a row of CSV type `kind` with `status` gives its object."""
    lowered = status.lower()
    if kind == "login":
        return "active"  # docs/canvas.md §A5: the login importer forces `active`
    if lowered.startswith("deleted"):
        return "deleted"
    if kind == "course":
        return course_state(lowered, previous)
    kept = next((word for word in KEPT_STATUSES.get(kind, ()) if lowered.startswith(word)), None)
    return kept or LIVE_STATES.get(kind, "active")


def course_state(status: str, previous: str | None) -> str:
    if status.startswith("completed"):
        return "completed"
    if status.startswith("published"):
        return "available"
    if status.startswith("unpublished"):
        return "claimed"
    if previous in COURSE_LIVE:
        return previous
    return "available" if previous == "completed" else "claimed"


def channel_state(user_state: str) -> str:
    """The state of a user row's e-mail channel: retired with a deleted user, else active."""
    return "retired" if user_state == "deleted" else "active"


@dataclass(slots=True)
class StateChanges:
    """
    The roll-back rows of one import, counted by (model, statistic).

    `roll_back` counts the same rows by (model, new state, written by batch-mode cleanup): what
    a later `restore_states` filters on (`model.restore`, docs/canvas.md §A2).
    """

    rows: int = 0
    tally: Counter[tuple[str, str]] = field(default_factory=Counter)
    roll_back: Counter[tuple[str, str, bool]] = field(default_factory=Counter)

    def add(self, model: str, previous: str | None, new: str, *, batch_mode: bool = False) -> None:
        """Count one object's move from `previous` (None: did not exist) to `new`."""
        if previous == new:
            return
        self.rows += 1
        self.roll_back[model, new, batch_mode] += 1
        if new in ACTIVE_STATES.get(model, frozenset({"active"})):
            if previous in NEVER_EXISTED:
                self.tally[model, "created"] += 1
            elif previous in RESTORABLE_STATES.get(model, frozenset({"deleted"})):
                self.tally[model, "restored"] += 1
        elif new == DELETED_STATES.get(model, "deleted"):
            self.tally[model, "deleted"] += 1
        elif new == "completed":
            self.tally[model, "concluded"] += 1
        elif new == "inactive":
            self.tally[model, "deactivated"] += 1

    def statistics(self) -> dict[str, Any]:
        """Return `data.statistics` as Canvas writes it (docs/canvas.md §A3, §6.2)."""
        result: dict[str, Any] = {"total_state_changes": self.rows}
        for model in RESTORE_ORDER:
            names = ["created", "restored", "deleted"]
            names += ["concluded"] if model in ("Course", "Enrollment") else []
            names += ["deactivated"] if model == "Enrollment" else []
            result[model] = {name: self.tally[model, name] for name in names}
        return result
