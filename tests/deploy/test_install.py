"""deploy/install.sh, run end to end into a temporary root (--root), never on the real system."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from deploy.helpers import DEPLOY, INSTALL_SCRIPT, require_root, run, tool

EXAMPLE_CONFIG = """\
canvas:
  base_url: https://school.instructure.com
folders:
  drop: /var/lib/sis-watcher/drop
  queue: /var/lib/sis-watcher/queue
  done: /var/lib/sis-watcher/done
  failed: /var/lib/sis-watcher/failed
"""

# A stand-in for the real CLI: prints how it was called, and fails `check` on a config whose path
# contains "broken". The real package needs the network (build backend and dependencies).
STUB_CLI = """\
import sys


def main():
    print("stub sis-watcher {marker}:", " ".join(sys.argv[1:]))
    broken = sys.argv[1] == "check" and "broken" in sys.argv[3]
    return 2 if broken else 0
"""


def stub_wheel(directory: Path, marker: str) -> Path:
    """Write a wheel named like the real one (sis-watcher 0.1.0) whose CLI prints `marker`."""
    info = "sis_watcher-0.1.0.dist-info"
    files = {
        "sis_watcher/__init__.py": b"",
        "sis_watcher/cli.py": STUB_CLI.format(marker=marker).encode(),
        f"{info}/METADATA": b"Metadata-Version: 2.1\nName: sis-watcher\nVersion: 0.1.0\n",
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{info}/entry_points.txt": b"[console_scripts]\nsis-watcher = sis_watcher.cli:main\n",
    }
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "sis_watcher-0.1.0-py3-none-any.whl"
    records = []
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            records.append(f"{name},sha256={digest},{len(data)}\n")
        archive.writestr(f"{info}/RECORD", "".join(records) + f"{info}/RECORD,,\n")
    return path


def install(root: Path, package: Path, example: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """Run install.sh into `root`, offline (pip may not reach an index), with this test's Python."""
    environment = {**os.environ, "PIP_NO_INDEX": "1"}
    environment.pop("DESTDIR", None)
    arguments = [tool("bash"), str(INSTALL_SCRIPT), f"--root={root}", f"--python={sys.executable}"]
    return run([*arguments, f"--config-example={example}", *options, str(package)], env=environment)


def group_id(root: Path) -> int:
    """Return the gid of sis-watcher in root's /etc/group."""
    for line in (root / "etc" / "group").read_text(encoding="utf-8").splitlines():
        name, _, gid, _ = line.split(":")
        if name == "sis-watcher":
            return int(gid)
    pytest.fail("no sis-watcher group")


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """A config.example.yaml using the folders the units expect."""
    path = tmp_path / "config.example.yaml"
    path.write_text(EXAMPLE_CONFIG, encoding="utf-8")
    return path


class TestInstall:
    def test_install_twice(self, tmp_path: Path, example: Path) -> None:
        """A first run installs everything; a second one keeps the config and replaces the code."""
        require_root()
        root = tmp_path / "root"
        first = install(root, stub_wheel(tmp_path / "one", "one"), example)
        assert first.returncode == 0, first.stdout + first.stderr
        config = root / "etc" / "sis-watcher" / "config.yaml"
        config.write_text(EXAMPLE_CONFIG + "# edited by the admin\n", encoding="utf-8")

        second = install(root, stub_wheel(tmp_path / "two", "two"), example)

        assert second.returncode == 0, second.stdout + second.stderr
        for name in ("sis-watcher.service", "sis-watcher@.service"):
            assert (root / "usr/local/lib/systemd/system" / name).read_bytes() == (DEPLOY / name).read_bytes()
        assert (root / "usr/local/lib/sysusers.d/sis-watcher.conf").is_file()
        assert (root / "usr/local/lib/tmpfiles.d/sis-watcher.conf").is_file()
        assert stat.S_IMODE((root / "var/lib/sis-watcher/drop").stat().st_mode) == 0o2770
        assert config.read_text(encoding="utf-8").endswith("# edited by the admin\n")
        assert (config.stat().st_uid, config.stat().st_gid) == (0, group_id(root))
        assert stat.S_IMODE(config.stat().st_mode) == 0o640
        wants = root / "etc/systemd/system/multi-user.target.wants/sis-watcher.service"
        assert str(wants.readlink()) == "/usr/local/lib/systemd/system/sis-watcher.service"
        assert f"stub sis-watcher one: check -c {config} --offline" in first.stdout
        assert f"stub sis-watcher two: check -c {config} --offline" in second.stdout
        assert "reusing the venv" in second.stdout
        assert f"keeping {config}" in second.stdout
        assert "put it in /etc/sis-watcher/canvas-token" in second.stdout

    def test_instances(self, tmp_path: Path, example: Path) -> None:
        """--instance sets up template instances; one failing the check is left disabled, exit 1."""
        require_root()
        root = tmp_path / "root"

        result = install(
            root, stub_wheel(tmp_path / "wheel", "one"), example, "--instance", "test", "--instance", "broken"
        )

        assert result.returncode == 1, result.stdout + result.stderr
        wants = root / "etc/systemd/system/multi-user.target.wants"
        assert sorted(path.name for path in wants.iterdir()) == ["sis-watcher@test.service"]
        test_config = (root / "etc/sis-watcher/test.yaml").read_text(encoding="utf-8")
        assert "drop: /var/lib/sis-watcher/test/drop" in test_config
        assert "failed: /var/lib/sis-watcher/test/failed" in test_config
        assert (root / "etc/tmpfiles.d/sis-watcher-test.conf").is_file()
        assert stat.S_IMODE((root / "var/lib/sis-watcher/broken/drop").stat().st_mode) == 0o2770
        assert f"the offline check of {root}/etc/sis-watcher/broken.yaml failed" in result.stderr
        assert "put it in /etc/sis-watcher/test.canvas-token" in result.stdout
        assert not (root / "etc/sis-watcher/config.yaml").exists()

    def test_dry_run_changes_nothing(self, tmp_path: Path, example: Path) -> None:
        """--dry-run prints every step, including the check as the service user, and writes nothing."""
        environment = {**os.environ, "PIP_NO_INDEX": "1"}
        package = stub_wheel(tmp_path / "wheel", "one")
        root = tmp_path / "root"
        root.mkdir()

        staged = run(
            [tool("bash"), str(INSTALL_SCRIPT), "--dry-run", f"--root={root}", str(package)], env=environment
        )
        real = run(
            [tool("bash"), str(INSTALL_SCRIPT), "--dry-run", f"--config-example={example}", str(package)]
        )

        assert staged.returncode == 0, staged.stderr
        assert list(root.iterdir()) == []
        assert f"+ systemd-sysusers --root={root} sis-watcher.conf" in staged.stdout
        assert real.returncode == 0, real.stderr
        check = "+ runuser -u sis-watcher -- /opt/sis-watcher/bin/sis-watcher check -c /etc/sis-watcher/config.yaml --offline"
        assert check in real.stdout
        assert "+ systemd-tmpfiles --create sis-watcher.conf" in real.stdout

    @pytest.mark.parametrize(
        "arguments", [["--bogus"], ["--instance", "a/b"], ["--instance"], ["one.whl", "two.whl"]]
    )
    def test_usage_errors(self, arguments: list[str]) -> None:
        """Unknown options, bad instance names and a missing value exit 2 before doing anything."""
        result = run([tool("bash"), str(INSTALL_SCRIPT), "--dry-run", *arguments])

        assert result.returncode == 2
        assert "see --help" in result.stderr

    def test_help(self) -> None:
        """--help prints the usage from the script's header."""
        result = run([tool("bash"), str(INSTALL_SCRIPT), "--help"])

        assert result.returncode == 0
        assert "deploy/install.sh [OPTIONS] [PACKAGE]" in result.stdout

    def test_shellcheck(self) -> None:
        """install.sh passes shellcheck (.ci/run installs it)."""
        shellcheck = shutil.which("shellcheck")
        if shellcheck is None:
            pytest.fail("shellcheck is not installed: apt-get install shellcheck (.ci/run does)")

        result = run([shellcheck, str(INSTALL_SCRIPT)])

        assert (result.returncode, result.stdout) == (0, "")
