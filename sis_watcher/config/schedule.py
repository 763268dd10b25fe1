"""The `schedule:` section: windows in which uploads pause by themselves (README "Pause and blackouts")."""

from __future__ import annotations

import itertools

from pydantic import AwareDatetime, ConfigDict, Field, field_validator, model_validator

from sis_watcher.config.base import Section


class BlackoutWindow(Section):
    """One window during which uploads pause by themselves (`schedule.blackout[]`)."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=False, populate_by_name=True)

    starts: AwareDatetime = Field(alias="from")
    ends: AwareDatetime = Field(alias="to")
    reason: str = "blackout"

    @model_validator(mode="after")
    def ends_after_it_starts(self) -> BlackoutWindow:
        if self.ends <= self.starts:
            msg = "to must be later than from"
            raise ValueError(msg)
        return self


class ScheduleSettings(Section):
    blackout: tuple[BlackoutWindow, ...] = ()

    @field_validator("blackout")
    @classmethod
    def windows_do_not_overlap(cls, windows: tuple[BlackoutWindow, ...]) -> tuple[BlackoutWindow, ...]:
        ordered = sorted(windows, key=lambda window: window.starts)
        for earlier, later in itertools.pairwise(ordered):
            if later.starts < earlier.ends:
                msg = (
                    f"windows overlap: {earlier.starts.isoformat()} to {earlier.ends.isoformat()} "
                    f"and {later.starts.isoformat()} to {later.ends.isoformat()}; merge them into one"
                )
                raise ValueError(msg)
        return windows
