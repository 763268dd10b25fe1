"""
Where batch mode looks for a row: the term of a course, of a section's course, of an enrollment's.

Canvas's batch mode deletes the courses, sections and enrollments of the batch's term(s) that
the batch lacks; a section belongs to the term of its (original, not cross-listed) course, an
enrollment to its section's course's, or its course's (docs/canvas.md §A5). The ledger records
that term with each row when the row is recorded: the batch's own courses and sections first
(they are recorded before its enrollments, in Canvas's import order), else the ledger's.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping

from sis_watcher.canvas.csv_types import IMPORT_ORDER


class Placer:
    """Resolves terms for one batch; looks the ledger up once per course or section."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.course_terms: dict[str, str | None] = {}
        self.section_courses: dict[str, str | None] = {}

    def place(self, csv_type: str, values: Mapping[str, str]) -> tuple[str | None, str | None]:
        """Return (term, course) for a row, noting a course's term and a section's course."""
        if csv_type == "course":
            course = values.get("course_id")
            if course is not None:
                self.course_terms[course] = values.get("term_id")
            return values.get("term_id"), None
        if csv_type == "section":
            course = values.get("course_id")
            section = values.get("section_id")
            if section is not None:
                self.section_courses[section] = course
            return self.term_of(course), course
        if csv_type == "enrollment":
            section = values.get("section_id")
            course = self.course_of(section) if section else None
            course = course or values.get("course_id")
            return self.term_of(course), course
        return None, None

    def term_of(self, course: str | None) -> str | None:
        if course is None:
            return None
        if course not in self.course_terms:
            found = self.db.execute(
                "SELECT term FROM main.rows WHERE csv_type = 'course' AND key = ?", (course,)
            ).fetchone()
            self.course_terms[course] = found[0] if found else None
        return self.course_terms[course]

    def course_of(self, section: str) -> str | None:
        if section not in self.section_courses:
            found = self.db.execute(
                "SELECT course FROM main.rows WHERE csv_type = 'section' AND key = ?", (section,)
            ).fetchone()
            self.section_courses[section] = found[0] if found else None
        return self.section_courses[section]


RANKS = {item.name: rank for rank, item in enumerate(IMPORT_ORDER)}


def import_rank(csv_type: str) -> int:
    """Return the type's place in Canvas's import order (courses before sections before enrollments)."""
    return RANKS.get(csv_type, len(RANKS))
