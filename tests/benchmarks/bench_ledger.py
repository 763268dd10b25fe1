"""
The ledger's cost: preview and apply of a 2M-row night against the night before (issue 12).

Run it on purpose (pytest does not collect bench_*.py):

    python tests/benchmarks/bench_ledger.py                 # ~130 MB, ~1.9M rows, 1% changed
    python tests/benchmarks/bench_ledger.py --size-mb 30

Night 1 is a generated export (terms, users, courses, sections, enrollments); night 2 is the same
with 1% of the enrollment rows changed (status `completed`). Each measurement runs in a fresh
process, so its peak RSS is its own:
- first night: preview into an empty ledger (every type new to it), then apply;
- preview of night 2 against the ledger holding night 1, then apply;
- `sis-watcher once` of night 2 against `zip -q -6` + `curl` of the same files: from its start
  to `upload.succeeded` (seal, validate, preview, zip, upload: what zip + curl does), and to its
  exit (also Canvas's import in the simulator, the errors report, the apply and the filing).
Targets: preview <= 10 s, apply <= 10 s, peak RSS <= 150 MB, `once` <= 2.0x zip + curl
(night 2's `once` and zip + curl are run `--rounds` times, 3 by default; medians are reported).
The nights are generated in a child process, so the measuring processes (forked from this one)
do not start with its memory.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_pipeline import baseline
from benchmarks.common import SimulatorProcess, event_time, machine, run_daemon, table, write_config
from benchmarks.sisdata import write_export

CHILD = """
import json, sys, time
from contextlib import ExitStack
from pathlib import Path
from sis_watcher.ledger.apply import apply_batch
from sis_watcher.ledger.preview import preview
from sis_watcher.ledger.reading import sources_of
from sis_watcher.ledger.scope import ImportScope
from sis_watcher.ledger.store import Ledger
ledger_path, folder, batch_id = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
with Ledger(ledger_path) as ledger:
    started = time.perf_counter()
    with ExitStack() as stack:
        sources = [s for f in sorted(folder.glob("*.csv")) for s in stack.enter_context(sources_of(f))]
        changes = preview(ledger, sources, scope=ImportScope(), batch_id=batch_id, changes_csv=folder.parent / "changes.csv")
    previewed = time.perf_counter()
    apply_batch(ledger, batch_id, batch_dir=folder, errored=[], applied_at="benchmark")
    applied = time.perf_counter()
print(json.dumps({"preview": previewed - started, "apply": applied - previewed, "summary": changes.summary(),
                  "rows": sum(t.added + t.updated + t.unchanged + t.deleted for t in changes.by_type.values())}))
"""


def nights(work: Path, size_mb: int) -> tuple[Path, Path]:
    """Write night 1 and night 2 (1% of enrollments changed) once; return their folders."""
    first, second = work / f"night1-{size_mb}", work / f"night2-{size_mb}"
    if not (second / ".complete").exists():
        shutil.rmtree(first, ignore_errors=True)
        shutil.rmtree(second, ignore_errors=True)
        write_export(first, total_bytes=size_mb * 1_000_000)
        shutil.copytree(first, second)
        enrollments = second / "enrollments.csv"
        lines = enrollments.read_text().splitlines(keepends=True)
        rng = random.Random(12)
        for index in rng.sample(range(1, len(lines)), len(lines) // 100):
            lines[index] = lines[index].replace(",active", ",completed")
        enrollments.write_text("".join(lines))
        (second / ".complete").touch()
    return first, second


def measure(ledger: Path, folder: Path, batch_id: str) -> tuple[dict[str, object], int]:
    """Preview then apply `folder` in a fresh process; return its timings and peak RSS (KiB)."""
    process = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(ledger), str(folder), batch_id], stdout=subprocess.PIPE
    )
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"the measurement of {folder} failed")
    return json.loads(output), usage.ru_maxrss


def whole_once(
    first: Path, second: Path, work: Path, url: str, *, rounds: int
) -> tuple[list[float], list[float], list[float], list[int]]:
    """
    Return, per round, `once` of night 2 to uploaded and to exit, zip+curl seconds, peak RSS KiB.

    Night 1 runs once into a daemon folder that is then copied for every round of night 2, so
    each round starts from the same ledger; the rounds' medians are reported (this machine's
    timings vary by 20% from one run to the next). Each zip + curl posts to a simulator of its
    own, stopped after it: the import it starts would otherwise run beside the next round.
    """
    after_first = work / "daemon-after-night-1"
    shutil.rmtree(after_first, ignore_errors=True)
    config = write_config(after_first, url)
    for path in sorted(first.glob("*.csv")):
        os.link(path, after_first / "drop" / path.name)
    code, _events, _peak = run_daemon(config)
    if code != 0:
        raise RuntimeError(f"once of night 1 exited {code}; see {after_first / 'once.log'}")
    uploaded, ended, bases, peaks = [], [], [], []
    root = work / "daemon"
    for _round in range(rounds):
        shutil.rmtree(root, ignore_errors=True)
        shutil.copytree(after_first, root)  # the config's folders are relative to it
        for path in sorted(second.glob("*.csv")):
            os.link(path, root / "drop" / path.name)
        os.sync()  # the copy's 600 MB written out now, not during the round
        started = time.time()
        code, events, peak = run_daemon(root / "config.yaml")
        ended.append(time.time() - started)
        if code != 0:
            raise RuntimeError(f"once of night 2 exited {code}; see {root / 'once.log'}")
        uploaded.append(event_time(events, "upload.succeeded") - started)
        peaks.append(peak)
        quiet = (
            SimulatorProcess()
        )  # its own: the import zip + curl starts must not share the CPU with a round
        try:
            bases.append(baseline(sorted(second.glob("*.csv")), work, quiet.url)[0])
        finally:
            quiet.close()
    return uploaded, ended, bases, peaks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=130)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of night 2's once (medians reported)")
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "sis-watcher-bench")
    parser.add_argument("--generate-only", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    work = arguments.dir
    work.mkdir(parents=True, exist_ok=True)
    if arguments.generate_only:
        nights(work, arguments.size_mb)
        return
    subprocess.run(
        [
            sys.executable,
            __file__,
            "--generate-only",
            "--size-mb",
            str(arguments.size_mb),
            "--dir",
            str(work),
        ],
        check=True,
    )
    first, second = nights(work, arguments.size_mb)
    ledger = work / "bench-ledger.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{ledger}{suffix}").unlink(missing_ok=True)
    one, one_peak = measure(ledger, first, "night-1")
    two, two_peak = measure(ledger, second, "night-2")
    size = sum(path.stat().st_size for path in second.glob("*.csv")) / 1e6
    print(f"# The ledger, {size:.0f} MB, {two['rows']:,} rows a night; {machine()}\n")
    rows = [
        (
            "night 1, empty ledger",
            f"{one['preview']:.2f}",
            f"{one['apply']:.2f}",
            f"{one_peak / 1024:.0f}",
            one["summary"],
        ),
        (
            "night 2, 1% changed",
            f"{two['preview']:.2f}",
            f"{two['apply']:.2f}",
            f"{two_peak / 1024:.0f}",
            two["summary"],
        ),
    ]
    print(table(("night", "preview s", "apply s", "peak RSS MB", "summary"), rows))
    simulator = SimulatorProcess()
    try:
        uploaded, ended, bases, peaks = whole_once(
            first, second, work, simulator.url, rounds=arguments.rounds
        )
    finally:
        simulator.close()
    base = statistics.median(bases)
    print(
        f"\nnight 2, median of {arguments.rounds} rounds (each: {', '.join(f'{u:.2f}' for u in uploaded)} s to uploaded)"
    )
    print(
        table(
            ("night 2", "seconds", "ratio to zip -6 + curl", "peak RSS MB"),
            [
                ("zip -q -6 + curl", f"{base:.2f}", "1.00", ""),
                (
                    "sis-watcher once, start to uploaded",
                    f"{statistics.median(uploaded):.2f}",
                    f"{statistics.median(uploaded) / base:.2f}",
                    "",
                ),
                (
                    "sis-watcher once, start to exit",
                    f"{statistics.median(ended):.2f}",
                    f"{statistics.median(ended) / base:.2f}",
                    f"{max(peaks) / 1024:.0f} (the highest)",
                ),
            ],
        )
    )


if __name__ == "__main__":
    main()
