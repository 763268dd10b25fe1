"""Unit tests for `sis_watcher.batch.retention`: old batches leave done/, nothing else does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from structlog.testing import capture_logs

from sis_watcher.batch.retention import sealed_time, sweep

NOW = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)


def batch_id(moment: datetime, suffix: str = "3f9a1c") -> str:
    return f"{moment:%Y%m%dT%H%M%SZ}-{suffix}"


class TestSealedTime:
    @pytest.mark.parametrize(
        ("name", "expected"),
        [
            ("20261127T020000Z-3f9a1c", datetime(2026, 11, 27, 2, 0, tzinfo=UTC)),
            ("20261127T020000Z-3F9A1C", None),
            ("20261127T020000Z-3f9a1", None),
            ("20261127T020000-3f9a1c", None),
            ("keep-me", None),
            ("20261127T020000Z-3f9a1c-copy", None),
        ],
    )
    def test_only_batch_ids_have_a_sealed_time(self, name, expected):
        """The time comes from a well-formed batch id; any other name has none."""
        assert expected == sealed_time(name)


class TestSweep:
    def test_removes_old_batches_and_keeps_recent_ones(self, tmp_path):
        """Batches sealed more than `days` ago are removed; younger ones, odd names and files stay."""
        old = batch_id(NOW - timedelta(days=31))
        older = batch_id(NOW - timedelta(days=400), "000001")
        recent = batch_id(NOW - timedelta(days=29))
        for name in (old, older, recent, "notes", ".hidden-20200101T000000Z-000000"):
            (tmp_path / name).mkdir()
            (tmp_path / name / "manifest.json").write_text("{}", encoding="utf-8")
        (tmp_path / batch_id(NOW - timedelta(days=99), "0000ff")).write_text("a file", encoding="utf-8")

        with capture_logs() as events:
            removed = sweep(tmp_path, days=30, now=NOW)

        assert removed == [older, old]
        assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
            [recent, "notes", ".hidden-20200101T000000Z-000000", batch_id(NOW - timedelta(days=99), "0000ff")]
        )
        assert events == [
            {
                "event": "retention.removed",
                "log_level": "info",
                "batches": 2,
                "oldest": older,
                "newest": old,
                "days": 30,
            }
        ]

    def test_age_is_from_the_id_not_the_folder_time(self, tmp_path):
        """A batch re-filed recently keeps its sealed age (its folder mtime does not matter)."""
        name = batch_id(NOW - timedelta(days=10))
        (tmp_path / name).mkdir()

        assert sweep(tmp_path, days=5, now=NOW) == [name]

    def test_exactly_at_the_cutoff_is_kept(self, tmp_path):
        """A batch sealed exactly `days` ago is not yet removed."""
        name = batch_id(NOW - timedelta(days=30))
        (tmp_path / name).mkdir()

        assert sweep(tmp_path, days=30, now=NOW) == []

    def test_fractional_days(self, tmp_path):
        """done_days may be a fraction of a day."""
        name = batch_id(NOW - timedelta(hours=13))
        (tmp_path / name).mkdir()

        assert sweep(tmp_path, days=0.5, now=NOW) == [name]

    def test_nothing_to_remove_logs_nothing(self, tmp_path):
        """An empty or missing done/ removes nothing and says nothing."""
        with capture_logs() as events:
            assert sweep(tmp_path, days=1, now=NOW) == []
            assert sweep(tmp_path / "absent", days=1, now=NOW) == []

        assert events == []

    @pytest.mark.root
    def test_a_batch_that_cannot_be_removed_is_logged_and_skipped(self, tmp_path, tmpfs):
        """A removal that fails (a mount point inside the batch) is logged; the sweep goes on."""
        stuck = batch_id(NOW - timedelta(days=60), "000001")
        gone = batch_id(NOW - timedelta(days=50), "000002")
        (tmp_path / gone).mkdir()
        tmpfs(tmp_path / stuck / "mounted")

        with capture_logs() as events:
            removed = sweep(tmp_path, days=30, now=NOW)

        assert removed == [gone]
        assert (tmp_path / stuck).exists()
        [failure, summary] = events
        assert (failure["event"], failure["log_level"], failure["batch_id"]) == (
            "retention.remove_failed",
            "warning",
            stuck,
        )
        assert "Device or resource busy" in failure["caused_by"]
        assert summary["event"] == "retention.removed"
