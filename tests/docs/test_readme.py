"""The README stays in step with the code: every event the daemon logs is in its catalogue."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOG_METHODS = {"debug", "info", "warning", "error", "exception", "critical"}


def is_event_name(value: object, pattern: str = r"[a-z_]+\.[a-z_.]+") -> bool:
    return isinstance(value, str) and re.fullmatch(pattern, value) is not None


def logged_events() -> set[str]:
    """Return every dotted event name passed as a literal to a logger in the package."""
    names: set[str] = set()
    for path in (ROOT / "sis_watcher").rglob("*.py"):
        if "simulator" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
                argument = node.args[0]
                literal = argument.value if isinstance(argument, ast.Constant) else None
                if node.func.attr in LOG_METHODS and is_event_name(literal):
                    names.add(str(literal))
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.IfExp):
                for branch in (node.value.body, node.value.orelse):
                    literal = branch.value if isinstance(branch, ast.Constant) else None
                    if is_event_name(literal, r"intake\.[a-z_]+"):
                        names.add(str(literal))
    return names


def test_every_logged_event_is_in_the_readme_catalogue():
    """A new event name without a line in the README's event catalogue fails this test."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    catalogue = readme[readme.index("### Event catalogue") :]

    missing = sorted(name for name in logged_events() if f"`{name}`" not in catalogue)

    assert [] == missing


def test_the_catalogue_knows_the_core_events():
    """The scan itself finds the events the design names, so it cannot pass by finding nothing."""
    events = logged_events()

    assert {"batch.sealed", "upload.started", "import.finished", "upload.paused"} <= events
    assert {"intake.observer_started", "intake.observer_restarted"} <= events
