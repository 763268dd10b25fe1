"""Helpers shared by the validator's tests (`from validation.helpers import ...`)."""

from __future__ import annotations

import io
from pathlib import Path

from sis_watcher.validation.chunks import CHUNK_BYTES
from sis_watcher.validation.model import FileReport, Problem
from sis_watcher.validation.rows import CsvCheck

DATA = Path(__file__).resolve().parents[2] / "data"
SAMPLES = DATA / "samples"
BROKEN = DATA / "broken"


def check_bytes(
    data: bytes,
    *,
    name: str = "users.csv",
    checks: bool = True,
    chunk_bytes: int = CHUNK_BYTES,
    fast: bool = True,
) -> FileReport:
    """Validate `data` as a CSV named `name`, read in chunks of `chunk_bytes` (`fast`: the fast test on)."""
    check = CsvCheck(name, type_hint_name=name, checks=checks, fast=fast)
    return check.run(io.BytesIO(data), size=len(data), chunk_bytes=chunk_bytes)


def of_kind(report: FileReport, kind: str) -> list[Problem]:
    """Return the stored problems of `kind` in `report` and its members."""
    return [problem for problem in report.all_problems() if problem.kind == kind]
