"""
`sis-watcher check`: is this config ready to run? Offline part first, then Canvas.

Offline (`--offline`, what systemd's ExecStartPre runs): the config parses; the drop folder
exists and this user can list it and move files out of it; queue/, done/ and failed/ exist (or
can be created) and are writable; a token is found. Online: the token is accepted
(`users/self`), the account is there, and the token may list SIS imports on it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from sis_watcher.canvas.client import CanvasClient
from sis_watcher.canvas.credentials import TokenSource
from sis_watcher.config.settings import Config
from sis_watcher.core.errors import CanvasError, TokenUnavailable
from sis_watcher.core.exit_codes import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK
from sis_watcher.ledger.store import Ledger, LedgerUnusable


@dataclass(slots=True)
class CheckReport:
    lines: list[str] = field(default_factory=list)
    config_problems: int = 0
    canvas_problems: int = 0

    def ok(self, text: str) -> None:
        self.lines.append(f"ok    {text}")

    def warn(self, text: str) -> None:
        self.lines.append(f"WARN  {text}")

    def bad(self, text: str, *, canvas: bool = False) -> None:
        self.lines.append(f"FAIL  {text}")
        if canvas:
            self.canvas_problems += 1
        else:
            self.config_problems += 1


def nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_folder(report: CheckReport, name: str, path: Path, *, must_exist: bool) -> None:
    """Report whether `path` exists (or can be created) and is writable by this user."""
    if path.is_dir():
        if os.access(path, os.R_OK | os.W_OK | os.X_OK):
            report.ok(f"folders.{name}: {path}")
        else:
            report.bad(f"folders.{name}: {path} is not readable and writable by this user")
        return
    if path.exists():
        report.bad(f"folders.{name}: {path} is not a folder")
        return
    if must_exist:
        report.bad(f"folders.{name}: {path} does not exist (the daemon waits for it; is the share mounted?)")
        return
    parent = nearest_existing(path)
    if not parent.is_dir():
        report.bad(f"folders.{name}: {path} cannot be created: {parent} is not a folder")
    elif os.access(parent, os.W_OK | os.X_OK):
        report.ok(f"folders.{name}: {path} (will be created)")
    else:
        report.bad(f"folders.{name}: {path} does not exist and {parent} is not writable")


def check_offline(
    config: Config, report: CheckReport, *, environ: dict[str, str] | None = None
) -> TokenSource:
    folders = config.folders
    check_folder(report, "drop", folders.drop, must_exist=True)
    for name in ("queue", "done", "failed"):
        check_folder(report, name, getattr(folders, name), must_exist=False)
    source = TokenSource(token_file=config.canvas.token_file, environ=environ)
    try:
        loaded = source.load()
    except TokenUnavailable as error:
        report.bad(f"token: {error}")
    else:
        report.ok(f"token: found in {loaded.source}")
    return source


def check_ledger(config: Config, report: CheckReport, *, offline: bool) -> None:
    """
    Report whether the ledger can be used (SQLite's own check of the file).

    An unusable ledger is not a config problem: the daemon starts and its batches wait until the
    ledger is fixed, so `check --offline` (systemd's ExecStartPre) only warns; `check` fails (1).
    """
    if not config.ledger.enabled:
        report.ok("ledger: off (ledger.enabled is false): no previews, no hold rules but the shrink rule")
        return
    path = config.ledger_path
    if not path.exists():
        report.ok(f"ledger: {path} (will be created; `sis-watcher ledger rebuild` fills it from done/)")
        return
    try:
        with Ledger(path, read_only=True) as ledger:
            ledger.check()
            batches = ledger.db.execute("SELECT count(*) FROM applied").fetchone()[0]
    except LedgerUnusable as error:
        if offline:
            report.warn(f"ledger: {error}")
        else:
            report.bad(f"ledger: {error}", canvas=True)
        return
    report.ok(f"ledger: {path} ({batches} batch(es) applied)")


def check_canvas(config: Config, source: TokenSource, report: CheckReport) -> None:
    client = CanvasClient(
        base_url=config.canvas.base_url,
        account_id=config.canvas.account_id,
        token_source=source,
        timeout_seconds=min(config.canvas.timeout_seconds, 30.0),
        proxy=config.canvas.proxy,
    )
    try:
        user = client.whoami()
        name = f" {user['name']}" if user.get("name") else ""
        report.ok(f"canvas: token accepted (user {user.get('id')}{name})")
        account = client.get_account()
        report.ok(
            f"canvas: account {config.canvas.account_id} is {account.get('name')!r} (id {account.get('id')})"
        )
        client.get_json(f"{client.account_path}/sis_imports", params={"per_page": "1"})
        report.ok(
            "canvas: this token may list SIS imports on the account "
            "(creating them also needs the import_sis permission, which only an import can prove)"
        )
    except (CanvasError, TokenUnavailable) as error:
        report.bad(f"canvas: {error}", canvas=True)
    finally:
        client.close()


def run_check(config: Config, *, offline: bool, out: TextIO, environ: dict[str, str] | None = None) -> int:
    """Print each check; return 0, EXIT_CONFIG for config problems, EXIT_FAILURE for Canvas or the ledger."""
    report = CheckReport()
    report.ok("config: parsed")
    source = check_offline(config, report, environ=environ)
    check_ledger(config, report, offline=offline)
    if not offline and not report.config_problems:
        check_canvas(config, source, report)
    for line in report.lines:
        print(line, file=out)
    if report.config_problems:
        return EXIT_CONFIG
    return EXIT_FAILURE if report.canvas_problems else EXIT_OK
