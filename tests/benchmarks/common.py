"""Shared pieces of the benchmarks: the machine, a simulator in its own process, tables, configs."""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

REPOSITORY = Path(__file__).resolve().parents[2]
TOKEN = "benchmark-token"

SIMULATOR = """
import sys
from sis_watcher.commands.simulator import run_simulator
from sis_watcher.simulator.model.settings import SimulatorSettings
settings = SimulatorSettings(
    pickup_delay_seconds=float(sys.argv[1]), rows_per_second=float(sys.argv[2]), min_import_seconds=float(sys.argv[3])
)
sys.exit(run_simulator(host="127.0.0.1", port=0, token=sys.argv[4], settings=settings))
"""


def machine() -> str:
    """Describe the machine: CPU model, cores, memory, Python."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        memory = Path("/proc/meminfo").read_text().split()[1]
        gib = int(memory) / (1 << 20)
    except OSError:
        gib = 0.0
    return f"{model}, {os.cpu_count()} cores, {gib:.0f} GiB, Python {platform.python_version()}"


class SimulatorProcess:
    """The Canvas simulator in its own process (so it does not share our GIL), fast timing."""

    def __init__(self, *, pickup: float = 0.05, rows_per_second: float = 1e9, minimum: float = 0.05) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", SIMULATOR, str(pickup), str(rows_per_second), str(minimum), TOKEN],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        match = re.match(r"url: (\S+)", line)
        if match is None:
            raise RuntimeError(f"the simulator did not start: {line!r}")
        self.url = match.group(1)

    def control(self, what: str) -> Any:
        import httpx  # noqa: PLC0415 - only the benchmarks need it here

        return httpx.get(f"{self.url}/__simulator__/{what}", timeout=30).json()

    def wait_idle(self, timeout: float = 1800) -> None:
        """Wait until every import is finished (the simulator parses big uploads in the background)."""
        deadline = time.monotonic() + timeout
        final = {"imported", "imported_with_messages", "failed", "failed_with_messages", "aborted"}
        while time.monotonic() < deadline:
            imports = self.control("imports")
            items = imports.get("imports", imports) if isinstance(imports, dict) else imports
            if all(item.get("workflow_state") in final for item in items):
                return
            time.sleep(0.5)
        raise TimeoutError("the simulator is still importing")

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        if self.process.stdout is not None:
            self.process.stdout.close()


def write_config(root: Path, url: str, **sections: dict[str, Any]) -> Path:
    document: dict[str, Any] = {
        "canvas": {"base_url": url, "timeout_seconds": 300},
        "folders": {"drop": "drop", "queue": "queue", "done": "done", "failed": "failed"},
        "intake": {"settle_seconds": 0, "quiet_seconds": 0},
        "poll": {"interval_seconds": 0.2, "max_interval_seconds": 2},
        "logging": {"format": "json", "level": "info"},
    }
    for name, values in sections.items():
        document.setdefault(name, {}).update(values)
    (root / "drop").mkdir(parents=True, exist_ok=True)
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


@contextmanager
def running_daemon(config: Path, *, log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run `sis-watcher run` on `config` until the block ends; yield once it has started."""
    with log_path.open("wb") as log:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "sis_watcher", "run", "-c", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={"CANVAS_TOKEN": TOKEN, "PATH": "/usr/bin:/bin"},
        )
        try:
            while b"daemon.started" not in log_path.read_bytes():
                time.sleep(0.05)
            yield daemon
        finally:
            daemon.terminate()
            daemon.wait(30)


def run_daemon(
    config: Path, *, mode: str = "once", timeout: float = 3600
) -> tuple[int, list[dict[str, Any]], int]:
    """Run `sis-watcher MODE`; return (exit code, JSON events, peak RSS in KiB)."""
    log_path = config.parent / f"{mode}.log"
    env = {**os.environ, "CANVAS_TOKEN": TOKEN}
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "sis_watcher", mode, "-c", str(config)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
        )
        deadline = time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                process.kill()
                raise TimeoutError(f"sis-watcher {mode} did not finish")
            time.sleep(0.05)
        process.returncode = os.waitstatus_to_exitcode(status)
    events = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    return process.returncode, events, usage.ru_maxrss


def event_time(events: list[dict[str, Any]], name: str) -> float:
    from sis_watcher.core.clock import parse_time  # noqa: PLC0415

    for event in events:
        if event.get("event") == name:
            return parse_time(event["timestamp"]).timestamp()
    raise KeyError(f"no {name} event")


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Return a markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
