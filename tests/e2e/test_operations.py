"""
Operating the daemon as an admin does: alerts, metrics, `status`, `retry`, `check`, `validate`.

Every command runs as a subprocess against real folders and the simulator on loopback.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import httpx
import pytest

from loopback_servers import Webhook
from support import BAD_HEADER_CSV, TOKEN, USERS_CSV, child_env, drop_file, run_command, wait_until


@pytest.fixture
def webhook():
    hook = Webhook()
    yield hook
    hook.close()


class TestAlertsAndMetrics:
    def test_a_failed_batch_sends_one_webhook_alert_and_shows_in_metrics(
        self, tree, canvas, service, webhook
    ):
        """A rejected batch fires one webhook alert and counts in /metrics; /healthz stays ok."""
        config = tree.write_config(
            canvas.url,
            validation={"mode": "off"},
            alerts={"webhook": {"url": webhook.url}},
            metrics={"enabled": True, "port": 0},
        )
        running = service(config)
        url = running.wait_for_event("metrics.listening")[0]["url"]

        drop_file(tree.drop, "users.csv", BAD_HEADER_CSV)
        wait_until(lambda: webhook.requests, what="the webhook alert")

        [batch] = tree.batches("failed")
        [request] = webhook.requests
        assert batch.name in request.body["text"]
        assert "Couldn't find Canvas CSV import headers" in request.body["text"]
        metrics = httpx.get(f"{url}/metrics", timeout=5).text
        assert 'sis_watcher_batches_total{result="failed"} 1.0' in metrics
        assert 200 == httpx.get(f"{url}/healthz", timeout=5).status_code
        assert 0 == running.stop()
        assert 1 == len(webhook.requests)

    def test_paused_uploads_fail_healthz_and_alert_once(self, tree, canvas, service, webhook):
        """A revoked token pauses uploads: one alert, /healthz 503, and recovery once restored."""
        canvas.revoke_token()
        config = tree.write_config(
            canvas.url,
            alerts={"webhook": {"url": webhook.url}},
            metrics={"enabled": True, "port": 0},
            retry={"initial_backoff_seconds": 0.05, "max_backoff_seconds": 0.3, "max_elapsed_seconds": 5},
        )
        running = service(config)
        url = running.wait_for_event("metrics.listening")[0]["url"]
        drop_file(tree.drop, "users.csv", USERS_CSV)

        running.wait_for_event("upload.paused")
        wait_until(lambda: httpx.get(f"{url}/healthz", timeout=5).status_code == 503, what="/healthz 503")
        running.wait_for_event("upload.paused", count=1)
        canvas.restore_token()
        wait_until(lambda: tree.batches("done"), what="the batch in done/")

        texts = [request.body["text"] for request in webhook.requests]
        assert 1 == sum("uploads paused" in text for text in texts)
        assert 1 == sum("uploads resumed" in text for text in texts)
        assert 0 == running.stop()


class TestCommands:
    def test_status_shows_the_daemon_queue_and_recent_batches(self, tree, canvas, service):
        """`status` (text and --json) tells running or stopped, and lists done and failed batches."""
        config = tree.write_config(canvas.url)
        running = service(config)
        drop_file(tree.drop, "users.csv", USERS_CSV)
        wait_until(lambda: tree.batches("done"), what="a batch in done/")

        text = run_command("status", "-c", str(config), cwd=tree.root)
        document = json.loads(run_command("status", "-c", str(config), "--json", cwd=tree.root).stdout)
        assert 0 == running.stop()
        stopped = json.loads(run_command("status", "-c", str(config), "--json", cwd=tree.root).stdout)

        assert 0 == text.returncode
        assert "daemon:   idle" in text.stdout
        assert tree.batches("done")[0].name in text.stdout
        assert "idle" == document["daemon"]["state"]
        assert running.process.pid == document["daemon"]["pid"]
        assert "done" == document["done"][0]["result"]
        assert "stopped" == stopped["daemon"]["state"]

    def test_retry_sends_a_fixed_failed_batch_again(self, tree, canvas, service):
        """A batch failed by validation, fixed by hand in failed/, goes to done/ after `retry`."""
        config = tree.write_config(canvas.url)
        running = service(config)
        drop_file(tree.drop, "users.csv", BAD_HEADER_CSV)
        wait_until(lambda: tree.batches("failed"), what="a batch in failed/")
        [failed] = tree.batches("failed")
        (failed / "users.csv").write_bytes(USERS_CSV)

        result = run_command("retry", "-c", str(config), failed.name, cwd=tree.root)
        wait_until(lambda: tree.batches("done"), what="the retried batch in done/")

        assert 0 == result.returncode
        manifest = tree.manifest(tree.batches("done")[0])
        assert failed.name == manifest["batch_id"]
        assert "pre-flight validation" in manifest["previous_attempts"][0]["outcome"]["reason"]
        assert 2 == run_command("retry", "-c", str(config), failed.name, cwd=tree.root).returncode
        assert 0 == running.stop()

    def test_shrink_guard_holds_a_truncated_export_until_approved(self, tree, canvas, service):
        """A users file far smaller than last night's is held before upload (no longer failed); approve sends it."""
        config = tree.write_config(canvas.url, guard={"max_shrink_percent": 20})
        running = service(config)
        full = b"user_id,login_id,status\n" + b"".join(b"u%d,l%d,active\n" % (n, n) for n in range(100))
        drop_file(tree.drop, "users.csv", full)
        wait_until(lambda: tree.batches("done"), what="night 1 in done/")
        drop_file(tree.drop, "users.csv", b"user_id,login_id,status\nu1,l1,active\n")
        running.wait_for_event("batch.held")

        [held] = tree.batches("queue")
        manifest = tree.manifest(held)
        assert "held" == manifest["state"]
        [reason] = manifest["hold"]["reasons"]
        assert "hold.max_shrink_percent" == reason["rule"]
        assert "user: rows fell from 100" in reason["text"]
        assert "to 1 (-99.0%" in reason["text"]
        assert [] == tree.batches("failed")
        assert 1 == len(canvas.uploads)
        assert 2 == run_command("retry", "-c", str(config), "--force", held.name, cwd=tree.root).returncode
        assert 0 == run_command("approve", "-c", str(config), held.name, cwd=tree.root).returncode
        wait_until(lambda: len(tree.batches("done")) == 2, what="the approved batch in done/")
        assert held.name == tree.batches("done")[1].name
        assert "approved" == tree.manifest(tree.batches("done")[1])["hold"]["decision"]
        assert 2 == len(canvas.uploads)
        assert 0 == running.stop()

    def test_check_passes_offline_and_online_and_fails_each_way(self, tree, canvas):
        """`check` exits 0 when all is well, 2 for a local problem, 1 when Canvas says no."""
        config = tree.write_config(canvas.url)

        good = run_command("check", "-c", str(config), cwd=tree.root)
        offline = run_command(
            "check", "-c", str(config), "--offline", cwd=tree.root, env=child_env(CANVAS_TOKEN="")
        )
        canvas.revoke_token()
        refused = run_command("check", "-c", str(config), cwd=tree.root)

        assert 0 == good.returncode, good.stdout
        assert "token accepted" in good.stdout
        assert 2 == offline.returncode
        assert "no Canvas token found" in offline.stdout
        assert 1 == refused.returncode
        assert "Revoked access token" in refused.stdout
        assert TOKEN not in good.stdout + refused.stdout + offline.stdout

    def test_a_bad_config_exits_2_listing_every_problem_by_key_path(self, tree, canvas):
        """Config errors exit 2 and name every problem by its dotted key path, for every command."""
        config = tree.write_config("http://canvas.example.com", intake={"settle_seconds": "soon", "bogus": 1})

        for arguments in (["run"], ["once"], ["check"], ["status"], ["retry", "x"]):
            result = run_command(*arguments, "-c", str(config), cwd=tree.root)
            assert 2 == result.returncode
            assert "canvas.base_url: must use https://" in result.stderr
            assert "intake.settle_seconds:" in result.stderr
            assert "intake.bogus: unknown key" in result.stderr

    def test_run_without_any_token_exits_2(self, tree, canvas):
        """No token anywhere: `run` refuses to start with exit 2 and says where it looked."""
        config = tree.write_config(canvas.url)

        result = run_command("run", "-c", str(config), cwd=tree.root, env=child_env(CANVAS_TOKEN=""))

        assert 2 == result.returncode
        assert "no Canvas token found" in result.stderr

    def test_the_token_is_read_from_the_systemd_credential_first(self, tree, canvas, tmp_path):
        """$CREDENTIALS_DIRECTORY/canvas-token wins over CANVAS_TOKEN."""
        credentials = tmp_path / "credentials"
        credentials.mkdir()
        (credentials / "canvas-token").write_text(TOKEN + "\n")
        config = tree.write_config(canvas.url)
        env = child_env(CANVAS_TOKEN="wrong-token", CREDENTIALS_DIRECTORY=str(credentials))

        result = run_command("check", "-c", str(config), cwd=tree.root, env=env)

        assert 0 == result.returncode, result.stdout
        assert "systemd credential canvas-token" in result.stdout


def test_the_token_never_appears_in_the_logs(tree, canvas, service):
    """Nothing the daemon writes contains the token, even when Canvas refuses it."""
    canvas.revoke_token()
    config = tree.write_config(canvas.url)
    running = service(config)
    drop_file(tree.drop, "users.csv", USERS_CSV)
    running.wait_for_event("upload.paused")
    canvas.restore_token()
    wait_until(lambda: tree.batches("done"), what="a batch in done/")
    running.signal(signal.SIGTERM)
    running.wait()

    everything = "\n".join(running.lines())
    for path in tree.root.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".csv", ".log", ".yaml"):
            everything += path.read_text(errors="replace")
    assert TOKEN not in everything


class TestValidateCommand:
    def test_validate_exits_0_for_clean_files_and_1_for_errors(self, tmp_path):
        """`validate` passes a clean export and fails one with a header Canvas will not recognise."""
        (tmp_path / "users.csv").write_bytes(USERS_CSV)
        (tmp_path / "bad").mkdir()
        (tmp_path / "bad" / "users.csv").write_bytes(BAD_HEADER_CSV)

        clean = run_command("validate", str(tmp_path / "users.csv"))
        broken = run_command("validate", "--json", str(tmp_path / "bad"))

        assert 0 == clean.returncode
        assert "user, 2 rows" in clean.stdout
        assert 1 == broken.returncode
        assert 2 == json.loads(broken.stdout)["errors"]

    def test_validate_piped_into_a_closed_pipe_ends_without_a_traceback(self, tmp_path):
        """`validate ... | head -c 1` ends quietly (SIGPIPE), as a shell user expects."""
        for index in range(200):
            (tmp_path / f"users-{index}.csv").write_bytes(BAD_HEADER_CSV)
        command = f"{sys.executable} -m sis_watcher validate {tmp_path} | head -c 1"

        result = subprocess.run(
            ["bash", "-c", command], capture_output=True, text=True, timeout=60, check=False
        )

        assert "Traceback" not in result.stderr


class TestSystemdNotify:
    def test_ready_status_watchdog_and_stopping_reach_the_notify_socket(
        self, tree, canvas, service, notify_socket
    ):
        """Under systemd the daemon says READY=1 after its first scan, STATUS=, WATCHDOG=1, STOPPING=1."""
        address, drain = notify_socket
        config = tree.write_config(canvas.url)
        env = child_env(NOTIFY_SOCKET=address, WATCHDOG_USEC="1000000")
        running = service(config, env=env)
        wait_until(lambda: any("READY=1" in message for message in drain()), what="READY=1")
        wait_until(lambda: sum("WATCHDOG=1" in message for message in drain()) >= 2, what="watchdog pings")
        assert any(message.startswith("STATUS=idle") for message in drain())
        running.signal(signal.SIGTERM)
        assert 0 == running.wait()
        wait_until(lambda: any("STOPPING=1" in message for message in drain()), what="STOPPING=1")
