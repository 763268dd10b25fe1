"""
Flat memory for months (issue 14, item 5), as a test: 2,000 small batches through one `run`.

The soak itself is `tests/benchmarks/bench_soak.py` (its table is in the README); this runs it
under pytest with the target as an assertion. Three to five minutes: `pytest -m slow`.
"""

from __future__ import annotations

import pytest

from benchmarks.bench_soak import BASELINE_BATCH, TARGET_MB, soak
from benchmarks.common import SimulatorProcess


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_rss_after_2000_batches_is_at_most_5_mb_above_rss_after_100(tmp_path):
    """RSS of the daemon after the 2,000th batch is at most 5 MB above its RSS after the 100th."""
    simulator = SimulatorProcess(pickup=0.0, minimum=0.0)
    try:
        samples = soak(tmp_path, simulator.url, batches=2000, every=BASELINE_BATCH, ledger=True)
    finally:
        simulator.close()

    by_batch = {number: rss for number, rss, _ in samples}
    assert by_batch[2000] - by_batch[BASELINE_BATCH] <= TARGET_MB, samples
