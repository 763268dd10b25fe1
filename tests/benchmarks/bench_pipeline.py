"""
Throughput and memory of the pipeline against the script it replaces (issue 7, targets 1-2).

Run it on purpose (pytest does not collect bench_*.py):

    python tests/benchmarks/bench_pipeline.py                    # 1 GB five-file export, 3 rounds
    python tests/benchmarks/bench_pipeline.py --size-mb 200 --rounds 2

Throughput: from a sealed batch to the upload finished. sis-watcher's time is taken from its own
log (`batch.sealed` to `upload.succeeded`: validation in strict mode, the zip, the upload); the
baseline is `zip -q -6` then `curl --data-binary` of that zip to the same simulator, timed as
commands. The two alternate in each round, and the simulator finishes each import before the
next measurement starts, so neither competes with the other. Memory: the peak RSS of
`sis-watcher once` (the whole daemon: sealing, validation, zip, upload, polling) for 10 MB,
100 MB and the big batch.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import TOKEN, SimulatorProcess, event_time, machine, run_daemon, table, write_config
from benchmarks.sisdata import write_export


def export(folder: Path, size_mb: int) -> list[Path]:
    marker = folder / f".complete-{size_mb}"
    if not marker.exists():
        shutil.rmtree(folder, ignore_errors=True)
        write_export(folder, total_bytes=size_mb * 1_000_000)
        marker.touch()
    return sorted(folder.glob("*.csv"))


def baseline(files: list[Path], work: Path, url: str) -> tuple[float, int]:
    """zip -q -6 then curl --data-binary; return (seconds, zip bytes)."""
    target = work / "baseline.zip"
    target.unlink(missing_ok=True)
    started = time.perf_counter()
    subprocess.run(["zip", "-q", "-6", "-j", str(target), *map(str, files)], check=True)
    subprocess.run(
        [
            "curl",
            "-sS",
            "-o",
            "/dev/null",
            "--fail",
            "--data-binary",
            f"@{target}",
            "-H",
            f"Authorization: Bearer {TOKEN}",
            "-H",
            "Content-Type: application/zip",
            f"{url}/api/v1/accounts/self/sis_imports?import_type=instructure_csv&extension=zip",
        ],
        check=True,
    )
    return time.perf_counter() - started, target.stat().st_size


def ours(files: list[Path], work: Path, url: str, *, validation: str) -> tuple[float, int, int]:
    """sis-watcher once on the export (hard links, so the data stays); return (seconds, zip bytes, peak KiB)."""
    root = work / "ours"
    shutil.rmtree(root, ignore_errors=True)
    config = write_config(root, url, validation={"mode": validation})
    for path in files:
        os.link(path, root / "drop" / path.name)
    code, events, peak = run_daemon(config)
    if code != 0:
        raise RuntimeError(f"sis-watcher once exited {code}; see {root / 'once.log'}")
    seconds = event_time(events, "upload.succeeded") - event_time(events, "batch.sealed")
    zip_bytes = next(event["zip_bytes"] for event in events if event.get("event") == "archive.written")
    shutil.rmtree(root)
    return seconds, zip_bytes, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "sis-watcher-bench")
    arguments = parser.parse_args()
    work = arguments.dir
    work.mkdir(parents=True, exist_ok=True)
    files = export(work / f"export-{arguments.size_mb}", arguments.size_mb)
    total = sum(path.stat().st_size for path in files)
    simulator = SimulatorProcess()
    try:
        rows = []
        results: dict[str, list[float]] = {"baseline": [], "strict": [], "off": []}
        sizes: dict[str, int] = {}
        for number in range(1, arguments.rounds + 1):
            for tool in ("baseline", "strict", "off"):
                if tool == "baseline":
                    seconds, size = baseline(files, work, simulator.url)
                else:
                    seconds, size, _ = ours(files, work, simulator.url, validation=tool)
                simulator.wait_idle()
                results[tool].append(seconds)
                sizes[tool] = size
                rows.append(
                    (number, tool, f"{seconds:.2f}", f"{total / seconds / 1e6:.0f}", f"{size / 1e6:.1f}")
                )
        print(f"# Throughput, {total / 1e6:.0f} MB in {len(files)} files; {machine()}\n")
        print(table(("round", "tool", "seconds", "MB/s", "zip MB"), rows))
        base = statistics.median(results["baseline"])
        print()
        summary = [
            (
                label,
                f"{statistics.median(results[tool]):.2f}",
                f"{statistics.median(results[tool]) / base:.2f}",
                f"{sizes[tool] / sizes['baseline']:.3f}",
            )
            for tool, label in (
                ("baseline", "zip -q -6 + curl"),
                ("strict", "sis-watcher, validation strict"),
                ("off", "sis-watcher, validation off"),
            )
        ]
        print(table(("median of rounds", "seconds", "time ratio", "zip size ratio"), summary))
        memory_rows = []
        for size_mb in (10, 100, arguments.size_mb):
            sample = export(work / f"export-{size_mb}", size_mb)
            _, _, peak = ours(sample, work, simulator.url, validation="strict")
            simulator.wait_idle()
            memory_rows.append((f"{size_mb} MB", f"{peak / 1024:.1f}"))
        print(f"\n# Peak RSS of `sis-watcher once`, validation strict; {machine()}\n")
        print(table(("batch", "peak RSS MB"), memory_rows))
    finally:
        simulator.close()


if __name__ == "__main__":
    main()
