"""The version is written once, in the package; the installed distribution reads it from there."""

from __future__ import annotations

from importlib.metadata import version

import pytest

import sis_watcher
from sis_watcher.cli import main


def test_the_installed_version_is_the_packages(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--version"])

    assert 0 == exited.value.code
    assert version("sis-watcher") == sis_watcher.__version__
    assert f"sis-watcher {sis_watcher.__version__}" in capsys.readouterr().out
