"""The systemd units: systemd-analyze verify and security, and the settings the daemon relies on."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from deploy.helpers import PLAIN_UNIT, TEMPLATE_UNIT, VENV_BINARY, run, setting, tool, unit_settings

MAX_EXPOSURE = 1.5

# The CLI contract (README, "Running under systemd"): the offline check before the daemon, both on the same config.
EXEC_LINES = {
    PLAIN_UNIT: (
        f"{VENV_BINARY} check -c /etc/sis-watcher/config.yaml --offline",
        f"{VENV_BINARY} run -c /etc/sis-watcher/config.yaml",
    ),
    TEMPLATE_UNIT: (
        f"{VENV_BINARY} check -c /etc/sis-watcher/%i.yaml --offline",
        f"{VENV_BINARY} run -c /etc/sis-watcher/%i.yaml",
    ),
}

# What the daemon's contract needs from systemd, and the sandbox: removing a line fails here even
# when the exposure rating stays under MAX_EXPOSURE.
REQUIRED = {
    "Type": "notify",
    "NotifyAccess": "main",
    "WatchdogSec": "60s",
    "Restart": "on-failure",
    "RestartPreventExitStatus": "2",
    "TimeoutStopSec": "30s",
    "StartLimitBurst": "5",
    "User": "sis-watcher",
    "Group": "sis-watcher",
    "UMask": "0027",
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "PrivateUsers": "yes",
    "PrivateMounts": "yes",
    "DevicePolicy": "closed",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectKernelLogs": "yes",
    "ProtectControlGroups": "yes",
    "ProtectClock": "yes",
    "ProtectHostname": "yes",
    "ProtectProc": "invisible",
    "ProcSubset": "pid",
    "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
    "RestrictNamespaces": "yes",
    "RestrictRealtime": "yes",
    "RestrictSUIDSGID": "yes",
    "LockPersonality": "yes",
    "MemoryDenyWriteExecute": "yes",
    "SystemCallArchitectures": "native",
    "CapabilityBoundingSet": "",
    "AmbientCapabilities": "",
    "KeyringMode": "private",
    "RemoveIPC": "yes",
}


def verify(unit: Path) -> tuple[int, str]:
    """
    Run `systemd-analyze verify unit` and return its exit status and output.

    verify insists that ExecStart= binaries exist, and systemd 252 ignores --root= for that check,
    so it runs in a private mount namespace with a tmpfs on /opt holding a stand-in
    /opt/sis-watcher/bin/sis-watcher: the shipped unit is verified as it is, and the real /opt is
    never touched.
    """
    analyze = tool("systemd-analyze")
    unshare = [tool("unshare"), "--mount", "--propagation", "private"]
    if os.geteuid() != 0:
        unshare.append("--map-root-user")
    script = (
        'mount -t tmpfs tmpfs /opt && mkdir -p "${1%/*}" && printf "#!/bin/sh\\n" > "$1" '
        '&& chmod 0755 "$1" && exec "$2" verify "$3"'
    )
    result = run([*unshare, "sh", "-c", script, "sh", VENV_BINARY, analyze, str(unit)])
    return result.returncode, result.stdout + result.stderr


def exposure(unit: Path) -> float:
    """Return the "Overall exposure level" systemd-analyze security --offline=yes gives `unit`."""
    result = run([tool("systemd-analyze"), "security", "--offline=yes", "--no-pager", str(unit)])
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert match, f"no exposure level in:\n{result.stdout}{result.stderr}"
    return float(match.group(1))


@pytest.fixture
def instance_unit(tmp_path: Path) -> Path:
    """The template as the instance sis-watcher@production.service (verify finds the template beside it)."""
    shutil.copy(TEMPLATE_UNIT, tmp_path / TEMPLATE_UNIT.name)
    return tmp_path / "sis-watcher@production.service"


class TestSystemdAnalyze:
    @pytest.mark.parametrize("unit", [PLAIN_UNIT, TEMPLATE_UNIT], ids=["plain", "template"])
    def test_verify_clean(self, unit: Path) -> None:
        """systemd-analyze verify accepts the unit without a single warning."""
        status, output = verify(unit)

        assert (status, output) == (0, "")

    def test_verify_instance_clean(self, instance_unit: Path) -> None:
        """systemd-analyze verify accepts the template instantiated as sis-watcher@production."""
        status, output = verify(instance_unit)

        assert (status, output) == (0, "")

    @pytest.mark.parametrize("unit", [PLAIN_UNIT, TEMPLATE_UNIT], ids=["plain", "template"])
    def test_exposure(self, unit: Path) -> None:
        """systemd-analyze security --offline=yes rates the unit at most 1.5."""
        level = exposure(unit)
        print(f"{unit.name}: overall exposure level {level}")

        assert level <= MAX_EXPOSURE

    def test_exposure_instance(self, instance_unit: Path) -> None:
        """The instance sis-watcher@production is rated like the template."""
        shutil.copy(TEMPLATE_UNIT, instance_unit)

        assert exposure(instance_unit) == exposure(TEMPLATE_UNIT)


class TestSettings:
    @pytest.mark.parametrize("unit", [PLAIN_UNIT, TEMPLATE_UNIT], ids=["plain", "template"])
    def test_exec_lines(self, unit: Path) -> None:
        """ExecStartPre= runs the offline check and ExecStart= the daemon, on the unit's config."""
        expected_pre, expected_start = EXEC_LINES[unit]

        assert setting(unit, "ExecStartPre") == [expected_pre]
        assert setting(unit, "ExecStart") == [expected_start]

    @pytest.mark.parametrize("unit", [PLAIN_UNIT, TEMPLATE_UNIT], ids=["plain", "template"])
    @pytest.mark.parametrize(("key", "value"), REQUIRED.items())
    def test_required_setting(self, unit: Path, key: str, value: str) -> None:
        """Each setting the daemon and the sandbox rely on is present with its value."""
        assert value in setting(unit, key)

    @pytest.mark.parametrize(
        ("unit", "credential", "writable"),
        [
            (PLAIN_UNIT, "canvas-token:/etc/sis-watcher/canvas-token", "-/var/lib/sis-watcher"),
            (TEMPLATE_UNIT, "canvas-token:/etc/sis-watcher/%i.canvas-token", "-/var/lib/sis-watcher/%i"),
        ],
        ids=["plain", "template"],
    )
    def test_paths(self, unit: Path, credential: str, writable: str) -> None:
        """The token comes as the canvas-token credential, and one folder holds all writable state."""
        assert setting(unit, "LoadCredential") == [credential]
        assert setting(unit, "ReadWritePaths") == [writable]

    def test_template_matches_plain_unit(self) -> None:
        """The template is the plain unit with instance paths: no setting drifts between them."""
        substitutions = [
            ("/etc/sis-watcher/config.yaml", "/etc/sis-watcher/%i.yaml"),
            ("/etc/sis-watcher/canvas-token", "/etc/sis-watcher/%i.canvas-token"),
            ("-/var/lib/sis-watcher", "-/var/lib/sis-watcher/%i"),
            ("sis-watcher: Canvas", "sis-watcher %i: Canvas"),
        ]
        expected = []
        for section, key, value in unit_settings(PLAIN_UNIT):
            for old, new in substitutions:
                value = value.replace(old, new)  # noqa: PLW2901 (rewriting the copy is the point)
            expected.append((section, key, value))

        assert unit_settings(TEMPLATE_UNIT) == expected
