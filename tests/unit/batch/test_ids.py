"""Unit tests for `sis_watcher.batch.ids`: ids that sort by time, folders that are batches."""

from __future__ import annotations

from datetime import timedelta, timezone

from sis_watcher.batch.ids import batch_folders, new_batch_id

from unit.batch.helpers import ID_PATTERN, NOW


class TestBatchIds:
    def test_format(self):
        """An id is the UTC second, a dash, and six hex digits."""
        batch_id = new_batch_id(NOW)

        assert ID_PATTERN.match(batch_id)
        assert batch_id.startswith("20261127T020000Z-1e240")

    def test_ids_sort_by_time_within_one_second(self):
        """Ids made in the same second sort in the order of their microseconds."""
        moments = [NOW.replace(microsecond=micro) for micro in (0, 1, 9, 10, 255, 4096, 999_999)]

        ids = [new_batch_id(moment) for moment in moments]

        assert sorted(ids) == ids

    def test_ids_sort_by_time_across_seconds_and_days(self):
        """Ids sort by time across seconds, days and years."""
        moments = [NOW, NOW + timedelta(seconds=1), NOW + timedelta(days=40), NOW + timedelta(days=400)]
        moments.insert(0, NOW - timedelta(microseconds=1))

        ids = [new_batch_id(moment) for moment in moments]

        assert sorted(ids) == ids

    def test_ids_made_at_once_differ_in_the_random_digit_only(self):
        """Two ids for one instant share the time part; the last digit is random hex."""
        ids = {new_batch_id(NOW) for _ in range(200)}

        assert {batch_id[:-1] for batch_id in ids} == {"20261127T020000Z-1e240"}
        assert len(ids) > 1

    def test_id_is_in_utc_whatever_the_time_zone(self):
        """An aware time in another zone gives the UTC id its `Z` promises."""
        local = NOW.astimezone(timezone(timedelta(hours=2)))

        assert new_batch_id(local)[:17] == new_batch_id(NOW)[:17]


class TestBatchFolders:
    def test_lists_batch_folders_oldest_first(self, tmp_path):
        """Only real folders named like a batch id are batches, sorted by id."""
        names_made = (
            "20261127T020000Z-000002",
            "20261127T010000Z-000001",
            "20261127T010000Z-000001.2",
            ".sealing-20261127T030000Z-000003",
            ".hidden",
            "lost+found",
            "real",
        )
        for name in names_made:
            (tmp_path / name).mkdir()
        (tmp_path / "20261127T040000Z-000004").write_bytes(b"")
        (tmp_path / "20261127T050000Z-000005").symlink_to(tmp_path / "real")

        assert [path.name for path in batch_folders(tmp_path)] == [
            "20261127T010000Z-000001",
            "20261127T010000Z-000001.2",
            "20261127T020000Z-000002",
        ]

    def test_missing_root_has_no_batches(self, tmp_path):
        """A queue folder that does not exist yet holds no batches."""
        assert batch_folders(tmp_path / "absent") == []
