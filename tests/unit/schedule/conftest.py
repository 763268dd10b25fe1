"""Fixtures for the schedule tests: a clock set by hand, a config on real folders, a recording listener."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from sis_watcher.config.settings import Config, FolderSettings
from sis_watcher.ops.events import Listener, PauseNotice

from support import HandClock

__all__ = ["HandClock", "PauseRecorder"]  # HandClock re-exported: other tests import it from here

START = datetime(2027, 6, 25, 12, 0, tzinfo=UTC)


@dataclass
class PauseRecorder(Listener):
    """Remembers the pause moments and activities it hears."""

    moments: list[tuple[str, Any]] = field(default_factory=list)

    def pause_began(self, pause: PauseNotice) -> None:
        self.moments.append(("began", pause))

    def pause_ended(self, pause: PauseNotice) -> None:
        self.moments.append(("ended", pause))

    def pause_too_long(self, pause: PauseNotice, hours: float) -> None:
        self.moments.append(("too_long", (pause, hours)))

    def activity(self, text: str, *, queued: int | None = None, batch_id: str | None = None) -> None:
        self.moments.append(("activity", (text, queued, batch_id)))

    def names(self) -> list[str]:
        return [name for name, _ in self.moments]


@pytest.fixture
def clock() -> HandClock:
    return HandClock(START)


@pytest.fixture
def make_config(folders: FolderSettings) -> Callable[..., Config]:
    """Build a Config on the test's folders with `schedule` and `alerts` sections as given."""

    def build(**sections: Any) -> Config:
        document = {
            "canvas": {"base_url": "https://school.instructure.com"},
            "folders": folders.model_dump(),
            **sections,
        }
        return Config.model_validate(document)

    return build
