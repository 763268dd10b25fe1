"""Problems, reports and the capped log: the values the daemon and the command read."""

from __future__ import annotations

import dataclasses
import json

import pytest

from sis_watcher.validation.model import (
    KIND_SEVERITY,
    FileReport,
    Kind,
    Problem,
    ProblemLog,
    Severity,
    printable,
)


def test_every_kind_has_one_severity():
    """Each kind maps to exactly one severity, so counts per severity can be summed."""
    assert set(Kind) == set(KIND_SEVERITY)
    assert {Severity.ERROR, Severity.WARNING} == set(KIND_SEVERITY.values())


@pytest.mark.parametrize(
    ("row", "column", "expected"),
    [
        (None, None, "users.csv"),
        (17, None, "users.csv row 17"),
        (17, "status", "users.csv row 17, column status"),
        (None, "status", "users.csv, column status"),
        (1, " login_id", 'users.csv row 1, column " login_id"'),
    ],
)
def test_problem_location(row, column, expected):
    """A problem says where it is: the file, then the row and column when known."""
    problem = Problem(Severity.ERROR, "users.csv", row, "message", column)

    assert expected == problem.location


def test_values_are_frozen_and_slotted():
    """Problems and reports are immutable values."""
    problem = Problem(Severity.WARNING, "users.csv", 2, "m")
    report = FileReport(name="users.csv", csv_type="user", rows=1, bytes=10)

    with pytest.raises(dataclasses.FrozenInstanceError):
        problem.row = 3  # type: ignore[misc]
    assert not hasattr(report, "__dict__")


def test_log_stores_the_first_of_each_kind_and_counts_all():
    """The log keeps `cap` problems of each kind and counts every one."""
    log = ProblemLog("users.csv", cap=2)
    for row in range(2, 7):
        log.add(Kind.IMPROPER_STATUS, "bad status", row=row, column="status")
    log.add(Kind.EXTRA_FIELDS, "extra", row=9)

    report = log.report(csv_type="user", rows=8, size=100)

    assert [2, 3, 9] == [problem.row for problem in report.problems]
    assert {"improper-status": 5, "extra-fields": 1} == dict(report.problem_counts)
    assert (1, 5, False) == (report.error_count, report.warning_count, report.ok)
    assert 5 == log.count(Kind.IMPROPER_STATUS)


def test_zip_totals_include_members():
    """A zip's errors, warnings, counts and verdict include its members'."""
    member_log = ProblemLog("batch.zip:users.csv")
    member_log.add(Kind.MISSING_COLUMN, "no status", row=1, column="status")
    member = member_log.report(csv_type="user", rows=1, size=10)
    zip_log = ProblemLog("batch.zip")
    zip_log.add(Kind.ZIP_UNKNOWN_FILE_TYPE, "skipped", column="READY")

    report = zip_log.report(csv_type=None, rows=1, size=50, members=(member,))

    assert (1, 1, False) == (report.error_count, report.warning_count, report.ok)
    assert ["batch.zip:users.csv"] == [problem.file for problem in report.errors]
    assert ["batch.zip"] == [problem.file for problem in report.warnings]


def test_kinds_made_up_elsewhere_take_the_severity_of_their_problems():
    """A report built by hand with its own kinds still sums severities from its problems."""
    report = FileReport(
        name="x.csv",
        csv_type=None,
        rows=0,
        bytes=0,
        problems=(Problem(Severity.WARNING, "x.csv", None, "custom", kind="custom-check"),),
        problem_counts={"custom-check": 4, "never-stored": 1},
    )

    assert (1, 4) == (report.error_count, report.warning_count)


def test_to_dict_is_json_data():
    """A report converts to plain JSON data, members nested."""
    member = FileReport(name="b.zip:u.csv", csv_type="user", rows=1, bytes=5)
    report = FileReport(name="b.zip", csv_type=None, rows=1, bytes=9, members=(member,))

    data = json.loads(json.dumps(report.to_dict()))

    assert {
        "name": "b.zip",
        "csv_type": None,
        "rows": 1,
        "bytes": 9,
        "ok": True,
        "errors": 0,
        "warnings": 0,
    }.items() <= data.items()
    assert "members" not in data["members"][0]
    assert "user" == data["members"][0]["csv_type"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("plain", "plain"), ("Andr\udce9", "Andr\\xe9"), ("lone \ud800", "lone \\ud800")],
)
def test_printable(text, expected):
    """Undecodable bytes become escapes, so a message can always be written as UTF-8."""
    assert expected == printable(text)
