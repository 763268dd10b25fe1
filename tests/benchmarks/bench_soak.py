"""
Flat memory for months (issue 14, item 5): RSS of `sis-watcher run` over thousands of small batches.

Run it on purpose (pytest does not collect bench_*.py):

    python tests/benchmarks/bench_soak.py                  # 2,000 batches, RSS every 100
    python tests/benchmarks/bench_soak.py --batches 500 --every 50

One daemon takes every batch: a two-row users.csv (one row changes each time, so the ledger,
the preview and the upload all do their work) is renamed into the drop folder, sealed at once
(settle and quiet 0), uploaded to the simulator (its own process, near-zero import times),
polled and filed under done/. Intake rescans every 50 ms (rather than waiting for inotify's
half-second pairing of renames), so a batch takes about 60 ms. The next export is dropped once the previous one has been sealed,
and at most a few batches wait in the queue. `/metrics` is scraped after every 10th batch, so
the metrics server's requests count too. The daemon's VmRSS is read from /proc at intervals.
Target: RSS after the last batch at most 5 MB above RSS after the 100th.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import SimulatorProcess, machine, running_daemon, table, write_config

TARGET_MB = 5.0
BASELINE_BATCH = 100
MAX_QUEUED = 3
SCRAPE_EVERY = 10


def rss_mb(pid: int) -> float:
    """Return the resident set size of process `pid` in MB (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1000
    raise RuntimeError(f"no VmRSS for {pid}")


def export(drop: Path, number: int) -> None:
    """Write the `number`th two-row users.csv the way a careful exporter does (temp name, rename)."""
    rows = f"u1,jdoe,Jane,Doe{number},jane@example.edu,active\nu2,rroe,Rick,Roe,rick@example.edu,active\n"
    temporary = drop / ".users.csv.part"
    temporary.write_text("user_id,login_id,first_name,last_name,email,status\n" + rows, encoding="utf-8")
    temporary.rename(drop / "users.csv")


def count(folder: Path) -> int:
    """Return the number of batch folders in `folder`."""
    try:
        return sum(1 for entry in os.scandir(folder) if entry.is_dir() and not entry.name.startswith("."))
    except FileNotFoundError:
        return 0


def filed(done: Path, number: int) -> Callable[[], bool]:
    """Return a test of whether `number` batches are in `done`."""
    return lambda: count(done) >= number


def metrics_url(log_path: Path) -> str:
    """Return the metrics URL the daemon logged at start-up."""
    for line in log_path.read_text(encoding="utf-8").splitlines():
        if '"metrics.listening"' in line:
            return str(json.loads(line)["url"])
    raise RuntimeError("the daemon did not log metrics.listening")


def wait_for(predicate: Callable[[], bool], *, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.002)


def soak(root: Path, url: str, *, batches: int, every: int, ledger: bool) -> list[tuple[int, float, float]]:
    """Push `batches` batches through one daemon; return (batch, RSS MB, seconds) at each interval."""
    config = write_config(
        root,
        url,
        intake={"settle_seconds": 0, "quiet_seconds": 0, "rescan_seconds": 0.05},
        poll={"interval_seconds": 0.01, "max_interval_seconds": 0.05},
        metrics={"enabled": True, "port": 0},
        logging={"format": "json", "level": "info"},
        ledger={"enabled": ledger},
    )
    drop, done, queue = root / "drop", root / "done", root / "queue"
    samples: list[tuple[int, float, float]] = []
    log_path = root / "run.log"
    with running_daemon(config, log_path=log_path) as daemon, httpx.Client(timeout=10) as scraper:
        scrape = metrics_url(log_path) + "/metrics"
        started = time.monotonic()
        for number in range(1, batches + 1):
            wait_for(lambda: not (drop / "users.csv").exists(), what=f"batch {number - 1} to be sealed")
            wait_for(filed(done, number - 1 - MAX_QUEUED), what=f"batch {number - 1 - MAX_QUEUED} filed")
            export(drop, number)
            if number % SCRAPE_EVERY == 0:
                scraper.get(scrape).raise_for_status()
            if number % every == 0 or number == batches:
                wait_for(filed(done, number), what=f"batch {number} filed")
                samples.append((number, rss_mb(daemon.pid), time.monotonic() - started))
                print(f"batch {number}: {samples[-1][1]:.1f} MB", file=sys.stderr, flush=True)
        if count(root / "failed") or count(queue):
            raise RuntimeError("some batches did not end in done/")
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=2000)
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument(
        "--no-ledger", action="store_true", help="ledger.enabled: false (no SQLite page cache)"
    )
    arguments = parser.parse_args()
    simulator = SimulatorProcess(pickup=0.0, minimum=0.0)
    try:
        with tempfile.TemporaryDirectory() as folder:
            samples = soak(
                Path(folder),
                simulator.url,
                batches=arguments.batches,
                every=arguments.every,
                ledger=not arguments.no_ledger,
            )
    finally:
        simulator.close()
    baseline = next((rss for number, rss, _ in samples if number >= BASELINE_BATCH), samples[0][1])
    ledger = "ledger off" if arguments.no_ledger else "ledger on"
    print(f"# RSS of `sis-watcher run` over {arguments.batches:,} batches, {ledger}; {machine()}\n")
    print(
        table(
            ("after batch", "RSS", "above batch 100", "elapsed"),
            [(f"{n:,}", f"{rss:.1f} MB", f"{rss - baseline:+.1f} MB", f"{s:.0f} s") for n, rss, s in samples],
        )
    )
    growth = samples[-1][1] - baseline
    verdict = "met" if growth <= TARGET_MB else "MISSED"
    print(
        f"\nGrowth from batch {BASELINE_BATCH} to the last: {growth:+.1f} MB (target {TARGET_MB} MB: {verdict})"
    )


if __name__ == "__main__":
    main()
