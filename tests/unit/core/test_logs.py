"""Unit tests for `sis_watcher.core.logs`: JSON lines, console rendering, stdlib loggers, secret redaction."""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Iterator
from datetime import datetime
from typing import Any, TextIO

import pytest
import structlog

from sis_watcher.core.logs import (
    REDACTED,
    SecretRedactor,
    choose_renderer,
    configure,
    get_logger,
    register_secret,
    rename_stdlib_event,
)

pytestmark = pytest.mark.usefixtures("restore_stdlib_logging")


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.fixture
def stream() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
def terminal() -> Iterator[TextIO]:
    """A text stream on a real pseudo-terminal (isatty() is true)."""
    leader, follower = os.openpty()
    with os.fdopen(follower, "w") as tty:
        yield tty
    os.close(leader)


class TestJson:
    def test_events_are_json_lines_with_timestamp_level_and_event(self, stream):
        """Each event is one JSON object a line with `timestamp` (UTC ISO), `level`, `event` and its fields."""
        configure(fmt="json", level="info", stream=stream)

        get_logger().info("batch.sealed", batch_id="20261127T020000Z-3f9a1c", files=3)
        get_logger().warning("upload.retry_scheduled", retry_num=1)

        first, second = lines(stream)
        assert first["event"] == "batch.sealed"
        assert first["level"] == "info"
        assert first["batch_id"] == "20261127T020000Z-3f9a1c"
        assert first["files"] == 3
        assert first["timestamp"].endswith("Z")
        assert datetime.fromisoformat(first["timestamp"]).tzinfo is not None
        assert (second["event"], second["level"]) == ("upload.retry_scheduled", "warning")

    def test_level_filters_events(self, stream):
        """Events below the configured level are dropped."""
        configure(fmt="json", level="warning", stream=stream)

        get_logger().info("quiet.event")
        get_logger().debug("quieter.event")
        get_logger().error("loud.event")

        assert [line["event"] for line in lines(stream)] == ["loud.event"]

    def test_debug_level_shows_debug(self, stream):
        """At debug level, debug events are written."""
        configure(fmt="json", level="debug", stream=stream)

        get_logger().debug("intake.scanned", files=0)

        assert lines(stream)[0]["level"] == "debug"

    def test_bound_context_is_merged(self, stream):
        """Context bound with contextvars appears in every event inside it."""
        configure(fmt="json", stream=stream)

        with structlog.contextvars.bound_contextvars(batch_id="B1"):
            get_logger().info("archive.written")
        get_logger().info("after")

        inside, after = lines(stream)
        assert inside["batch_id"] == "B1"
        assert "batch_id" not in after

    def test_initial_values_of_get_logger_are_kept(self, stream):
        """Values given to get_logger() are in each event of that logger."""
        configure(fmt="json", stream=stream)

        get_logger(stage="worker").info("stage.started")

        assert lines(stream)[0]["stage"] == "worker"


class TestConsole:
    def test_console_format_is_not_json(self, stream):
        """`format: console` writes human lines naming the event and its fields."""
        configure(fmt="console", stream=stream)

        get_logger().info("batch.sealed", batch_id="B1")

        text = stream.getvalue()
        assert "batch.sealed" in text
        assert "batch_id" in text
        with pytest.raises(json.JSONDecodeError):
            json.loads(text.splitlines()[0])

    def test_auto_chooses_console_on_a_terminal(self, terminal):
        """`format: auto` picks the console renderer when the stream is a terminal."""
        assert isinstance(choose_renderer("auto", terminal), structlog.dev.ConsoleRenderer)

    def test_auto_chooses_json_otherwise(self, stream):
        """`format: auto` picks JSON when the stream is a pipe or file (journald)."""
        assert isinstance(choose_renderer("auto", stream), structlog.processors.JSONRenderer)

    def test_json_is_forced_even_on_a_terminal(self, terminal):
        """`format: json` writes JSON even to a terminal."""
        assert isinstance(choose_renderer("json", terminal), structlog.processors.JSONRenderer)

    def test_configure_on_a_terminal_writes_there(self, terminal):
        """Configuring with a terminal stream sets up console output without error."""
        configure(fmt="auto", stream=terminal)

        get_logger().info("daemon.started")

        assert isinstance(logging.getLogger().handlers[0], logging.StreamHandler)

    def test_default_stream_is_stdout(self, capsys):
        """Without a stream, events go to standard output."""
        configure(fmt="json")

        get_logger().info("to.stdout")

        assert json.loads(capsys.readouterr().out.splitlines()[0])["event"] == "to.stdout"


class TestStdlib:
    def test_stdlib_logger_comes_out_as_json_with_a_dotted_event(self, stream):
        """`logging.getLogger("httpx").warning(...)` becomes event `log.httpx` with its text as `message`."""
        configure(fmt="json", stream=stream)

        logging.getLogger("httpx").warning("connection pool is full, %s", "discarding")

        [line] = lines(stream)
        assert line["event"] == "log.httpx"
        assert line["message"] == "connection pool is full, discarding"
        assert line["level"] == "warning"
        assert "timestamp" in line

    def test_child_logger_is_named_by_its_package(self, stream):
        """A dotted stdlib logger name is reduced to its top package (`log.watchdog`)."""
        configure(fmt="json", stream=stream)

        logging.getLogger("watchdog.observers.inotify").error("inotify watch limit reached")

        assert lines(stream)[0]["event"] == "log.watchdog"

    def test_chatty_libraries_are_held_at_warning(self, stream):
        """httpx's per-request INFO lines are not written, even at debug level."""
        configure(fmt="json", level="debug", stream=stream)

        logging.getLogger("httpx").info('HTTP Request: GET https://x "HTTP/1.1 200 OK"')
        logging.getLogger("httpcore").debug("send_request_headers.started")

        assert stream.getvalue() == ""
        assert logging.getLogger("httpx").level == logging.WARNING

    def test_library_levels_follow_a_stricter_level(self, stream):
        """With level error, library warnings are dropped too."""
        configure(fmt="json", level="error", stream=stream)

        logging.getLogger("httpx").warning("dropped")

        assert stream.getvalue() == ""

    def test_structlog_events_keep_their_names(self):
        """Only foreign stdlib records are renamed; our own events and record-less dicts are untouched."""
        record = logging.LogRecord("httpx", logging.INFO, __file__, 1, "text", None, None)

        assert rename_stdlib_event(None, "info", {"event": "batch.sealed"}) == {"event": "batch.sealed"}
        assert (
            rename_stdlib_event(
                None, "info", {"event": "batch.sealed", "_record": record, "_from_structlog": True}
            )["event"]
            == "batch.sealed"
        )

    def test_handlers_are_replaced_not_added(self, stream):
        """Configuring twice leaves one handler (no duplicate lines)."""
        configure(fmt="json", stream=io.StringIO())
        configure(fmt="json", stream=stream)

        logging.getLogger("other").warning("once")

        assert len(lines(stream)) == 1


class TestRedaction:
    SECRET = "7~redact-me-0123456789abcdef"

    def test_secret_is_redacted_in_values(self, stream):
        """A registered secret is replaced in any string value, even inside a longer text."""
        configure(fmt="json", stream=stream)
        register_secret(self.SECRET)

        get_logger().warning("oops", header=f"Bearer {self.SECRET}", count=3)

        [line] = lines(stream)
        assert line["header"] == f"Bearer {REDACTED}"
        assert line["count"] == 3
        assert self.SECRET not in stream.getvalue()

    def test_secret_is_redacted_in_nested_containers(self, stream):
        """Dicts, lists and tuples are scrubbed recursively."""
        configure(fmt="json", stream=stream)
        register_secret(self.SECRET)

        get_logger().info("nested", data={"a": [1, (self.SECRET, {"b": f"x{self.SECRET}"})]})

        assert lines(stream)[0]["data"] == {"a": [1, [REDACTED, {"b": f"x{REDACTED}"}]]}

    def test_secret_is_redacted_in_exception_values_and_tracebacks(self, stream):
        """An exception passed as a field or logged with its traceback never shows the secret."""
        configure(fmt="json", stream=stream)
        register_secret(self.SECRET)
        error = RuntimeError(f"token {self.SECRET} refused")

        get_logger().error("as.field", caused_by=error)
        try:
            raise error
        except RuntimeError:
            get_logger().exception("with.traceback")

        field_line, traceback_line = lines(stream)
        assert field_line["caused_by"] == f"RuntimeError: token {REDACTED} refused"
        assert traceback_line["exception"][0]["exc_value"] == f"token {REDACTED} refused"
        assert self.SECRET not in stream.getvalue()

    def test_secret_is_redacted_in_stdlib_messages(self, stream):
        """Third-party log lines are scrubbed too."""
        configure(fmt="json", stream=stream)
        register_secret(self.SECRET)

        logging.getLogger("httpx").warning("Authorization: Bearer %s", self.SECRET)

        assert lines(stream)[0]["message"] == f"Authorization: Bearer {REDACTED}"

    def test_short_secrets_are_ignored(self):
        """Strings under four characters are not registered (they would scrub ordinary words)."""
        redactor = SecretRedactor()
        redactor.register("abc")

        assert redactor.scrub("abc abc") == "abc abc"

    def test_redactor_without_secrets_passes_events_through(self):
        """With nothing registered, the event dict is returned as it is."""
        redactor = SecretRedactor()
        event = {"event": "x", "value": object()}

        assert redactor(None, "info", event) is event

    def test_scrub_leaves_other_values_alone(self):
        """Numbers, None and other objects are returned unchanged."""
        redactor = SecretRedactor()
        redactor.register("s3cr3t-value")
        marker = object()

        assert [redactor.scrub(value) for value in (1, 2.5, None, marker)] == [1, 2.5, None, marker]


class TestTracebacks:
    def test_tracebacks_are_data_without_frame_locals(self, stream):
        """Exceptions are rendered as structured frames, and local variables are never included."""
        configure(fmt="json", stream=stream)

        def fail() -> None:
            password = "local-value-9f8e7d"
            raise ValueError(password[:5])

        try:
            fail()
        except ValueError:
            get_logger().exception("stage.crashed")

        [line] = lines(stream)
        [exception] = line["exception"]
        assert exception["exc_type"] == "ValueError"
        assert exception["frames"]
        assert all("locals" not in frame for frame in exception["frames"])
        assert "local-value-9f8e7d" not in stream.getvalue()
        assert line["level"] == "error"
