"""`read_json_document`: every way a small state file can be corrupt is one error naming it."""

from __future__ import annotations

import pytest

from sis_watcher.core.durable import DocumentUnreadable, read_json_document
from sis_watcher.schedule.pause_file import ALERTED_NAME, alerted_since


@pytest.mark.parametrize(
    ("content", "cause"),
    [
        (b"[" * 100_000, "RecursionError"),
        (b"\xff\xfe", "UnicodeDecodeError"),
        (b"{not json", "JSONDecodeError"),
    ],
)
def test_a_corrupt_file_is_one_error_naming_it(tmp_path, content, cause):
    """Nested too deep, not UTF-8, not JSON: DocumentUnreadable with the path and the cause."""
    path = tmp_path / "state.json"
    path.write_bytes(content)

    with pytest.raises(DocumentUnreadable) as caught:
        read_json_document(path)

    assert caught.value.path == path
    assert caught.value.problem.startswith(cause)
    assert str(path) in str(caught.value)


def test_a_folder_is_unreadable_and_a_missing_file_is_not_found(tmp_path):
    """A path that is a folder is DocumentUnreadable (an OSError); an absent one FileNotFoundError."""
    with pytest.raises(DocumentUnreadable):
        read_json_document(tmp_path)
    with pytest.raises(FileNotFoundError):
        read_json_document(tmp_path / "absent.json")
    (tmp_path / "ok.json").write_text('{"since": "x"}', encoding="utf-8")
    assert read_json_document(tmp_path / "ok.json") == {"since": "x"}


def test_a_deeply_nested_pause_alert_record_counts_as_none(tmp_path):
    """`.pause-alerted.json` nested too deep: no alert remembered (it alerts again), no crash."""
    (tmp_path / ALERTED_NAME).write_text("[" * 100_000, encoding="utf-8")

    assert alerted_since(tmp_path) is None
