"""
Observer supervision: intake never goes silent and never crash-loops.

A drop folder deleted and recreated, a mount that disappears, a dead observer thread, a drop
folder missing at start, and exhausted inotify limits: each is logged, alerted (a monitor
moment), retried with backoff, and recovered from without a restart.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from support import TOKEN, USERS_CSV, drop_file, make_tree, wait_until

NOBODY = 65534


def config_for(tree, canvas, **intake):
    settings = {"rescan_seconds": 60, **intake}
    return tree.write_config(canvas.url, intake=settings)


def test_a_deleted_and_recreated_drop_folder_is_watched_again(tree, canvas, run_daemon):
    """After the drop folder is removed and made again, the observer is restarted on the new folder."""
    running = run_daemon(config_for(tree, canvas))
    wait_until(running.daemon.intake.first_scan_done.is_set)

    shutil.rmtree(tree.drop)
    wait_until(lambda: "intake_problem" in running.recorder.names(), what="the problem reported")
    tree.drop.mkdir()
    wait_until(lambda: "intake_recovered" in running.recorder.names(), timeout=20, what="intake recovered")
    drop_file(tree.drop, "users.csv", USERS_CSV)

    wait_until(lambda: tree.batches("done"), timeout=20, what="a batch in done/ (woken by the new observer)")
    assert 0 == running.stop()


def test_a_drop_folder_missing_at_start_is_waited_for(tree, canvas, run_daemon):
    """A missing drop folder at start is reported, not fatal; once it exists, intake works."""
    shutil.rmtree(tree.drop)
    running = run_daemon(config_for(tree, canvas))
    wait_until(lambda: "intake_problem" in running.recorder.names(), what="the problem reported")
    assert running.thread.is_alive()

    tree.drop.mkdir()
    wait_until(lambda: "intake_recovered" in running.recorder.names(), timeout=20, what="intake recovered")
    drop_file(tree.drop, "users.csv", USERS_CSV)

    wait_until(lambda: tree.batches("done"), timeout=20, what="a batch in done/")
    assert 0 == running.stop()


def test_a_dead_observer_is_restarted(tree, canvas, run_daemon):
    """If watchdog's observer thread ends, intake starts a new one and events wake it again."""
    running = run_daemon(config_for(tree, canvas))
    wait_until(running.daemon.intake.first_scan_done.is_set)
    observer = running.daemon.intake.watcher.observer
    assert observer is not None

    observer.stop()
    observer.join(5)
    running.daemon.intake.wake.set()
    wait_until(lambda: running.daemon.intake.watcher.observer not in (None, observer), what="a new observer")
    drop_file(tree.drop, "users.csv", USERS_CSV)

    wait_until(lambda: tree.batches("done"), timeout=20, what="a batch in done/")
    assert 0 == running.stop()


@pytest.fixture
def require_root():
    if os.geteuid() != 0:
        pytest.fail("this test mounts filesystems or switches users and must run as root (CI does)")


def test_a_mount_that_disappears_is_noticed_and_the_new_folder_watched(
    tree, canvas, run_daemon, require_root
):
    """The drop folder is a mount; when it is unmounted, intake notices and watches what is there now."""
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(tree.drop)], check=True)
    try:
        running = run_daemon(config_for(tree, canvas))
        wait_until(running.daemon.intake.first_scan_done.is_set)
        first = running.daemon.intake.watcher.identity

        subprocess.run(["umount", str(tree.drop)], check=True)
        running.daemon.intake.wake.set()
        wait_until(
            lambda: running.daemon.intake.watcher.identity not in (None, first), what="the observer restarted"
        )
        drop_file(tree.drop, "users.csv", USERS_CSV)

        wait_until(lambda: tree.batches("done"), timeout=20, what="a batch in done/")
        assert 0 == running.stop()
    finally:
        subprocess.run(["umount", str(tree.drop)], check=False, capture_output=True)


EXHAUST_INOTIFY = """
import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
held = []
while True:
    descriptor = libc.inotify_init()
    if descriptor < 0:
        break
    held.append(descriptor)
print(len(held), flush=True)
time.sleep(600)
"""


@pytest.fixture
def nobody_tree(require_root):
    """A folder tree owned by `nobody` in /tmp (pytest's own tmp folders are private to root)."""
    root = Path(tempfile.mkdtemp(prefix="sis-watcher-nobody-", dir="/tmp"))
    tree = make_tree(root)
    for path in (root, tree.drop):
        shutil.chown(path, NOBODY, NOBODY)
    yield tree
    shutil.rmtree(root, ignore_errors=True)


def test_exhausted_inotify_instances_fall_back_to_polling(nobody_tree, canvas):
    """With every inotify instance of the user taken, the daemon warns and polls instead."""
    tree = nobody_tree
    as_nobody = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    hog = subprocess.Popen(
        [*as_nobody, sys.executable, "-c", EXHAUST_INOTIFY], stdout=subprocess.PIPE, text=True
    )
    try:
        assert hog.stdout is not None
        assert int(hog.stdout.readline()) > 0
        config = tree.write_config(canvas.url, intake={"rescan_seconds": 60})
        shutil.chown(config, NOBODY, NOBODY)
        env = {"PATH": os.environ["PATH"], "CANVAS_TOKEN": TOKEN, "HOME": str(tree.root)}
        log_path = tree.root / "run.log"
        with log_path.open("wb") as log_file:
            daemon = subprocess.Popen(
                [*as_nobody, sys.executable, "-m", "sis_watcher", "run", "-c", str(config)],
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=tree.root,
            )
            try:
                wait_until(
                    lambda: b"intake.inotify_unavailable" in log_path.read_bytes(),
                    what="the fallback warning",
                )
                drop_file(tree.drop, "users.csv", USERS_CSV)
                wait_until(lambda: tree.batches("done"), timeout=30, what="a batch in done/ via polling")
            finally:
                daemon.terminate()
                code = daemon.wait(timeout=15)
        assert 0 == code, log_path.read_text()
        events = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
        started = [event for event in events if event["event"] == "intake.observer_started"]
        assert "polling" == started[0]["observer"]
    finally:
        hog.kill()
        hog.wait()
        if hog.stdout is not None:
            hog.stdout.close()
