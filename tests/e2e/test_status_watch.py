"""
`sis-watcher status --watch --json` as a user runs it, beside a running daemon (issue 14, item 6).

The simulator takes a few seconds per import here, so the watch (every 2 s) sees the batch
in flight at Canvas before it is filed; SIGINT (Ctrl-C) ends the watch with exit code 0.
"""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import threading
from typing import Any

from sis_watcher.simulator.canvas import CanvasSimulator, SimulatorSettings

from support import TOKEN, USERS_CSV, child_env, command, drop_file, wait_until


def test_watch_prints_a_line_per_change_while_a_batch_goes_through(tree, service):
    """Idle, then the batch importing at Canvas, then filed in done/: one line per change; SIGINT exits 0."""
    settings = SimulatorSettings(min_import_seconds=5.0)
    with CanvasSimulator(token=TOKEN, settings=settings) as canvas:
        config = tree.write_config(canvas.url)
        daemon = service(config)
        daemon.wait_for_event("daemon.started")
        watch = subprocess.Popen(
            command("status", "--watch", "--json", "-c", str(config)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=child_env(),
        )
        lines: list[dict[str, Any]] = []
        stdout = watch.stdout
        assert stdout is not None
        reader = threading.Thread(target=lambda: lines.extend(map(json.loads, stdout)), daemon=True)
        reader.start()
        try:
            wait_until(lambda: lines, what="the first status line")
            drop_file(tree.drop, "users.csv", USERS_CSV)
            wait_until(
                lambda: any((line["in_flight"] or {}).get("workflow_state") == "importing" for line in lines),
                timeout=30,
                what="a line with the import in flight",
            )
            wait_until(lambda: lines[-1]["done"], timeout=30, what="a line with the batch in done/")
            watch.send_signal(signal.SIGINT)
            code = watch.wait(timeout=10)
            reader.join(timeout=5)
            errors = watch.stderr.read() if watch.stderr else ""
        finally:
            if watch.poll() is None:
                watch.kill()
            watch.wait(timeout=10)
            for stream in (watch.stdout, watch.stderr):
                if stream is not None:
                    stream.close()

    assert code == 0
    assert "Traceback" not in errors
    without_time = [{key: value for key, value in line.items() if key != "observed_at"} for line in lines]
    assert all(one != other for one, other in itertools.pairwise(without_time))
    assert lines[0]["daemon"]["state"] == "idle"
    assert lines[0]["in_flight"] is None
    assert lines[-1]["in_flight"] is None
    assert [item["state"] for item in lines[-1]["done"]] == ["done"]
    assert 0 == daemon.stop()
