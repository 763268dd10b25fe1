"""Unit tests for `sis_watcher.commands.watch`: `status --watch` over folders changed between rounds."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sis_watcher.commands.watch import CLEAR_SCREEN, run_watch
from sis_watcher.config.settings import FolderSettings

from unit.commands.test_status import config_for, write_batch

START = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Closed(io.StringIO):
    def isatty(self) -> bool:
        raise ValueError("I/O operation on closed file")


def clock(steps: dict[int, Callable[[], Any]]) -> Callable[[], datetime]:
    """Return a clock a second further at each call that first runs `steps[call number]`, if any."""
    calls = [0]

    def now() -> datetime:
        calls[0] += 1
        step = steps.get(calls[0])
        if step is not None:
            step()
        return START + timedelta(seconds=calls[0])

    return now


def interrupt() -> None:
    raise KeyboardInterrupt


def progress(folders: FolderSettings, percent: int) -> Callable[[], None]:
    """Return a step that writes the batch in flight at `percent` of Canvas's import."""

    def step() -> None:
        fields = {"canvas": {"import_id": 42, "workflow_state": "importing", "progress": percent}}
        path = folders.queue / "20261127T020000Z-000001"
        if path.exists():
            (path / "manifest.json").unlink()
            path.rmdir()
        write_batch(folders.queue, "20261127T020000Z-000001", "importing", **fields)

    return step


def lines_of(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


class TestJson:
    def test_one_line_per_change_and_none_while_nothing_changes(self, folders):
        """Five rounds over three states print three JSON lines, each with the time it was observed."""
        out = io.StringIO()
        steps = {2: progress(folders, 10), 4: progress(folders, 60)}

        code = run_watch(config_for(folders), as_json=True, out=out, interval=0, now=clock(steps), ticks=5)

        lines = lines_of(out)
        assert code == 0
        assert [line["in_flight"] and line["in_flight"]["progress"] for line in lines] == [None, 10, 60]
        assert [line["observed_at"] for line in lines] == [
            "2026-11-27T02:00:01.000000Z",
            "2026-11-27T02:00:02.000000Z",
            "2026-11-27T02:00:04.000000Z",
        ]
        assert lines[0]["daemon"]["state"] == "stopped"

    def test_ctrl_c_ends_with_zero(self, folders):
        """A KeyboardInterrupt between rounds ends the watch with exit code 0 and what was shown kept."""
        out = io.StringIO()

        code = run_watch(config_for(folders), as_json=True, out=out, interval=0, now=clock({2: interrupt}))

        assert code == 0
        assert len(lines_of(out)) == 1


class TestText:
    def test_a_terminal_is_cleared_and_redrawn_every_round(self, folders):
        """On a terminal each round clears the screen and draws the status with Canvas's progress."""
        out = Terminal()

        run_watch(
            config_for(folders),
            as_json=False,
            out=out,
            interval=0.01,
            now=clock({2: progress(folders, 35)}),
            ticks=3,
        )

        screens = out.getvalue().split(CLEAR_SCREEN)[1:]
        assert len(screens) == 3
        assert "in flight" not in screens[0]
        assert "Canvas import 42: importing 35%" in screens[1]
        assert "Canvas import 42: importing 35%" in screens[2]  # unchanged, yet redrawn
        assert all("every 0.01 s; Ctrl-C to stop" in screen for screen in screens)

    def test_a_pipe_gets_the_text_only_when_it_changed(self, folders):
        """Into a pipe nothing is cleared: a dated block per change, none for an unchanged round."""
        out = io.StringIO()

        run_watch(
            config_for(folders),
            as_json=False,
            out=out,
            interval=0,
            now=clock({3: progress(folders, 5)}),
            ticks=4,
        )

        text = out.getvalue()
        assert CLEAR_SCREEN not in text
        assert text.count("--- ") == 2
        assert "Canvas import 42: importing 5%" in text

    @pytest.mark.parametrize("stream", [Closed, io.StringIO])
    def test_an_odd_stream_is_not_a_terminal(self, folders, stream):
        """A stream whose isatty() fails is written to as a pipe."""
        out = stream()

        run_watch(config_for(folders), as_json=False, out=out, interval=0, now=clock({}), ticks=1)

        assert out.getvalue().startswith("--- ")


def test_a_closed_pipe_ends_quietly(folders, tmp_path: Path):
    """`status --watch | head` closing its end is a normal end, exit code 0."""

    class Gone(io.StringIO):
        def flush(self) -> None:
            raise BrokenPipeError

    assert run_watch(config_for(folders), as_json=True, out=Gone(), interval=0, now=clock({})) == 0
