"""Helpers shared by the deploy tests: where deploy/ is, and the system tools they need."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
PLAIN_UNIT = DEPLOY / "sis-watcher.service"
TEMPLATE_UNIT = DEPLOY / "sis-watcher@.service"
INSTALL_SCRIPT = DEPLOY / "install.sh"
VENV_BINARY = "/opt/sis-watcher/bin/sis-watcher"


def tool(name: str) -> str:
    """Return the path of the command `name`; fail the test (never skip) when it is missing."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} is not installed: the deploy tests need it "
            "(Debian: apt-get install systemd util-linux bash python3-venv)"
        )
    return path


def require_root() -> None:
    """Fail the calling test unless it runs as root (chown to the service user needs it; CI is root)."""
    if os.geteuid() != 0:
        pytest.fail("needs root: creates users and chowns folders inside a temporary root (CI runs as root)")


def run(arguments: list[str], *, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `arguments`, capturing text output, never raising on a non-zero exit."""
    return subprocess.run(arguments, capture_output=True, text=True, check=False, timeout=120, env=env)


def unit_settings(path: Path) -> list[tuple[str, str, str]]:
    """Return (section, key, value) for every setting of the unit file `path`, in order."""
    settings = []
    section = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        settings.append((section, key.strip(), value.strip()))
    return settings


def setting(path: Path, key: str) -> list[str]:
    """Return every value given to `key` in the unit file `path`."""
    return [value for _, name, value in unit_settings(path) if name == key]
