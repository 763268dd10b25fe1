"""
`sis-watcher demo`: the whole product in under a minute, with nothing to set up.

A temporary folder tree, the Canvas simulator on a free loopback port, and the real daemon
(its threads, observer, worker) with a config written into the tree. Three exports are dropped
the way an SIS export job writes them (temp name, then rename), one after the other: a clean
one, one Canvas imports with warnings, and one Canvas rejects. Each batch's path through the
pipeline is printed as it happens, then where it ended and why. Exit 0 when the three ended as
expected.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import TextIO

import yaml

from sis_watcher.batch.manifest import Manifest
from sis_watcher.config.load import load
from sis_watcher.core import logs
from sis_watcher.daemon.service import Daemon
from sis_watcher.ops.events import Listener
from sis_watcher.simulator.canvas import CanvasSimulator, SimulatorSettings

DEADLINE_SECONDS = 55.0
EXPORTS: tuple[tuple[str, str, dict[str, bytes]], ...] = (
    (
        "a clean nightly export",
        "done",
        {
            "users.csv": b"user_id,login_id,first_name,last_name,email,status\n"
            b"U001,ada,Ada,Lovelace,ada@example.edu,active\nU002,alan,Alan,Turing,alan@example.edu,active\n",
            "courses.csv": b"course_id,short_name,long_name,account_id,term_id,status\n"
            b"C101,MATH101,Mathematics 101,,,active\n",
            "sections.csv": b"section_id,course_id,name,status\nS101,C101,Section 1,active\n",
            "enrollments.csv": b"course_id,section_id,user_id,role,status\n"
            b"C101,S101,U001,student,active\nC101,S101,U002,teacher,active\n",
        },
    ),
    (
        "an export Canvas imports with warnings",
        "done",
        {
            "enrollments.csv": b"course_id,section_id,user_id,role,status\n"
            b"C101,S999,U001,student,active\nC101,S101,U002,teacher,wandering\n",
        },
    ),
    (
        "an export Canvas rejects (a space before login_id in the header)",
        "failed",
        {"users.csv": b"user_id, login_id,status\nU003,grace,active\n"},
    ),
)


class Narrator(Listener):
    """Prints each batch's way through the pipeline, one line per step."""

    def __init__(self, out: TextIO, started: float) -> None:
        self.out = out
        self.started = started
        self.last_activity = ""
        self.sealed: list[str] = []
        self.filed: list[Manifest] = []
        self.changed = threading.Condition()

    def say(self, text: str) -> None:
        print(f"  [{time.monotonic() - self.started:5.1f}s] {text}", file=self.out, flush=True)

    def activity(self, text: str, *, queued: int | None = None, batch_id: str | None = None) -> None:
        if text != self.last_activity and not text.startswith(("idle", "working")):
            self.last_activity = text
            self.say(text)

    def batch_sealed(self, manifest: Manifest) -> None:
        self.say(f"sealed {manifest.batch_id}: {', '.join(entry.name for entry in manifest.files)}")
        with self.changed:
            self.sealed.append(manifest.batch_id)
            self.changed.notify_all()

    def batch_filed(self, manifest: Manifest, path: Path) -> None:
        self.say(f"filed {manifest.batch_id} under {path.parent.name}/: {manifest.outcome.reason}")
        with self.changed:
            self.filed.append(manifest)
            self.changed.notify_all()

    def wait_for(self, attribute: str, count: int, deadline: float) -> bool:
        with self.changed:
            return self.changed.wait_for(
                lambda: len(getattr(self, attribute)) >= count, timeout=max(deadline - time.monotonic(), 0)
            )


def write_config(root: Path, url: str) -> Path:
    document = {
        "canvas": {"base_url": url, "account_id": "self"},
        "folders": {"drop": "drop", "queue": "queue", "done": "done", "failed": "failed"},
        "intake": {"settle_seconds": 0.5, "quiet_seconds": 1.0},
        "validation": {"mode": "warn"},
        "poll": {"interval_seconds": 0.5, "max_interval_seconds": 2},
        "logging": {"format": "json", "level": "info"},
    }
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def drop_export(drop: Path, files: dict[str, bytes]) -> None:
    """Write each file to a hidden temp name, then rename it into place (as rsync does)."""
    for name, data in files.items():
        temporary = drop / f".{name}.tmp"
        temporary.write_bytes(data)
        temporary.rename(drop / name)


def run_demo(*, keep: bool, out: TextIO, root: Path | None = None) -> int:
    """Run the demo; return 0 when every batch ended where it should."""
    own_root = root is None
    root = root or Path(tempfile.mkdtemp(prefix="sis-watcher-demo-"))
    (root / "drop").mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(16)
    settings = SimulatorSettings(pickup_delay_seconds=0.5, min_import_seconds=1.0, rows_per_second=50.0)
    log_path = root / "sis-watcher.log"
    with (
        CanvasSimulator(token=token, settings=settings) as canvas,
        log_path.open("w", encoding="utf-8") as log_file,
    ):
        config_path = write_config(root, canvas.url)
        logs.configure(fmt="json", level="info", stream=log_file)
        print(f"sis-watcher demo in {root}", file=out)
        print(f"  Canvas simulator at {canvas.url}; config {config_path}; JSON log {log_path}", file=out)
        print(
            "  validation is `warn` here so you see Canvas's own verdict (the default is `strict`)\n",
            file=out,
        )
        narrator = Narrator(out, time.monotonic())
        daemon = Daemon(load(config_path), environ={"CANVAS_TOKEN": token}, listeners=(narrator,))
        result: list[int] = []
        thread = threading.Thread(target=lambda: result.append(daemon.run()), name="demo-daemon", daemon=True)
        thread.start()
        deadline = time.monotonic() + DEADLINE_SECONDS
        for number, (title, _, files) in enumerate(EXPORTS, start=1):
            print(f"export {number}: {title}", file=out, flush=True)
            drop_export(root / "drop", files)
            narrator.wait_for("sealed", number, deadline)
        narrator.wait_for("filed", len(EXPORTS), deadline)
        daemon.on_signal(15, None)
        thread.join(15)
    ended = [(manifest.batch_id, manifest.state.value) for manifest in narrator.filed]
    expected = [want for _, want, _ in EXPORTS]
    success = [state for _, state in ended] == expected and result == [0]
    print("\nwhere each batch ended:", file=out)
    for batch_id, state in ended:
        print(
            f"  {state}/{batch_id}/  (manifest.json, the original CSVs, batch.zip, errors.csv if any)",
            file=out,
        )
    print(f"\n{'demo finished: every batch ended where it should' if success else 'demo FAILED'}", file=out)
    if keep or not own_root:
        print(f"the folders are kept in {root}", file=out)
    else:
        shutil.rmtree(root, ignore_errors=True)
        print("the temporary folders were removed (run `sis-watcher demo --keep` to look at them)", file=out)
    return 0 if success else 1
