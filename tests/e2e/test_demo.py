"""`sis-watcher demo`, the first command of the README's quick start, run as a user would."""

from __future__ import annotations

from support import run_command


def test_demo_runs_three_exports_to_their_expected_ends_and_exits_zero(tmp_path):
    """The demo imports a clean export, one with warnings, files a rejected one, and exits 0."""
    result = run_command("demo", cwd=tmp_path, timeout=90)

    assert 0 == result.returncode, result.stdout + result.stderr
    output = result.stdout
    assert "demo finished: every batch ended where it should" in output
    assert 2 == output.count("under done/")
    assert 1 == output.count("under failed/")
    assert "Couldn't find Canvas CSV import headers" in output
    assert "the temporary folders were removed" in output
