"""Fixtures for the ledger tests: a real SQLite ledger file under `tmp_path`, and its batches."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sis_watcher.ledger.store import Ledger

from unit.ledger.helpers import Batches


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    """An empty ledger file, closed after the test."""
    with Ledger(tmp_path / "state" / "ledger.sqlite") as opened:
        yield opened


@pytest.fixture
def batches(ledger: Ledger, tmp_path: Path) -> Batches:
    """Batches written under `tmp_path/batches`, previewed against and applied to `ledger`."""
    return Batches(ledger=ledger, root=tmp_path / "batches")
