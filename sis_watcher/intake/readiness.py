"""
Intake rules: which files of the drop folder are taken, when they are ready, when a batch seals.

Pure logic on snapshots, with time passed in, so every rule is tested without sleeping.

- Only top-level regular files whose names match `include` and not `ignore` are candidates
  (case-insensitive); symlinks, folders and temp names never are. The trigger file is never a
  candidate; it only says "the export is complete".
- A file is *ready* when its size, mtime and inode have not changed for `settle_seconds`.
- CSV files form one batch. It is sealed when every candidate is ready and nothing changed for
  `quiet_seconds` or, in trigger mode, as soon as the trigger file is there and every candidate
  is ready. If that takes longer than `max_wait_seconds`, the ready files are sealed anyway and the
  rest wait for the next batch.
- Each `.zip` is a batch of its own, sealed once ready (in trigger mode, once the trigger is there).
- `once` (the `once` command): files whose mtime is older than `settle_seconds` by the wall clock
  are ready at once and the quiet time is waived.
- A batch never has more than `max_batch_files` files; a bigger export is split by name.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Literal

from sis_watcher.batch.sealing import FileStat, SealPlan
from sis_watcher.config.settings import IntakeSettings


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    """One scan of the drop folder: the candidate files and the trigger file, if present."""

    files: Mapping[str, FileStat]
    trigger: FileStat | None = None


def name_matches(name: str, patterns: tuple[str, ...]) -> bool:
    """Return True if `name` matches any glob in `patterns`, ignoring case."""
    lowered = name.lower()
    return any(fnmatchcase(lowered, pattern.lower()) for pattern in patterns)


def is_candidate_name(name: str, settings: IntakeSettings) -> bool:
    """Return True if a file called `name` may be taken from the drop folder."""
    return name_matches(name, settings.include) and not name_matches(name, settings.ignore)


def scan(drop: Path, settings: IntakeSettings) -> Snapshot:
    """
    Return the candidates and trigger file in `drop`, top level only, never following symlinks.

    Raise OSError if the folder cannot be listed (missing, permission, stale mount).
    """
    files: dict[str, FileStat] = {}
    trigger = None
    with os.scandir(drop) as entries:
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            if not stat.S_ISREG(info.st_mode):
                continue
            seen = FileStat(name=entry.name, size=info.st_size, mtime_ns=info.st_mtime_ns, inode=info.st_ino)
            if settings.trigger_file is not None and entry.name == settings.trigger_file:
                trigger = seen
            elif is_candidate_name(entry.name, settings):
                files[entry.name] = seen
    return Snapshot(files=files, trigger=trigger)


@dataclass(slots=True)
class Tracked:
    stat: FileStat
    first_seen: float
    last_change: float


@dataclass(slots=True)
class SealPlanner:
    """
    Tracks candidates across scans and decides what to seal.

    Call `observe` with each scan and the monotonic time, then `plans` to get the batches to
    seal now, and `forget` once they are sealed. `seconds_until_next_decision` says when to look
    again even if no event arrives.
    """

    settings: IntakeSettings
    tracked: dict[str, Tracked] = field(default_factory=dict)
    trigger: FileStat | None = None
    trigger_seen_at: float | None = None

    def observe(self, snapshot: Snapshot, now: float) -> None:
        """Record a scan: new files, changed files (size, mtime or inode) and vanished ones."""
        for name in list(self.tracked):
            if name not in snapshot.files:
                del self.tracked[name]
        for name, seen in snapshot.files.items():
            known = self.tracked.get(name)
            if known is None:
                self.tracked[name] = Tracked(stat=seen, first_seen=now, last_change=now)
            elif known.stat != seen:
                known.stat = seen
                known.last_change = now
        if snapshot.trigger is None:
            self.trigger_seen_at = None
        elif self.trigger_seen_at is None:
            self.trigger_seen_at = now
        self.trigger = snapshot.trigger

    def forget(self, plan: SealPlan) -> None:
        """Stop tracking the files of a sealed plan (they left the drop folder)."""
        for seen in plan.files:
            self.tracked.pop(seen.name, None)
        if plan.trigger is not None:
            self.trigger = None
            self.trigger_seen_at = None

    def is_ready(self, tracked: Tracked, now: float, *, wall_now_ns: int | None) -> bool:
        """Return True if the file has been still for `settle_seconds` (or, once, is old enough)."""
        settle = self.settings.settle_seconds
        if now - tracked.last_change >= settle:
            return True
        if wall_now_ns is None:
            return False
        return (
            wall_now_ns - tracked.stat.mtime_ns
        ) / 1e9 >= settle and tracked.first_seen == tracked.last_change

    def plans(self, now: float, *, wall_now_ns: int | None = None) -> list[SealPlan]:
        """
        Return the batches to seal now, zips first (oldest first), then the CSV batch.

        Pass `wall_now_ns` (the `once` command) to accept files already old and waive quiet time.
        """
        once = wall_now_ns is not None
        trigger_mode = self.settings.trigger_file is not None
        if trigger_mode and self.trigger is None:
            return []
        ready = {
            name
            for name, tracked in self.tracked.items()
            if self.is_ready(tracked, now, wall_now_ns=wall_now_ns)
        }
        zips = sorted(
            (self.tracked[name].stat for name in ready if self.tracked[name].stat.is_zip),
            key=lambda seen: (seen.mtime_ns, seen.name),
        )
        result = [SealPlan(kind="zip", files=(seen,), trigger=None, reason="ready") for seen in zips]
        csv_plan = self.csv_plan(now, ready, once=once)
        result.extend(csv_plan)
        csvs_waiting = any(not tracked.stat.is_zip for tracked in self.tracked.values())
        if trigger_mode and self.trigger is not None and not csvs_waiting and zips:
            first = result[0]
            result[0] = SealPlan(kind="zip", files=first.files, trigger=self.trigger, reason="trigger")
        return result

    def csv_plan(self, now: float, ready: set[str], *, once: bool) -> list[SealPlan]:
        """Return the CSV batch (split by `max_batch_files`) if it should be sealed now."""
        csvs = {name: tracked for name, tracked in self.tracked.items() if not tracked.stat.is_zip}
        trigger_mode = self.settings.trigger_file is not None
        if not csvs:
            return self.trigger_only_plan(now) if trigger_mode and not self.has_zips() else []
        all_ready = all(name in ready for name in csvs)
        latest_change = max(tracked.last_change for tracked in csvs.values())
        waited_since = self.trigger_seen_at if trigger_mode and self.trigger_seen_at is not None else None
        if waited_since is None:
            waited_since = min(tracked.first_seen for tracked in csvs.values())
        reason: Literal["quiet", "trigger", "max_wait", "once"]
        if all_ready and trigger_mode:
            reason = "trigger"
        elif all_ready and once:
            reason = "once"
        elif all_ready and now - latest_change >= self.settings.quiet_seconds:
            reason = "quiet"
        elif now - waited_since >= self.settings.max_wait_seconds and ready & csvs.keys():
            reason = "max_wait"
        else:
            return []
        chosen = sorted((csvs[name].stat for name in ready & csvs.keys()), key=lambda seen: seen.name)
        size = self.settings.max_batch_files
        chunks = [tuple(chosen[start : start + size]) for start in range(0, len(chosen), size)]
        trigger = self.trigger if trigger_mode else None
        return [
            SealPlan(
                kind="csv", files=chunk, trigger=trigger if index == len(chunks) - 1 else None, reason=reason
            )
            for index, chunk in enumerate(chunks)
        ]

    def has_zips(self) -> bool:
        return any(tracked.stat.is_zip for tracked in self.tracked.values())

    def trigger_only_plan(self, now: float) -> list[SealPlan]:
        """A trigger with no files: after the quiet time, seal it alone so it fails visibly."""
        if self.trigger is None or self.trigger_seen_at is None:
            return []
        if now - self.trigger_seen_at < self.settings.quiet_seconds:
            return []
        return [SealPlan(kind="csv", files=(), trigger=self.trigger, reason="trigger")]

    def seconds_until_next_decision(self, now: float) -> float | None:
        """Return how long until a tracked file may become ready or a window may close."""
        deadlines = []
        settings = self.settings
        for tracked in self.tracked.values():
            deadlines.append(tracked.last_change + settings.settle_seconds)
            deadlines.append(tracked.last_change + settings.quiet_seconds)
            deadlines.append(tracked.first_seen + settings.max_wait_seconds)
        if self.trigger_seen_at is not None:
            deadlines.append(self.trigger_seen_at + settings.quiet_seconds)
            deadlines.append(self.trigger_seen_at + settings.max_wait_seconds)
        future = [deadline - now for deadline in deadlines if deadline > now]
        return min(future) if future else None
