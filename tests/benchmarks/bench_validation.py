"""
Throughput and memory of pre-flight validation on large, realistic enrollments files.

Run it on purpose (pytest does not collect bench_*.py):

    python tests/benchmarks/bench_validation.py                 # 200 MB + two 1,000,000-row files
    python tests/benchmarks/bench_validation.py --size-mb 1024   # the 1 GB nightly-export case

It writes the files into a temporary folder (or --dir), validates each one in a fresh child
process with checks on and off, and prints size, rows, seconds, MB/s and the child's peak RSS
(resource.getrusage; the interpreter and imports alone are shown as "base RSS").
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HEADER = "course_id,user_id,role,section_id,status,start_date,end_date,associated_user_id\n"
ROLES = ("student",) * 16 + ("teacher", "ta", "observer", "designer")
STATUSES = ("active",) * 12 + ("deleted", "completed", "inactive")
DEPARTMENTS = ("MATH", "ENGL", "BIOL", "HIST", "CHEM", "PHYS", "ARTS", "MUSC", "ECON", "PSYC")
BLOCK_ROWS = 50_000
REPOSITORY = Path(__file__).resolve().parents[2]


@dataclass(frozen=True, slots=True)
class BenchFile:
    """One generated file: `rows` rows, or about `size` bytes."""

    label: str
    name: str
    rows: int | None = None
    size: int | None = None
    crlf: bool = False
    quote: bool = False


def enrollment_row(n: int, *, quote: bool) -> str:
    """Return enrollment row `n`: a term's course section, a student id, mostly students."""
    department = DEPARTMENTS[n % len(DEPARTMENTS)]
    course = f"2026FA-{department}-{1000 + n % 397}"
    role = ROLES[n % len(ROLES)]
    dates = ("2026-08-24T00:00:00Z", "2026-12-18T23:59:59Z") if n % 50 == 0 else ("", "")
    fields = [
        course,
        f"S{(n * 7919) % 90_000_000 + 10_000_000}",
        role,
        f"{course}-{n % 7 + 1:03d}",
        STATUSES[n % len(STATUSES)],
        *dates,
        f"S{(n * 104_729) % 90_000_000 + 10_000_000}" if role == "observer" else "",
    ]
    if quote:
        return ",".join(f'"{field}"' for field in fields)
    return ",".join(fields)


def write_enrollments(path: Path, *, rows: int | None, size: int | None, crlf: bool, quote: bool) -> int:
    """Write an enrollments CSV of `rows` rows or about `size` bytes; return the rows written."""
    ending = "\r\n" if crlf else "\n"
    written = 0
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(HEADER.replace("\n", ending))
        while (rows is None or written < rows) and (size is None or out.tell() < size):
            count = BLOCK_ROWS if rows is None else min(BLOCK_ROWS, rows - written)
            out.write(
                "".join(enrollment_row(n, quote=quote) + ending for n in range(written, written + count))
            )
            written += count
        out.flush()
        os.fsync(out.fileno())  # no write-back of dirty pages competing with the measurement
    return written


def measure(path: Path, *, checks: bool) -> dict[str, float | int | str | None]:
    """Validate `path` in this process and return the timing and memory figures."""
    from sis_watcher.validation.files import validate_file  # noqa: PLC0415 (base RSS is measured after import)

    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    report = validate_file(path, checks=checks)
    seconds = time.perf_counter() - start
    return {
        "rows": report.rows,
        "csv_type": report.csv_type,
        "errors": report.error_count,
        "warnings": report.warning_count,
        "seconds": seconds,
        "base_rss_kib": base_rss,
        "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }


def measure_in_child(path: Path, *, checks: bool) -> dict[str, float | int | str | None]:
    """Run `measure` in a fresh interpreter so peak RSS belongs to this validation alone."""
    command = [sys.executable, __file__, "--measure", str(path), "--checks", "on" if checks else "off"]
    environment = os.environ | {"PYTHONPATH": str(REPOSITORY)}
    result = subprocess.run(command, capture_output=True, text=True, check=True, env=environment)
    figures: dict[str, float | int | str | None] = json.loads(result.stdout)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=200, help="size of the large file (default 200)")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the fixed-row files")
    parser.add_argument("--dir", type=Path, help="where to write the files (default: a temporary folder)")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--checks", choices=["on", "off"], default="on", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.measure:
        print(json.dumps(measure(arguments.measure, checks=arguments.checks == "on")))
        return

    files = [
        BenchFile("large, LF", "enrollments_large.csv", size=arguments.size_mb << 20),
        BenchFile(f"{arguments.rows:,} rows, CRLF", "enrollments_rows.csv", rows=arguments.rows, crlf=True),
        BenchFile(
            f"{arguments.rows:,} rows, all quoted",
            "enrollments_quoted.csv",
            rows=arguments.rows,
            crlf=True,
            quote=True,
        ),
    ]
    print(f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(
        f"{'file':<26} {'checks':<6} {'MB':>8} {'rows':>12} {'s':>7} {'MB/s':>7} {'peak RSS':>9} {'base RSS':>9}"
    )
    with tempfile.TemporaryDirectory(dir=arguments.dir) as folder:
        for bench in files:
            path = Path(folder, bench.name)
            written = write_enrollments(
                path, rows=bench.rows, size=bench.size, crlf=bench.crlf, quote=bench.quote
            )
            megabytes = path.stat().st_size / 1e6
            for checks in (True, False):
                figures = measure_in_child(path, checks=checks)
                assert figures["rows"] == written, figures
                assert figures["errors"] == 0, figures
                seconds = float(figures["seconds"] or 0)
                print(
                    f"{bench.label:<26} {'on' if checks else 'off':<6} {megabytes:>8.1f} {written:>12,} "
                    f"{seconds:>7.2f} {megabytes / seconds:>7.1f} {int(figures['peak_rss_kib'] or 0) / 1024:>7.1f}MB "
                    f"{int(figures['base_rss_kib'] or 0) / 1024:>7.1f}MB"
                )
            path.unlink()


if __name__ == "__main__":
    main()
