"""Fixtures for the freshness and digest tests (`unit.ops.timed` has their helpers)."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any

import pytest
import structlog
from structlog.testing import LogCapture

from unit.ops.timed import Channels, channels


@pytest.fixture
def found() -> Iterator[Channels]:
    """A loopback webhook and SMTP relay for the alerts of a test."""
    with channels() as servers:
        yield servers


@pytest.fixture
def events() -> list[MutableMapping[str, Any]]:
    """The structlog events logged during the test."""
    capture = LogCapture()
    structlog.configure(processors=[capture])
    return capture.entries
