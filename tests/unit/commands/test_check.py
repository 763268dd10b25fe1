"""Unit tests for `sis_watcher.commands.check`: offline checks on real folders, online checks against respx."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
import respx

from sis_watcher.commands.check import (
    CheckReport,
    check_folder,
    check_ledger,
    check_offline,
    nearest_existing,
    run_check,
)
from sis_watcher.config.load import parse
from sis_watcher.config.settings import Config, FolderSettings
from sis_watcher.core.exit_codes import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK
from sis_watcher.ledger.store import Ledger

BASE = "https://canvas.example.edu"
TOKEN = "7~check-token-abcdef"
ENV = {"CANVAS_TOKEN": TOKEN}


def config_for(folders: FolderSettings, ledger: dict[str, object] | None = None, **canvas: object) -> Config:
    raw: dict[str, object] = {
        "canvas": {"base_url": BASE, **canvas},
        "folders": {name: str(getattr(folders, name)) for name in ("drop", "queue", "done", "failed")},
    }
    if ledger is not None:
        raw["ledger"] = ledger
    return parse(raw, source="test", base=folders.drop.parent)


def report_of(name: str, path: Path, *, must_exist: bool) -> CheckReport:
    report = CheckReport()
    check_folder(report, name, path, must_exist=must_exist)
    return report


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as mock:
        yield mock


class TestFolders:
    def test_writable_folder_is_ok(self, tmp_path):
        """An existing folder this user can read, write and enter passes."""
        report = report_of("queue", tmp_path, must_exist=False)

        assert report.lines == [f"ok    folders.queue: {tmp_path}"]
        assert report.config_problems == 0

    @pytest.mark.root
    def test_read_only_folder_is_refused(self, tmp_path, tmpfs):
        """A folder on a read-only filesystem is not writable (even for root)."""
        read_only = tmpfs(tmp_path / "ro", "ro")

        report = report_of("done", read_only, must_exist=False)

        assert report.lines == [f"FAIL  folders.done: {read_only} is not readable and writable by this user"]
        assert report.config_problems == 1

    def test_file_instead_of_folder_is_refused(self, tmp_path):
        """A regular file where a folder should be is refused."""
        path = tmp_path / "drop"
        path.write_text("", encoding="utf-8")

        assert report_of("drop", path, must_exist=True).lines == [
            f"FAIL  folders.drop: {path} is not a folder"
        ]

    def test_missing_drop_folder_is_refused(self, tmp_path):
        """The drop folder must exist (the daemon waits for it; a share may be unmounted)."""
        path = tmp_path / "drop"

        report = report_of("drop", path, must_exist=True)

        assert report.lines == [
            f"FAIL  folders.drop: {path} does not exist (the daemon waits for it; is the share mounted?)"
        ]

    def test_missing_state_folder_that_can_be_created_is_ok(self, tmp_path):
        """A queue folder that does not exist yet but can be created passes."""
        path = tmp_path / "state" / "queue"

        assert report_of("queue", path, must_exist=False).lines == [
            f"ok    folders.queue: {path} (will be created)"
        ]

    @pytest.mark.root
    def test_missing_folder_under_a_read_only_parent_is_refused(self, tmp_path, tmpfs):
        """A folder that would have to be created on a read-only filesystem is refused, naming that parent."""
        read_only = tmpfs(tmp_path / "ro", "ro")
        path = read_only / "state" / "queue"

        report = report_of("queue", path, must_exist=False)

        assert report.lines == [f"FAIL  folders.queue: {path} does not exist and {read_only} is not writable"]

    @pytest.mark.parametrize("mode", [0o644, 0o755])
    def test_missing_folder_under_a_file_is_refused(self, tmp_path, mode):
        """A folder whose parent path is a regular file can never be created, whatever the file's mode."""
        blocker = tmp_path / "state"
        blocker.write_text("", encoding="utf-8")
        blocker.chmod(mode)
        path = blocker / "queue"

        report = report_of("queue", path, must_exist=False)

        assert report.config_problems == 1
        assert report.lines[0].startswith(f"FAIL  folders.queue: {path}")

    def test_nearest_existing_walks_up(self, tmp_path):
        """nearest_existing returns the closest existing ancestor, or the root."""
        assert nearest_existing(tmp_path / "a" / "b" / "c") == tmp_path
        assert nearest_existing(tmp_path) == tmp_path
        assert nearest_existing(Path("/definitely-absent-sis-watcher/x")) == Path("/")


class TestOffline:
    def test_everything_in_place(self, folders):
        """Folders fine and a token found: every line ok, exit 0, no Canvas request."""
        out = io.StringIO()

        code = run_check(config_for(folders), offline=True, out=out, environ=ENV)

        assert code == EXIT_OK
        assert out.getvalue().splitlines() == [
            "ok    config: parsed",
            f"ok    folders.drop: {folders.drop}",
            f"ok    folders.queue: {folders.queue}",
            f"ok    folders.done: {folders.done}",
            f"ok    folders.failed: {folders.failed}",
            "ok    token: found in environment variable CANVAS_TOKEN",
            (
                f"ok    ledger: {folders.queue.parent / 'ledger.sqlite'} (will be created; "
                "`sis-watcher ledger rebuild` fills it from done/)"
            ),
        ]
        assert TOKEN not in out.getvalue()

    def test_token_file_is_named_as_the_source(self, folders, tmp_path):
        """The line names where the token was found, never the token."""
        token_file = tmp_path / "token"
        token_file.write_text(TOKEN, encoding="utf-8")
        report = CheckReport()

        check_offline(config_for(folders, token_file=str(token_file)), report, environ={})

        assert report.lines[-1] == f"ok    token: found in canvas.token_file ({token_file})"

    def test_no_token_is_a_config_problem(self, folders):
        """No token anywhere: a FAIL line and exit 2."""
        out = io.StringIO()

        code = run_check(config_for(folders), offline=True, out=out, environ={})

        assert code == EXIT_CONFIG
        assert out.getvalue().splitlines()[-2].startswith("FAIL  token: no Canvas token found")

    def test_missing_drop_is_exit_2(self, folders):
        """A missing drop folder fails the offline check with exit 2."""
        folders.drop.rmdir()

        assert run_check(config_for(folders), offline=True, out=io.StringIO(), environ=ENV) == EXIT_CONFIG


class TestOnline:
    def test_token_account_and_permission_are_checked(self, folders, router):
        """Online: users/self, the account and a one-row import list, each reported."""
        me = router.get(f"{BASE}/api/v1/users/self").respond(200, json={"id": 1, "name": "SIS bot"})
        router.get(f"{BASE}/api/v1/accounts/self").respond(200, json={"id": 2, "name": "Example School"})
        imports = router.get(f"{BASE}/api/v1/accounts/self/sis_imports").respond(
            200, json={"sis_imports": []}
        )
        out = io.StringIO()

        code = run_check(config_for(folders), offline=False, out=out, environ=ENV)

        assert code == EXIT_OK
        assert out.getvalue().splitlines()[-3:] == [
            "ok    canvas: token accepted (user 1 SIS bot)",
            "ok    canvas: account self is 'Example School' (id 2)",
            (
                "ok    canvas: this token may list SIS imports on the account "
                "(creating them also needs the import_sis permission, which only an import can prove)"
            ),
        ]
        assert me.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN}"
        assert imports.calls.last.request.url.params["per_page"] == "1"

    def test_rejected_token_is_exit_1(self, folders, router):
        """Canvas refusing the token is a Canvas problem: FAIL line, exit 1, no token in the output."""
        router.get(f"{BASE}/api/v1/users/self").respond(
            401,
            json={"errors": [{"message": "Invalid access token."}]},
            headers={"WWW-Authenticate": "Bearer"},
        )
        out = io.StringIO()

        code = run_check(config_for(folders), offline=False, out=out, environ=ENV)

        assert code == EXIT_FAILURE
        assert out.getvalue().splitlines()[-1] == (
            "FAIL  canvas: Canvas rejected the token (HTTP 401: Invalid access token.)"
        )
        assert TOKEN not in out.getvalue()

    def test_unreachable_canvas_is_exit_1(self, folders, router):
        """A Canvas that cannot be reached is a Canvas problem."""
        import httpx  # noqa: PLC0415 - only this test needs the error class

        router.get(f"{BASE}/api/v1/users/self").mock(side_effect=httpx.ConnectError("refused"))

        out = io.StringIO()

        assert run_check(config_for(folders), offline=False, out=out, environ=ENV) == EXIT_FAILURE
        assert "FAIL  canvas: cannot reach Canvas (ConnectError)" in out.getvalue()

    def test_missing_account_is_exit_1(self, folders, router):
        """A wrong account id (404) fails after the token was accepted."""
        router.get(f"{BASE}/api/v1/users/self").respond(200, json={"id": 1, "name": "SIS bot"})
        router.get(f"{BASE}/api/v1/accounts/self").respond(
            404, json={"errors": [{"message": "The specified resource does not exist."}]}
        )
        out = io.StringIO()

        code = run_check(config_for(folders), offline=False, out=out, environ=ENV)

        assert code == EXIT_FAILURE
        lines = out.getvalue().splitlines()
        assert lines[-2] == "ok    canvas: token accepted (user 1 SIS bot)"
        assert lines[-1].startswith("FAIL  canvas: Canvas refused access to the account")

    def test_user_without_a_name_is_reported_cleanly(self, folders, router):
        """A users/self answer without `name` gives "(user 1)", with no stray space."""
        router.get(f"{BASE}/api/v1/users/self").respond(200, json={"id": 1})
        router.get(f"{BASE}/api/v1/accounts/self").respond(200, json={"id": 2, "name": "School"})
        router.get(f"{BASE}/api/v1/accounts/self/sis_imports").respond(200, json={"sis_imports": []})
        out = io.StringIO()

        run_check(config_for(folders), offline=False, out=out, environ=ENV)

        assert "ok    canvas: token accepted (user 1)\n" in out.getvalue()

    def test_local_problems_skip_the_canvas_check(self, folders, router):
        """With a local problem (no token), Canvas is not asked at all."""
        route = router.route(host="canvas.example.edu").respond(200, json={})

        assert run_check(config_for(folders), offline=False, out=io.StringIO(), environ={}) == EXIT_CONFIG
        assert not route.called


class TestLedger:
    def test_a_ledger_that_is_not_sqlite_warns_offline_and_fails_the_full_check(self, folders):
        """A corrupt ledger is named with the remedy: a warning for ExecStartPre, exit 1 for `check`."""
        ledger = folders.queue.parent / "ledger.sqlite"
        ledger.write_bytes(b"this is not a database, it is an export someone saved here" * 20)
        out = io.StringIO()

        code = run_check(config_for(folders), offline=True, out=out, environ=ENV)

        assert code == EXIT_OK
        [line] = [line for line in out.getvalue().splitlines() if line.startswith("WARN")]
        assert line.startswith(f"WARN  ledger: the ledger {ledger} cannot be used")
        assert "sis-watcher ledger rebuild" in line
        report = CheckReport()
        check_ledger(config_for(folders), report, offline=False)
        assert 1 == report.canvas_problems
        assert report.lines[-1].startswith(f"FAIL  ledger: the ledger {ledger} cannot be used")

    def test_a_sound_ledger_reports_its_batches(self, folders):
        """A ledger SQLite finds sound is ok, with the number of batches it holds."""
        path = folders.queue.parent / "ledger.sqlite"
        Ledger(path).close()
        report = CheckReport()

        check_ledger(config_for(folders), report, offline=False)

        assert [f"ok    ledger: {path} (0 batch(es) applied)"] == report.lines

    def test_a_disabled_ledger_says_so(self, folders):
        """With ledger.enabled false, the check says what is then not done."""
        report = CheckReport()

        check_ledger(config_for(folders, ledger={"enabled": False}), report, offline=True)

        assert report.lines[-1].startswith("ok    ledger: off")
