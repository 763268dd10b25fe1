"""The real Canvas samples: the clean ones pass, the known defects are caught."""

from __future__ import annotations

from pathlib import Path

import pytest

from sis_watcher.canvas.csv_names import type_suggested_by_name
from sis_watcher.validation.files import validate_file
from sis_watcher.validation.model import Severity

from unit.validation.helpers import SAMPLES, check_bytes

COURSE_LIST = "other/tfullwood__canvas-contrib__API_Examples__Automation__demodata__course_list.csv"
UTF8_STRADDLING_4096 = "canvas-lms-fixtures/spec__fixtures__sis__utf8.csv"
WITH_BOM = "canvas-lms-fixtures/spec__fixtures__sis__with_bom.csv"
CRLF_ENROLLMENTS = (
    "other/tfullwood__canvas-contrib__API_Examples__Automation__demodata__output__create__enrollment.csv"
)

# sample, kind, severity of the defect the samples README documents
DEFECTS = {
    "canvas-doc-examples/logins.csv": ("extra-fields", Severity.ERROR),
    "canvas-doc-examples/change_sis_id.csv": ("missing-fields", Severity.WARNING),
    COURSE_LIST: ("unknown-header", Severity.ERROR),
}
CLEAN = sorted(
    str(path.relative_to(SAMPLES))
    for path in SAMPLES.rglob("*.csv")
    if str(path.relative_to(SAMPLES)) not in DEFECTS
)


@pytest.mark.parametrize("sample", CLEAN)
def test_clean_sample_passes(samples_dir, sample):
    """A clean Canvas sample has no problem at all and the type its name suggests."""
    path = samples_dir / sample

    report = validate_file(path)

    assert [] == [problem.message for problem in report.problems]
    assert report.ok
    assert report.rows > 0
    assert report.bytes == path.stat().st_size
    assert type_suggested_by_name(path.name) in {None, report.csv_type}


@pytest.mark.parametrize("sample", sorted(DEFECTS))
def test_known_defect_is_caught(samples_dir, sample):
    """Each defect the samples README lists is reported with its kind and severity."""
    kind, severity = DEFECTS[sample]

    report = validate_file(samples_dir / sample)

    assert (kind, severity) in {(problem.kind, problem.severity) for problem in report.problems}


def test_logins_doc_sample_has_ragged_rows_on_every_row(samples_dir):
    """Canvas's own logins example has 6 header columns and 9 fields in each of its 3 rows."""
    report = validate_file(samples_dir / "canvas-doc-examples/logins.csv")

    assert [2, 3, 4] == [problem.row for problem in report.errors]
    assert all("9 fields but the header has 6" in problem.message for problem in report.errors)


def test_change_sis_id_doc_sample_short_rows_lack_their_type(samples_dir):
    """The change_sis_id example's 3-field rows leave the required type column empty."""
    report = validate_file(samples_dir / "canvas-doc-examples/change_sis_id.csv")

    assert {2, 3, 4} == {problem.row for problem in report.warnings if problem.kind == "empty-value"}
    assert report.ok


def test_course_list_with_classic_mac_line_endings_is_read_row_by_row(samples_dir):
    """The CR-only course list parses into its rows but is no Canvas type."""
    path = samples_dir / COURSE_LIST
    records = [line for line in path.read_bytes().split(b"\r") if line.strip()]

    report = validate_file(path)

    assert report.csv_type is None
    assert len(records) - 1 == report.rows
    assert not report.ok
    assert (
        'which need the columns "course_id", "short_name", "long_name", "status"; add them'
        in report.errors[0].message
    )


def test_bom_is_stripped_before_the_header_is_read(samples_dir):
    """With the UTF-8 BOM removed the first cell reads user_id, so the file is a users file."""
    path = samples_dir / WITH_BOM

    report = validate_file(path)

    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    assert ("user", 1, ()) == (report.csv_type, report.rows, report.problems)


@pytest.mark.parametrize("chunk_bytes", [1, 2, 3, 7, 100, 4095, 4096, 4097, 4100])
def test_chunk_size_does_not_change_the_verdict_on_multibyte_text(samples_dir, chunk_bytes):
    """The 2-byte character that straddles byte 4096 is fine however the file is chunked."""
    data = (samples_dir / UTF8_STRADDLING_4096).read_bytes()

    report = check_bytes(data, name="utf8.csv", chunk_bytes=chunk_bytes)

    assert ("user", 9, ()) == (report.csv_type, report.rows, report.problems)


def test_crlf_sample_counts_every_row(samples_dir):
    """The 10,000-row CRLF enrollments export is clean and counted exactly."""
    report = validate_file(samples_dir / CRLF_ENROLLMENTS)

    assert ("enrollment", 10_000, ()) == (report.csv_type, report.rows, report.problems)


@pytest.mark.parametrize("sample", sorted(str(p.relative_to(SAMPLES)) for p in SAMPLES.rglob("*.csv")))
def test_cheap_mode_agrees_on_type_and_rows(samples_dir, sample):
    """With checks off a sample gets the same type and row count and no problems."""
    path: Path = samples_dir / sample

    full = validate_file(path)
    cheap = validate_file(path, checks=False)

    assert (full.csv_type, full.rows, full.bytes) == (cheap.csv_type, cheap.rows, cheap.bytes)
    assert () == cheap.problems
