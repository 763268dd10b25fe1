"""
Latency from an export's last file being complete to the POST arriving at Canvas (issue 7, target 3).

Run it on purpose:  python tests/benchmarks/bench_latency.py [--repeats 5]

`sis-watcher run` watches a drop folder (inotify); an export of three small files is written the
way rsync does (temp name, then rename). The moment the last rename is done is "complete"; the
simulator records when the POST arrives. In quiet-time mode (settle 1 s, quiet 2 s) the overhead
is the latency minus the quiet window; in trigger mode with zero windows, the latency itself
(the READY file is written last).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import SimulatorProcess, machine, running_daemon, table, write_config

FILES = {
    "users.csv": b"user_id,login_id,status\n" + b"".join(b"u%d,l%d,active\n" % (n, n) for n in range(2000)),
    "courses.csv": b"course_id,short_name,long_name,status\nC1,C1,Course 1,active\n",
    "enrollments.csv": b"course_id,user_id,role,status\n"
    + b"".join(b"C1,u%d,student,active\n" % n for n in range(2000)),
}


def posts(simulator: SimulatorProcess) -> list[datetime]:
    records = simulator.control("requests")
    items = records.get("requests", records) if isinstance(records, dict) else records
    return [
        datetime.fromisoformat(item["started_at"])
        for item in items
        if item["method"] == "POST" and item["path"].endswith("sis_imports")
    ]


def measure(simulator: SimulatorProcess, root: Path, *, trigger: bool) -> float:
    """Write one export; return seconds from its completion to the POST's arrival."""
    drop = root / "drop"
    before = len(posts(simulator))
    for name, data in FILES.items():
        temporary = drop / f".{name}.tmp"
        temporary.write_bytes(data)
        temporary.rename(drop / name)
    if trigger:
        (drop / ".READY.tmp").write_bytes(b"")
        (drop / ".READY.tmp").rename(drop / "READY")
    complete = time.time()
    deadline = time.monotonic() + 60
    while len(found := posts(simulator)) <= before:
        if time.monotonic() > deadline:
            raise TimeoutError("no POST arrived")
        time.sleep(0.01)
    simulator.wait_idle()
    return found[-1].timestamp() - complete


def run_mode(simulator: SimulatorProcess, *, trigger: bool, repeats: int) -> list[float]:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        intake = (
            {"settle_seconds": 0, "quiet_seconds": 0, "trigger_file": "READY"}
            if trigger
            else {"settle_seconds": 1, "quiet_seconds": 2}
        )
        config = write_config(root, simulator.url, intake=intake)
        with running_daemon(config, log_path=root / "run.log"):
            time.sleep(1)  # let start-up settle before the first export
            return [measure(simulator, root, trigger=trigger) for _ in range(repeats)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    arguments = parser.parse_args()
    simulator = SimulatorProcess()
    try:
        quiet = run_mode(simulator, trigger=False, repeats=arguments.repeats)
        trigger = run_mode(simulator, trigger=True, repeats=arguments.repeats)
    finally:
        simulator.close()
    rows = [
        (
            "quiet time (settle 1 s, quiet 2 s)",
            f"{statistics.median(quiet):.3f}",
            f"{statistics.median(quiet) - 2:.3f}",
            f"{max(quiet) - 2:.3f}",
            "0.3 s beyond the windows",
        ),
        (
            "trigger, zero windows",
            f"{statistics.median(trigger):.3f}",
            f"{statistics.median(trigger):.3f}",
            f"{max(trigger):.3f}",
            "0.5 s in total",
        ),
    ]
    print(f"# Latency, complete export to POST at Canvas, {arguments.repeats} runs each; {machine()}\n")
    print(table(("mode", "median latency s", "median overhead s", "worst overhead s", "target"), rows))


if __name__ == "__main__":
    main()
