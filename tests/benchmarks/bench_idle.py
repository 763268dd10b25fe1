"""
The cost of doing nothing (issue 7, target 4): CPU of an idle daemon over 60 s.

Run it on purpose:  python tests/benchmarks/bench_idle.py [--seconds 60]

done/ holds 10,000 batches and the drop folder 1,000 unrelated files (`*.txt`, not taken).
`sis-watcher run` is started with the inotify observer and then with the polling observer; after
a warm-up its user+system CPU time is read from /proc over the window.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import SimulatorProcess, machine, running_daemon, table, write_config

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def populate(root: Path) -> None:
    done = root / "done"
    done.mkdir(parents=True)
    for index in range(10_000):
        batch = done / f"20261101T{index // 3600 % 24:02d}{index // 60 % 60:02d}{index % 60:02d}Z-{index:06x}"
        batch.mkdir()
        (batch / "manifest.json").write_text(json.dumps({"batch_id": batch.name, "state": "done"}))
    drop = root / "drop"
    drop.mkdir(exist_ok=True)
    for index in range(1000):
        (drop / f"report-{index:04d}.txt").write_text("not an export\n")


def measure(root: Path, url: str, *, polling: bool, seconds: float) -> float:
    config = write_config(root, url, intake={"polling": polling})
    with running_daemon(config, log_path=root / f"run-{polling}.log") as daemon:
        time.sleep(5)  # let start-up settle before the window
        before = cpu_seconds(daemon.pid)
        time.sleep(seconds)  # the idle window being measured
        used = cpu_seconds(daemon.pid) - before
    return 100 * used / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    arguments = parser.parse_args()
    simulator = SimulatorProcess()
    try:
        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder)
            populate(root)
            inotify = measure(root, simulator.url, polling=False, seconds=arguments.seconds)
            polling = measure(root, simulator.url, polling=True, seconds=arguments.seconds)
    finally:
        simulator.close()
    print(
        f"# Idle CPU over {arguments.seconds:.0f} s, 10,000 batches in done/, 1,000 files in drop/; {machine()}\n"
    )
    print(
        table(
            ("observer", "CPU, % of one core", "target"),
            [("inotify", f"{inotify:.2f}", "1%"), ("polling", f"{polling:.2f}", "3%")],
        )
    )


if __name__ == "__main__":
    main()
