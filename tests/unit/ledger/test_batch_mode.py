"""Unit tests of batch mode in the preview: what Canvas drops from the batch's term(s) the batch lacks."""

from __future__ import annotations

import pytest

from sis_watcher.ledger.changes import TypeChanges
from sis_watcher.ledger.scope import ImportScope

from unit.ledger.helpers import Batches, Files, Table, keys_of, terms_of

TERMS = ("term_id", "name", "status")
COURSES = ("course_id", "short_name", "long_name", "term_id", "status")
SECTIONS = ("section_id", "course_id", "name", "status")
ENROLLMENTS = ("section_id", "course_id", "user_id", "role", "status")
USERS = ("user_id", "login_id", "status")
T1 = ImportScope(batch_mode=True, batch_mode_terms=frozenset({"T1"}))

# Terms T1, T2, T3; courses c1 and c2 in T1, c3 in T2, c4 in T3; one section per course; enrollments
# by section, and by course alone (u3 in c2, u5 in c3).
LEDGER: Files = {
    "terms.csv": [TERMS, ("T1", "Fall", "active"), ("T2", "Spring", "active"), ("T3", "Summer", "active")],
    "courses.csv": [
        COURSES,
        ("c1", "C1", "Course 1", "T1", "active"),
        ("c2", "C2", "Course 2", "T1", "active"),
        ("c3", "C3", "Course 3", "T2", "active"),
        ("c4", "C4", "Course 4", "T3", "active"),
    ],
    "sections.csv": [
        SECTIONS,
        ("s1", "c1", "S1", "active"),
        ("s2", "c2", "S2", "active"),
        ("s3", "c3", "S3", "active"),
        ("s4", "c4", "S4", "active"),
    ],
    "enrollments.csv": [
        ENROLLMENTS,
        ("s1", "", "u1", "student", "active"),
        ("s2", "", "u2", "student", "active"),
        ("", "c2", "u3", "student", "active"),
        ("s3", "", "u4", "student", "active"),
        ("", "c3", "u5", "student", "active"),
        ("s4", "", "u6", "student", "active"),
    ],
    "users.csv": [USERS, *((f"u{n}", f"l{n}", "active") for n in range(1, 7))],
}

# The batch keeps c1, s1 and u1's enrollment of T1 and nothing else.
KEPT: dict[str, Table] = {
    "course": [COURSES, ("c1", "C1", "Course 1", "T1", "active")],
    "section": [SECTIONS, ("s1", "c1", "S1", "active")],
    "enrollment": [ENROLLMENTS, ("s1", "", "u1", "student", "active")],
    "user": [USERS, ("u1", "l1", "active")],
}
FILES = {
    "course": "courses.csv",
    "section": "sections.csv",
    "enrollment": "enrollments.csv",
    "user": "users.csv",
}
T1_DROPS = {"course": 1, "section": 1, "enrollment": 2, "user": 0}  # c2; s2; u2 in s2 and u3 in c2


def files_of(*csv_types: str) -> Files:
    return {FILES[csv_type]: KEPT[csv_type] for csv_type in csv_types}


@pytest.fixture
def filled(batches: Batches) -> Batches:
    batches.send(LEDGER)
    return batches


def test_the_ledger_records_each_rows_term(filled, ledger):
    """A section's term is its course's; an enrollment's is its section's course's, or its course's."""
    assert {"s1": "T1", "s2": "T1", "s3": "T2", "s4": "T3"} == terms_of(ledger, "section")
    expected = {
        "section:s1|u1|student": "T1",
        "section:s2|u2|student": "T1",
        "course:c2|u3|student": "T1",
        "section:s3|u4|student": "T2",
        "course:c3|u5|student": "T2",
        "section:s4|u6|student": "T3",
    }
    assert expected == terms_of(ledger, "enrollment")


@pytest.mark.parametrize(
    "supplied",
    [
        ("course",),
        ("section",),
        ("enrollment",),
        ("course", "section"),
        ("course", "section", "enrollment"),
        ("course", "section", "enrollment", "user"),
    ],
    ids="+".join,
)
def test_only_the_types_the_batch_supplies_are_dropped(filled, supplied):
    """Batch mode drops courses, sections and enrollments only for those of the three types the batch supplies."""
    changes = filled.preview(files_of(*supplied), scope=T1).changes

    assert {csv_type: T1_DROPS[csv_type] for csv_type in supplied} == {
        csv_type: counts.dropped for csv_type, counts in changes.by_type.items()
    }


def test_the_dropped_rows_leave_the_ledger_and_other_terms_stay(filled, ledger):
    """Applied, batch mode removes c2, s2 and T1's missing enrollments; T2's and T3's rows and all users stay."""
    filled.send(files_of("course", "section", "enrollment", "user"), scope=T1)

    assert {"c1", "c3", "c4"} == keys_of(ledger, "course")
    assert {"s1", "s3", "s4"} == keys_of(ledger, "section")
    assert {
        "section:s1|u1|student",
        "section:s3|u4|student",
        "course:c3|u5|student",
        "section:s4|u6|student",
    } == keys_of(ledger, "enrollment")
    assert 6 == ledger.row_count("user")


def test_every_count_of_a_batch_mode_preview(filled):
    """Batch mode's drops are counted beside the rows the batch keeps unchanged."""
    changes = filled.preview(files_of("course", "section", "enrollment"), scope=T1).changes

    assert {
        "course": TypeChanges(unchanged=1, dropped=1, ledger_rows=4),
        "section": TypeChanges(unchanged=1, dropped=1, ledger_rows=4),
        "enrollment": TypeChanges(unchanged=1, dropped=2, ledger_rows=6),
    } == changes.by_type


def test_a_row_the_batch_deletes_is_deleted_not_dropped(filled):
    """A T1 course the batch sends with status deleted counts once, as deleted."""
    courses = [*KEPT["course"], ("c2", "C2", "Course 2", "T1", "deleted")]

    changes = filled.preview({"courses.csv": courses}, scope=T1).changes

    assert TypeChanges(unchanged=1, deleted=1, ledger_rows=4) == changes.by_type["course"]


def test_a_changed_row_of_the_term_is_updated_not_dropped(filled):
    """A T1 section the batch sends with another name is updated; only the lacking s2 is dropped."""
    sections = [SECTIONS, ("s1", "c1", "S1 renamed", "active")]

    changes = filled.preview({"sections.csv": sections}, scope=T1).changes

    assert TypeChanges(updated=1, dropped=1, ledger_rows=4) == changes.by_type["section"]


def test_batch_mode_with_another_term(filled):
    """With T2 as the term, only T2's lacking rows are dropped."""
    scope = ImportScope(batch_mode=True, batch_mode_terms=frozenset({"T2"}))

    changes = filled.preview(files_of("course", "section", "enrollment"), scope=scope).changes

    assert {"course": 1, "section": 1, "enrollment": 2} == {
        csv_type: counts.dropped for csv_type, counts in changes.by_type.items()
    }


def test_a_term_known_only_by_canvas_id_drops_nothing_and_says_why(filled):
    """batch_mode_term_id given as a Canvas id cannot be placed: nothing is counted dropped and a note says so."""
    changes = filled.preview(files_of("course"), scope=ImportScope(batch_mode=True)).changes

    assert 0 == changes.by_type["course"].dropped
    assert 1 == len(changes.notes)
    assert "cannot be counted" in changes.notes[0]


def test_without_batch_mode_nothing_is_dropped(filled):
    """Rows the batch lacks are only dropped in batch mode (or diffing)."""
    changes = filled.preview(files_of("course", "section", "enrollment")).changes

    assert {"course": 0, "section": 0, "enrollment": 0} == {
        csv_type: counts.dropped for csv_type, counts in changes.by_type.items()
    }


MULTI = ImportScope(batch_mode=True, multi_term_batch_mode=True)


@pytest.mark.parametrize(
    ("terms", "expected"),
    [
        ((("T1", "Fall 2026"),), {"course": 1, "section": 1, "enrollment": 2}),
        ((("T1", "Fall 2026"), ("T2", "Spring 2027")), {"course": 2, "section": 2, "enrollment": 4}),
    ],
    ids=["T1", "T1+T2"],
)
def test_multi_term_batch_mode_drops_from_the_terms_of_the_batchs_terms_csv(filled, ledger, terms, expected):
    """With multi_term_batch_mode the terms of terms.csv are cleaned up; a term it lacks (T3) is untouched."""
    files = {
        "terms.csv": [TERMS, *((term, name, "active") for term, name in terms)],
        **files_of("course", "section", "enrollment"),
    }

    changes = filled.send(files, scope=MULTI)

    assert expected == {csv_type: changes.by_type[csv_type].dropped for csv_type in expected}
    assert "c4" in keys_of(ledger, "course")
    assert "s4" in keys_of(ledger, "section")
    assert "section:s4|u6|student" in keys_of(ledger, "enrollment")


def test_rows_are_placed_by_the_batchs_own_courses_and_sections(filled, ledger):
    """A new course, its new section and their new enrollment take the term the batch gives the course."""
    files: Files = {
        "courses.csv": [COURSES, ("c9", "C9", "Course 9", "T2", "active")],
        "sections.csv": [SECTIONS, ("s9", "c9", "S9", "active"), ("s2", "c3", "S2 moved", "active")],
        "enrollments.csv": [ENROLLMENTS, ("s9", "", "u9", "student", "active")],
    }

    filled.send(files)

    assert "T2" == terms_of(ledger, "course")["c9"]
    assert {"s9": "T2", "s2": "T2"} == {
        key: term for key, term in terms_of(ledger, "section").items() if key in {"s9", "s2"}
    }
    assert "T2" == terms_of(ledger, "enrollment")["section:s9|u9|student"]


def test_a_section_moved_to_another_terms_course_is_not_dropped_from_its_old_term(filled):
    """Once s2 is recorded in a T2 course, a T1 batch lacking it does not drop it."""
    filled.send({"sections.csv": [SECTIONS, ("s2", "c3", "S2 moved", "active")]})

    changes = filled.preview(files_of("section"), scope=T1).changes

    assert TypeChanges(unchanged=1, ledger_rows=4) == changes.by_type["section"]


def test_multi_term_batch_mode_drops_when_terms_csv_is_byte_for_byte_unchanged(batches):
    """An unchanged terms.csv (matched by fingerprint) still names the terms multi-term batch mode cleans."""
    first = {
        "terms.csv": [TERMS, ("T1", "Fall", "active")],
        "courses.csv": [
            COURSES,
            ("c1", "C1", "Course 1", "T1", "active"),
            ("c2", "C2", "Course 2", "T1", "active"),
        ],
    }
    batches.send(first, scope=MULTI)
    again = {
        "terms.csv": [TERMS, ("T1", "Fall", "active")],
        "courses.csv": [COURSES, ("c1", "C1", "Course 1", "T1", "active")],
    }

    changes = batches.send(again, scope=MULTI)

    assert 1 == changes.by_type["course"].dropped


def test_a_first_terms_csv_names_the_terms_multi_term_batch_mode_cleans(batches):
    """A terms.csv new to the ledger (only counted) still names its terms for multi-term batch mode."""
    batches.send(
        {"courses.csv": [COURSES, ("c1", "C1", "Course 1", "T1", "active"), ("c2", "C2", "", "T1", "active")]}
    )

    changes = batches.send(
        {
            "terms.csv": [TERMS, ("T1", "Fall", "active")],
            "courses.csv": [COURSES, ("c1", "C1", "Course 1", "T1", "active")],
        },
        scope=MULTI,
    )

    assert 1 == changes.by_type["course"].dropped


def test_courses_new_to_the_ledger_place_the_batchs_sections(batches, ledger):
    """Courses counted as new to the ledger still give the batch's sections their term."""
    batches.send({"sections.csv": [SECTIONS, ("s1", "c1", "S1", "active")]})

    batches.send(
        {
            "courses.csv": [COURSES, ("c1", "C1", "Course 1", "T1", "active")],
            "sections.csv": [SECTIONS, ("s1", "c1", "S1", "active"), ("s2", "c1", "S2", "active")],
        }
    )

    assert "T1" == terms_of(ledger, "section")["s2"]
