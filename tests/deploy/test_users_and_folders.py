"""sysusers.d and tmpfiles.d files, applied for real inside a temporary root."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from deploy.helpers import DEPLOY, require_root, run, tool

ACL_XATTR = "system.posix_acl_default"


def account(root: Path, database: str, name: str) -> list[str]:
    """Return the fields of `name` in root's /etc/passwd or /etc/group, or fail."""
    for line in (root / "etc" / database).read_text(encoding="utf-8").splitlines():
        fields = line.split(":")
        if fields[0] == name:
            return fields
    pytest.fail(f"{name} not in {database}")


def owner_mode(path: Path) -> tuple[int, int, int]:
    """Return (uid, gid, permission bits including setgid) of `path`."""
    status = path.stat()
    return status.st_uid, status.st_gid, stat.S_IMODE(status.st_mode)


@pytest.fixture
def applied_root(tmp_path: Path) -> Path:
    """A root where sis-watcher.conf and an instance `test` were applied by sysusers and tmpfiles."""
    require_root()
    root = tmp_path / "root"
    (root / "etc" / "tmpfiles.d").mkdir(parents=True)
    for kind in ("sysusers.d", "tmpfiles.d"):
        target = root / "usr" / "local" / "lib" / kind
        target.mkdir(parents=True)
        shutil.copy(DEPLOY / kind / "sis-watcher.conf", target)
    template = (DEPLOY / "tmpfiles.d" / "sis-watcher-instance.conf.in").read_text(encoding="utf-8")
    (root / "etc" / "tmpfiles.d" / "sis-watcher-test.conf").write_text(
        template.replace("@INSTANCE@", "test"), encoding="utf-8"
    )
    sysusers = run([tool("systemd-sysusers"), f"--root={root}", "sis-watcher.conf"])
    assert sysusers.returncode == 0, sysusers.stderr
    tmpfiles = run(
        [tool("systemd-tmpfiles"), "--create", f"--root={root}", "sis-watcher.conf", "sis-watcher-test.conf"]
    )
    assert (tmpfiles.returncode, tmpfiles.stderr) == (0, "")
    return root


class TestSysusers:
    def test_system_user(self, applied_root: Path) -> None:
        """sysusers creates a system user and group sis-watcher that cannot log in."""
        _, _, uid, gid, _, home, shell = account(applied_root, "passwd", "sis-watcher")
        group = account(applied_root, "group", "sis-watcher")

        assert int(uid) < 1000
        assert gid == group[2]
        assert (home, shell) == ("/", "/usr/sbin/nologin")


class TestTmpfiles:
    @pytest.mark.parametrize(
        "state", ["var/lib/sis-watcher", "var/lib/sis-watcher/test"], ids=["plain", "test"]
    )
    def test_folders(self, applied_root: Path, state: str) -> None:
        """The daemon owns its folders; the drop folder is group-writable and setgid; root owns the parent."""
        uid = int(account(applied_root, "passwd", "sis-watcher")[2])
        gid = int(account(applied_root, "group", "sis-watcher")[2])
        folder = applied_root / state

        assert owner_mode(folder) == (0, gid, 0o750)
        assert owner_mode(folder / "drop") == (uid, gid, 0o2770)
        for name in ("queue", "done", "failed"):
            assert owner_mode(folder / name) == (uid, gid, 0o750)

    def test_config_folder(self, applied_root: Path) -> None:
        """/etc/sis-watcher belongs to root and is readable by the daemon's group only."""
        gid = int(account(applied_root, "group", "sis-watcher")[2])

        assert owner_mode(applied_root / "etc" / "sis-watcher") == (0, gid, 0o750)

    @pytest.mark.parametrize(
        "state", ["var/lib/sis-watcher", "var/lib/sis-watcher/test"], ids=["plain", "test"]
    )
    def test_drop_default_acl(self, applied_root: Path, state: str) -> None:
        """A file dropped with umask 077 is still readable by the daemon's group."""
        drop = applied_root / state / "drop"
        previous = os.umask(0o077)
        try:
            (drop / "users.csv").write_text("user_id\n", encoding="utf-8")
        finally:
            os.umask(previous)

        assert os.getxattr(drop, ACL_XATTR)
        assert stat.S_IMODE((drop / "users.csv").stat().st_mode) == 0o640
        assert (drop / "users.csv").stat().st_gid == int(account(applied_root, "group", "sis-watcher")[2])

    def test_idempotent(self, applied_root: Path) -> None:
        """Applying the files again changes nothing and reports nothing."""
        before = owner_mode(applied_root / "var" / "lib" / "sis-watcher" / "drop")

        sysusers = run([tool("systemd-sysusers"), f"--root={applied_root}", "sis-watcher.conf"])
        tmpfiles = run([tool("systemd-tmpfiles"), "--create", f"--root={applied_root}", "sis-watcher.conf"])

        assert (sysusers.returncode, sysusers.stdout, sysusers.stderr) == (0, "", "")
        assert (tmpfiles.returncode, tmpfiles.stderr) == (0, "")
        assert owner_mode(applied_root / "var" / "lib" / "sis-watcher" / "drop") == before

    def test_nothing_is_ever_cleaned(self) -> None:
        """No tmpfiles line has an Age, so systemd-tmpfiles --clean never deletes a batch."""
        lines = []
        for name in ("sis-watcher.conf", "sis-watcher-instance.conf.in"):
            text = (DEPLOY / "tmpfiles.d" / name).read_text(encoding="utf-8")
            lines += [line.split() for line in text.splitlines() if line and not line.startswith("#")]

        assert lines
        assert {fields[5] for fields in lines} == {"-"}
