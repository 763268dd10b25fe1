"""
The `sis-watcher` command: argument parsing, logging set-up, and exit codes. Nothing else.

Each command is one module in `sis_watcher.commands` (README "Commands"): run, once, validate,
check, status (watch), retry, preview, approve/discard, ledger, rollback, abort, pause/resume,
demo, simulator. Exit codes are in `core.exit_codes`: 0 ok, 1 failure,
2 bad config or usage, 3 killed.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from sis_watcher import __version__
from sis_watcher.config.load import load
from sis_watcher.config.settings import Config
from sis_watcher.core.errors import ConfigError
from sis_watcher.core.exit_codes import EXIT_CONFIG, EXIT_FAILURE

REPORT_COMMANDS = ("validate", "status", "preview")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sis-watcher",
        description="Watch a drop folder for Canvas SIS CSV exports, upload them to Canvas, "
        "and file each batch under done/ or failed/ with Canvas's verdict.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(name: str, text: str) -> argparse.ArgumentParser:
        command = commands.add_parser(name, help=text, description=text)
        command.add_argument("-c", "--config", required=True, type=Path, help="the YAML config file")
        return command

    with_config("run", "run the daemon in the foreground (systemd Type=notify)")
    with_config("once", "seal what is in the drop folder now, process every queued batch, exit")
    check = with_config("check", "check config, folders and token, then the token and account against Canvas")
    check.add_argument("--offline", action="store_true", help="skip the Canvas part (for ExecStartPre=)")
    status = with_config("status", "show the daemon, the queue, the in-flight import, recent batches")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.add_argument(
        "--watch",
        action="store_true",
        help="redraw every few seconds until Ctrl-C (with --json: one line per change)",
    )
    retry = with_config("retry", "put a failed batch back in the queue")
    retry.add_argument("batch_id", metavar="BATCH_ID")
    retry.add_argument("--force", action="store_true", help="send it even if the shrink guard refused it")
    retry.add_argument(
        "--remaster",
        action="store_true",
        help="send it once with diffing_remaster_data_set=true (after Canvas's remaster failure)",
    )
    rollback = with_config(
        "rollback", "undo a done batch's import in Canvas (restore_states) and wait for it"
    )
    rollback.add_argument("batch_id", metavar="BATCH_ID")
    only = rollback.add_mutually_exclusive_group()
    only.add_argument(
        "--batch-mode-only",
        dest="only",
        action="store_const",
        const="batch_mode",
        help="only batch-mode deletions",
    )
    only.add_argument(
        "--undelete-only", dest="only", action="store_const", const="undelete", help="only rows it deleted"
    )
    only.add_argument(
        "--unconclude-only",
        dest="only",
        action="store_const",
        const="unconclude",
        help="only rows it concluded",
    )
    rollback.add_argument(
        "--force",
        action="store_true",
        help="send restore_states again although an earlier request may be queued in Canvas",
    )
    abort = with_config("abort", "abort a batch's in-flight Canvas import; the batch is filed failed")
    abort.add_argument("batch_id", metavar="BATCH_ID")
    pause = with_config("pause", "stop uploads after the import in flight; intake and checks go on")
    pause.add_argument("--reason", default=None, help="shown in status, metrics and alerts")
    with_config("resume", "start uploads again after a pause")
    preview = with_config("preview", "what files would change in Canvas, against the ledger (read-only)")
    preview.add_argument(
        "paths", nargs="*", type=Path, metavar="PATH", help="default: the drop folder's files"
    )
    preview.add_argument("--json", action="store_true", help="machine-readable output")
    for name, text in (
        ("approve", "send a held batch on as it is"),
        ("discard", "file a held batch under failed/"),
    ):
        decide = with_config(name, text)
        decide.add_argument("batch_id", metavar="BATCH_ID")
    ledger = with_config("ledger", "the ledger of what sis-watcher has had imported")
    ledger.add_argument("action", choices=["rebuild"], help="rebuild: make it again from done/")
    validate = commands.add_parser(
        "validate",
        help="offline pre-flight check of CSV files, folders or zips",
        description="offline pre-flight check",
    )
    validate.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    validate.add_argument("--json", action="store_true", help="machine-readable output")
    demo = commands.add_parser("demo", help="the whole pipeline on a temporary folder against the simulator")
    demo.add_argument("--keep", action="store_true", help="keep the temporary folder to look at afterwards")
    simulator = commands.add_parser("simulator", help="run the Canvas simulator alone, on loopback")
    simulator.add_argument("--port", type=int, default=0, help="port to listen on (default: a free one)")
    simulator.add_argument("--token", default=None, help="the token it accepts (default: random, printed)")
    return parser


def load_config(path: Path, err: TextIO) -> Config | None:
    """Load the config, or print every problem by key path and return None."""
    try:
        return load(path)
    except ConfigError as error:
        print(f"{error.source}: configuration error(s):", file=err)
        for problem in error.problems:
            print(f"  {problem}", file=err)
        return None


def run_config_command(config: Config, arguments: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Run a command that needs the config; each command's module is imported only when used."""
    command = arguments.command
    if command in ("run", "once"):
        from sis_watcher.commands.run import run_daemon  # noqa: PLC0415 - keeps `validate` and `--help` fast

        return run_daemon(config, once=command == "once", err=err)
    if command == "check":
        from sis_watcher.commands.check import run_check  # noqa: PLC0415

        return run_check(config, offline=arguments.offline, out=out)
    if command == "status":
        from sis_watcher.commands.status import run_status  # noqa: PLC0415

        if arguments.watch:
            from sis_watcher.commands.watch import run_watch  # noqa: PLC0415

            return run_watch(config, as_json=arguments.json, out=out)
        return run_status(config, as_json=arguments.json, out=out)
    return run_batch_command(config, arguments, out, err)


def run_batch_command(config: Config, arguments: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Run a command about batches or uploads: pause, resume, rollback, abort, then the ledger's."""
    command = arguments.command
    if command in ("pause", "resume"):
        from sis_watcher.commands.pause import run_pause, run_resume  # noqa: PLC0415

        if command == "pause":
            return run_pause(config, reason=arguments.reason, out=out, err=err)
        return run_resume(config, out=out, err=err)
    if command == "rollback":
        from sis_watcher.commands.rollback import run_rollback  # noqa: PLC0415

        return run_rollback(
            config, arguments.batch_id, only=arguments.only, force=arguments.force, out=out, err=err
        )
    if command == "abort":
        from sis_watcher.commands.abort import run_abort  # noqa: PLC0415

        return run_abort(config, arguments.batch_id, out=out, err=err)
    return run_ledger_command(config, arguments, out, err)


def run_ledger_command(config: Config, arguments: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Run a command about held batches or the ledger: preview, approve, discard, ledger, retry."""
    command = arguments.command
    if command == "preview":
        from sis_watcher.commands.preview import run_preview  # noqa: PLC0415

        return run_preview(config, arguments.paths, as_json=arguments.json, out=out, err=err)
    if command in ("approve", "discard"):
        from sis_watcher.commands.decide import run_decide  # noqa: PLC0415

        return run_decide(config, arguments.batch_id, command, out=out, err=err)
    if command == "ledger":
        from sis_watcher.commands.ledger import run_ledger  # noqa: PLC0415

        return run_ledger(config, arguments.action, out=out, err=err)
    from sis_watcher.commands.retry import run_retry  # noqa: PLC0415

    return run_retry(
        config, arguments.batch_id, force=arguments.force, remaster=arguments.remaster, out=out, err=err
    )


def command_with_config(arguments: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    config = load_config(arguments.config, err)
    if config is None:
        return EXIT_CONFIG
    return run_config_command(config, arguments, out, err)


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run the command line; return the exit code."""
    out = out or sys.stdout
    err = err or sys.stderr
    arguments = build_parser().parse_args(argv)
    if arguments.command in REPORT_COMMANDS and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `validate ... | head` ends quietly
    if arguments.command == "validate":
        from sis_watcher.commands.validate import run_validate  # noqa: PLC0415

        return run_validate(arguments.paths, as_json=arguments.json, out=out)
    if arguments.command == "demo":
        from sis_watcher.commands.demo import run_demo  # noqa: PLC0415

        return run_demo(keep=arguments.keep, out=out)
    if arguments.command == "simulator":
        from sis_watcher.commands.simulator import run_simulator  # noqa: PLC0415

        if arguments.port < 0 or arguments.port > 65535:
            print("sis-watcher simulator: --port must be 0..65535", file=err)
            return EXIT_CONFIG
        return run_simulator(host="127.0.0.1", port=arguments.port, token=arguments.token)
    try:
        return command_with_config(arguments, out, err)
    except KeyboardInterrupt:  # pragma: no cover - interactive only
        return EXIT_FAILURE
