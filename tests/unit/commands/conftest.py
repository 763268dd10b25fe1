"""Fixtures for the command tests: `validate` uses the validator's file and zip factories."""

from __future__ import annotations

from unit.validation.conftest import make_zip, write_file

__all__ = ["make_zip", "write_file"]
