"""
Helpers shared by the integration and end-to-end tests (importable as `support`).

Everything here drives the product as users run it: real folders, real files, the real
`sis-watcher` command in a subprocess, the built-in Canvas simulator over loopback HTTP.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

TOKEN = "test-token-7f3c9a"
SAMPLES = Path(__file__).parent / "data" / "samples"
DOC_SAMPLES = SAMPLES / "canvas-doc-examples"

USERS_CSV = b"user_id,login_id,first_name,last_name,email,status\nu1,jdoe,Jane,Doe,jane@example.edu,active\nu2,rroe,Rick,Roe,rick@example.edu,active\n"
COURSES_CSV = b"course_id,short_name,long_name,account_id,term_id,status\nC1,BIO101,Biology 101,,,active\n"
ENROLLMENTS_CSV = b"course_id,user_id,role,status\nC1,u1,student,active\nC1,u2,teacher,active\n"
BAD_HEADER_CSV = b"user_id, login_id,status\nu1,jdoe,active\n"


def wait_until(
    predicate: Callable[[], Any], *, timeout: float = 20.0, interval: float = 0.02, what: str = ""
) -> Any:
    """Poll `predicate` until it returns something truthy; fail the test after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            message = f"timed out after {timeout}s waiting for {what or predicate}"
            raise AssertionError(message)
        time.sleep(interval)


HAND_CLOCK_START = datetime(2027, 6, 25, 12, 0, tzinfo=UTC)


class HandClock:
    """A `Clock` that moves only when a test says so (`advance`, `move_to`); `monotonic` follows it."""

    def __init__(self, start: datetime = HAND_CLOCK_START) -> None:
        self.start = start
        self.moment = start

    def now(self) -> datetime:
        return self.moment

    def monotonic(self) -> float:
        return (self.moment - self.start).total_seconds()

    def advance(self, seconds: float) -> None:
        self.moment += timedelta(seconds=seconds)

    def move_to(self, moment: datetime) -> None:
        self.moment = moment


@dataclass
class Tree:
    root: Path

    @property
    def drop(self) -> Path:
        return self.root / "drop"

    @property
    def queue(self) -> Path:
        return self.root / "state" / "queue"

    @property
    def done(self) -> Path:
        return self.root / "state" / "done"

    @property
    def failed(self) -> Path:
        return self.root / "state" / "failed"

    def batches(self, where: str) -> list[Path]:
        folder = getattr(self, where)
        if not folder.exists():
            return []
        return sorted(path for path in folder.iterdir() if path.is_dir() and not path.name.startswith("."))

    def manifest(self, batch_dir: Path) -> dict[str, Any]:
        document: dict[str, Any] = json.loads((batch_dir / "manifest.json").read_text(encoding="utf-8"))
        return document

    def write_config(self, url: str, **sections: dict[str, Any]) -> Path:
        """Write a config with fast timings for tests; `sections` override keys per section."""
        document: dict[str, Any] = {
            "canvas": {"base_url": url, "timeout_seconds": 10},
            "folders": {
                "drop": "drop",
                "queue": "state/queue",
                "done": "state/done",
                "failed": "state/failed",
            },
            "intake": {
                "settle_seconds": 0.3,
                "quiet_seconds": 0.6,
                "max_wait_seconds": 30,
                "rescan_seconds": 5,
            },
            "retry": {"initial_backoff_seconds": 0.05, "max_backoff_seconds": 0.5, "max_elapsed_seconds": 10},
            "poll": {"interval_seconds": 0.05, "max_interval_seconds": 0.3},
            "logging": {"format": "json", "level": "debug"},
        }
        for name, values in sections.items():
            document.setdefault(name, {})
            if isinstance(values, dict) and isinstance(document[name], dict):
                document[name].update(values)
            else:
                document[name] = values
        path = self.root / "config.yaml"
        path.write_text(yaml.safe_dump(document), encoding="utf-8")
        return path


def make_tree(root: Path) -> Tree:
    tree = Tree(root)
    tree.drop.mkdir(parents=True)
    return tree


def drop_file(folder: Path, name: str, data: bytes) -> Path:
    """Write a file the way a careful exporter does: to a hidden temp name, then rename."""
    temporary = folder / f".{name}.part"
    temporary.write_bytes(data)
    final = folder / name
    temporary.rename(final)
    return final


def command(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "sis_watcher", *arguments]


def child_env(**extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("NOTIFY_SOCKET", "CREDENTIALS_DIRECTORY")
    }
    env["CANVAS_TOKEN"] = TOKEN
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


class Service:
    """`sis-watcher run|once` as a subprocess, its JSON log lines kept in a file."""

    def __init__(self, config: Path, *, mode: str = "run", env: dict[str, str] | None = None) -> None:
        self.log_path = config.parent / f"{mode}-{time.monotonic_ns()}.log"
        self.log_file = self.log_path.open("wb")
        self.process = subprocess.Popen(
            command(mode, "-c", str(config)),
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            env=env if env is not None else child_env(),
            cwd=config.parent,
        )

    def lines(self) -> list[str]:
        return self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        found = []
        for line in self.lines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and (name is None or event.get("event") == name):
                found.append(event)
        return found

    def wait_for_event(self, name: str, *, count: int = 1, timeout: float = 30.0) -> list[dict[str, Any]]:
        wait_until(lambda: len(self.events(name)) >= count, timeout=timeout, what=name)
        return self.events(name)

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float = 30.0) -> int:
        return self.process.wait(timeout=timeout)

    def stop(self) -> int:
        """SIGTERM and wait; return the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.wait()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.log_file.close()


def run_command(
    *arguments: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command(*arguments),
        capture_output=True,
        text=True,
        env=env if env is not None else child_env(),
        cwd=cwd,
        timeout=timeout,
        check=False,
    )


def iter_json_lines(text: str) -> Iterator[dict[str, Any]]:
    for line in text.splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            yield value


@contextmanager
def tmpfs_state(tree: Tree, size: str) -> Iterator[Path]:
    """Mount a tmpfs of `size` (e.g. `640k`) as the tree's state folder; needs root, as in CI."""
    if os.geteuid() != 0:
        pytest.fail("this test mounts a tmpfs and must run as root (CI does)")
    state = tree.root / "state"
    state.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(state)], check=True)
    try:
        yield state
    finally:
        subprocess.run(["umount", "-l", str(state)], check=False)
