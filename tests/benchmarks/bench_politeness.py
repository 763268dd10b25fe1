"""
Politeness to Canvas (issue 7, target 5): status requests for a 30-minute import, never two at once.

Run it on purpose:  python tests/benchmarks/bench_politeness.py [--scale 30]

A real 30-minute import would make this benchmark take 30 minutes. The poll schedule is
geometric (interval x1.5 up to a cap), so scaling every poll setting and the import's duration by
the same factor gives the same number of requests: with --scale 30 the import lasts 60 s and
sis-watcher polls from 2/30 s up to 60/30 s. The simulator counts the GET requests for the
import and the most requests it ever had in flight at once.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import SimulatorProcess, machine, run_daemon, table, write_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=30.0)
    arguments = parser.parse_args()
    scale = arguments.scale
    import_seconds = 1800 / scale
    simulator = SimulatorProcess(pickup=0.05, rows_per_second=1e9, minimum=import_seconds)
    try:
        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder)
            config = write_config(
                root,
                simulator.url,
                poll={"interval_seconds": 2 / scale, "max_interval_seconds": 60 / scale},
            )
            (root / "drop" / "users.csv").write_bytes(b"user_id,login_id,status\nu1,l1,active\n")
            code, events, _ = run_daemon(config)
            if code != 0:
                raise RuntimeError(f"sis-watcher once exited {code}")
            import_id = next(
                event["import_id"] for event in events if event.get("event") == "upload.succeeded"
            )
            requests = simulator.control("requests")
            items = requests.get("requests", requests) if isinstance(requests, dict) else requests
            polls = [
                item for item in items if item["method"] == "GET" and item["path"].endswith(f"/{import_id}")
            ]
            in_flight = simulator.control("state").get("max_in_flight")
    finally:
        simulator.close()
    print(f"# Politeness, a 30-minute import scaled by {scale:g}; {machine()}\n")
    print(
        table(
            ("import (real time)", "status requests", "target", "most requests in flight at once"),
            [("30 min", len(polls), "<= 60", in_flight)],
        )
    )


if __name__ == "__main__":
    main()
