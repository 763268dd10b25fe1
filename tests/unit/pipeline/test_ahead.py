"""Unit tests for `sis_watcher.pipeline.ahead`: strict validation behind the waiting batch, one at a time."""

from __future__ import annotations

from sis_watcher.batch.manifest import BatchState, load_manifest
from sis_watcher.pipeline.ahead import CheckAhead

from support import BAD_HEADER_CSV, COURSES_CSV


class TestCheckAhead:
    def test_one_batch_per_call_in_order_and_each_only_once(self, pipeline):
        """A good batch is left queued and unsaved; the bad one after it is failed on the next call."""
        head = pipeline.sealed()
        good = pipeline.sealed(("courses.csv", COURSES_CSV))
        bad = pipeline.sealed(("users.csv", BAD_HEADER_CSV))
        before = (good / "manifest.json").read_bytes()
        ahead = CheckAhead(pipeline.context)

        assert None is ahead.refused_next(head.name)
        assert before == (good / "manifest.json").read_bytes()
        refused = ahead.refused_next(head.name)
        assert refused is not None
        assert bad == refused.folder
        assert BatchState.FAILED == load_manifest(bad).state
        assert None is ahead.refused_next(head.name)  # nothing left unchecked

    def test_warn_mode_looks_at_nothing(self, build, canvas):
        """Only strict validation fails a batch, so in `warn` nothing is validated ahead."""
        pipeline = build(canvas.url, validation={"mode": "warn"})
        head = pipeline.sealed()
        bad = pipeline.sealed(("users.csv", BAD_HEADER_CSV))
        assert None is CheckAhead(pipeline.context).refused_next(head.name)
        assert BatchState.QUEUED == load_manifest(bad).state

    def test_a_batch_that_cannot_be_read_or_is_not_new_is_left_to_its_turn(self, pipeline):
        """A corrupt manifest, or a batch already past `queued`, is skipped; its turn deals with it."""
        head = pipeline.sealed()
        corrupt = pipeline.sealed(("courses.csv", COURSES_CSV))
        (corrupt / "manifest.json").write_text("{", encoding="utf-8")
        zipped = pipeline.zipped(("users.csv", BAD_HEADER_CSV.replace(b", ", b",")))
        ahead = CheckAhead(pipeline.context)

        assert None is ahead.refused_next(head.name)
        assert None is ahead.refused_next(head.name)
        assert "{" == (corrupt / "manifest.json").read_text(encoding="utf-8")
        assert BatchState.ZIPPED == load_manifest(zipped.folder).state
