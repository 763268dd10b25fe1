"""Unit tests for `sis_watcher.pipeline.guard`: the shrink guard against truncated exports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sis_watcher.batch.manifest import BatchState, FileEntry, Manifest, MemberEntry
from sis_watcher.pipeline.guard import (
    GUARD_FILE,
    Shrink,
    describe,
    find_shrinks,
    load_baseline,
    record_success,
    rows_by_type,
)


def entry(name: str, csv_type: str | None, rows: int | None) -> FileEntry:
    return FileEntry(name=name, bytes=100, csv_type=csv_type, rows=rows)


def manifest(batch_id: str, *files: FileEntry, state: BatchState = BatchState.ZIPPED) -> Manifest:
    return Manifest(
        batch_id=batch_id, state=state, sealed_at="2026-11-27T02:00:00.000000Z", files=list(files)
    )


def done_batch(done: Path, batch_id: str, *files: FileEntry) -> None:
    folder = done / batch_id
    folder.mkdir(parents=True)
    manifest(batch_id, *files, state=BatchState.DONE).save(folder)


@pytest.fixture
def places(tmp_path) -> tuple[Path, Path]:
    queue, done = tmp_path / "queue", tmp_path / "done"
    queue.mkdir()
    done.mkdir()
    return queue, done


class TestRowsByType:
    def test_rows_are_summed_per_type(self):
        """Several files of one type add up; files without a type or row count are skipped."""
        files = [
            entry("enrollments_a.csv", "enrollment", 300),
            entry("enrollments_b.csv", "enrollment", 200),
            entry("users.csv", "user", 50),
            entry("READY", None, None),
            entry("odd.csv", "course", None),
        ]

        assert rows_by_type(files) == {"enrollment": 500, "user": 50}

    def test_zip_members_count_instead_of_the_zip(self):
        """A dropped zip's members are counted, by their own types."""
        dropped = FileEntry(
            name="export.zip",
            bytes=999,
            csv_type="user",
            rows=1,
            members=[
                MemberEntry(name="users.csv", bytes=10, csv_type="user", rows=40),
                MemberEntry(name="more/users2.csv", bytes=10, csv_type="user", rows=2),
                MemberEntry(name="courses.csv", bytes=10, csv_type="course", rows=7),
                MemberEntry(name="readme.txt", bytes=10),
            ],
        )

        assert rows_by_type([dropped, entry("x.csv", "user", 1)]) == {"user": 43, "course": 7}

    def test_zip_without_csv_members_counts_nothing(self):
        """An empty member list is nothing, not the zip itself."""
        assert rows_by_type([FileEntry(name="e.zip", bytes=1, csv_type="user", rows=5, members=[])]) == {}


class TestFindShrinks:
    def test_shrink_over_the_limit_is_found(self, places):
        """A type that fell by more than max_shrink_percent is reported with both counts."""
        queue, done = places
        done_batch(done, "20261126T020000Z-000001", entry("enrollments.csv", "enrollment", 1000))

        shrinks = find_shrinks(
            manifest("20261127T020000Z-000002", entry("enrollments.csv", "enrollment", 700)),
            max_shrink_percent=20,
            queue=queue,
            done=done,
        )

        assert shrinks == [
            Shrink(
                csv_type="enrollment", rows=700, previous_rows=1000, previous_batch="20261126T020000Z-000001"
            )
        ]
        assert shrinks[0].percent == 30.0

    @pytest.mark.parametrize("rows", [800, 900, 1000, 5000])
    def test_shrink_at_or_under_the_limit_passes(self, places, rows):
        """Falling exactly by the limit, less, or growing is fine."""
        queue, done = places
        done_batch(done, "20261126T020000Z-000001", entry("enrollments.csv", "enrollment", 1000))

        shrinks = find_shrinks(
            manifest("b", entry("enrollments.csv", "enrollment", rows)),
            max_shrink_percent=20,
            queue=queue,
            done=done,
        )

        assert shrinks == []

    def test_empty_file_is_a_full_shrink(self, places):
        """A type that dropped to zero rows shrank by 100%."""
        queue, done = places
        done_batch(done, "20261126T020000Z-000001", entry("users.csv", "user", 10))

        [shrink] = find_shrinks(
            manifest("b", entry("users.csv", "user", 0)), max_shrink_percent=99, queue=queue, done=done
        )

        assert shrink.percent == 100.0

    def test_new_types_and_types_absent_from_this_batch_pass(self, places):
        """A type never seen before, or missing from this batch, is not a shrink."""
        queue, done = places
        done_batch(
            done,
            "20261126T020000Z-000001",
            entry("users.csv", "user", 10),
            entry("courses.csv", "course", 10),
        )

        shrinks = find_shrinks(
            manifest("b", entry("terms.csv", "term", 1)), max_shrink_percent=1, queue=queue, done=done
        )

        assert shrinks == []

    def test_baseline_of_zero_rows_is_skipped(self, places):
        """A previous count of zero cannot shrink (no division by zero)."""
        queue, done = places
        (queue / GUARD_FILE).write_text(json.dumps({"user": {"rows": 0, "batch_id": "x"}}), encoding="utf-8")

        assert (
            find_shrinks(
                manifest("b", entry("u.csv", "user", 0)), max_shrink_percent=1, queue=queue, done=done
            )
            == []
        )

    def test_several_types_are_reported_in_name_order(self, places):
        """Every shrunk type is reported, sorted by type."""
        queue, done = places
        done_batch(
            done, "20261126T020000Z-000001", entry("u.csv", "user", 100), entry("e.csv", "enrollment", 100)
        )

        shrinks = find_shrinks(
            manifest("b", entry("u.csv", "user", 10), entry("e.csv", "enrollment", 10)),
            max_shrink_percent=50,
            queue=queue,
            done=done,
        )

        assert [item.csv_type for item in shrinks] == ["enrollment", "user"]


class TestBaseline:
    def test_rebuilt_from_done_when_the_guard_file_is_missing(self, places):
        """Without the guard file, each type's newest done batch is the baseline."""
        queue, done = places
        done_batch(done, "20261125T020000Z-000001", entry("u.csv", "user", 100), entry("c.csv", "course", 5))
        done_batch(done, "20261126T020000Z-000002", entry("u.csv", "user", 200))
        (done / "20261127T020000Z-000003").mkdir()

        baseline = load_baseline(queue, done)

        assert baseline == {
            "user": {"rows": 200, "batch_id": "20261126T020000Z-000002"},
            "course": {"rows": 5, "batch_id": "20261125T020000Z-000001"},
        }

    @pytest.mark.parametrize("content", ["{broken", "[1, 2]"])
    def test_rebuilt_when_the_guard_file_is_unreadable(self, places, content):
        """A damaged or non-object guard file is ignored and the baseline rebuilt from done/."""
        queue, done = places
        (queue / GUARD_FILE).write_text(content, encoding="utf-8")
        done_batch(done, "20261126T020000Z-000001", entry("u.csv", "user", 7))

        assert load_baseline(queue, done) == {"user": {"rows": 7, "batch_id": "20261126T020000Z-000001"}}

    def test_guard_file_wins_over_done(self, places):
        """When the guard file is there, done/ is not read."""
        queue, done = places
        (queue / GUARD_FILE).write_text(json.dumps({"user": {"rows": 3, "batch_id": "g"}}), encoding="utf-8")
        done_batch(done, "20261126T020000Z-000001", entry("u.csv", "user", 7))

        assert load_baseline(queue, done) == {"user": {"rows": 3, "batch_id": "g"}}

    def test_no_history_is_an_empty_baseline(self, places):
        """No guard file and nothing in done/: nothing to compare against."""
        queue, done = places

        assert load_baseline(queue, done) == {}


class TestRecordSuccess:
    def test_writes_the_new_baseline_keeping_other_types(self, places):
        """A done batch updates its own types and keeps the others' last counts."""
        queue, done = places
        done_batch(done, "20261126T020000Z-000001", entry("u.csv", "user", 100), entry("c.csv", "course", 5))

        record_success(
            manifest("20261127T020000Z-000002", entry("u.csv", "user", 150)), queue=queue, done=done
        )

        document = json.loads((queue / GUARD_FILE).read_text(encoding="utf-8"))
        assert document == {
            "user": {"rows": 150, "batch_id": "20261127T020000Z-000002"},
            "course": {"rows": 5, "batch_id": "20261126T020000Z-000001"},
        }

    def test_recorded_baseline_guards_the_next_batch(self, places):
        """After record_success, a truncated next batch is caught against it."""
        queue, done = places
        record_success(manifest("first", entry("u.csv", "user", 1000)), queue=queue, done=done)

        [shrink] = find_shrinks(
            manifest("second", entry("u.csv", "user", 10)), max_shrink_percent=20, queue=queue, done=done
        )

        assert (shrink.previous_batch, shrink.previous_rows) == ("first", 1000)


class TestDescribe:
    def test_reason_names_both_counts_and_the_override(self):
        """The failure reason gives old and new counts, the percent, the limit and the retry command."""
        shrinks = [
            Shrink(csv_type="enrollment", rows=7000, previous_rows=10000, previous_batch="P1"),
            Shrink(csv_type="user", rows=0, previous_rows=1500, previous_batch="P2"),
        ]

        text = describe(shrinks, max_shrink_percent=20, batch_id="B9")

        assert text == (
            "shrink guard: enrollment rows fell from 10,000 (batch P1) to 7,000 (-30.0%); "
            "user rows fell from 1,500 (batch P2) to 0 (-100.0%), more than guard.max_shrink_percent=20; "
            "if the export is right, send it with `sis-watcher retry --force B9`"
        )
