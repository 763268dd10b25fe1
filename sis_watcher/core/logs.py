"""
Logging: one JSON object a line on stdout, or a console renderer on a terminal.

Configured once, first thing in `cli.main`. Every event has `timestamp`, `level` and a stable
dotted `event` name (`batch.sealed`, `upload.retry_scheduled`); facts are fields. Stdlib
loggers (httpx, watchdog) go through the same processors, so every journal line has one shape.
Known secrets (the Canvas token, the SMTP password) are replaced by `[redacted]` in every value
of every event, as a last line of defence behind "never pass a secret to a logger".
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from collections.abc import Iterator, Mapping
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

REDACTED = "[redacted]"
STDLIB_LEVELS = {"httpx": logging.WARNING, "httpcore": logging.WARNING, "watchdog": logging.WARNING}


class SecretRedactor:
    """A structlog processor that replaces registered secrets wherever they appear."""

    def __init__(self) -> None:
        self._secrets: frozenset[str] = frozenset()
        self._lock = threading.Lock()

    def register(self, secret: str) -> None:
        """Add a secret to scrub from every later event (short strings are ignored)."""
        if len(secret) < 4:
            return
        with self._lock:
            self._secrets = self._secrets | {secret}

    def scrub(self, value: Any) -> Any:
        """Return `value` with every registered secret replaced, recursing into containers."""
        if isinstance(value, str):
            for secret in self._secrets:
                if secret in value:
                    value = value.replace(secret, REDACTED)
            return value
        if isinstance(value, Mapping):
            return {key: self.scrub(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.scrub(item) for item in value]
        if isinstance(value, BaseException):
            return self.scrub(f"{value.__class__.__name__}: {value}")
        return value

    def __call__(self, _logger: WrappedLogger, _method_name: str, event_dict: EventDict) -> EventDict:
        if not self._secrets:
            return event_dict
        return {key: self.scrub(value) for key, value in event_dict.items()}


redactor = SecretRedactor()


def register_secret(secret: str) -> None:
    """Never log `secret`: replace it by `[redacted]` in every event from now on."""
    redactor.register(secret)


def rename_stdlib_event(_logger: WrappedLogger, _method_name: str, event_dict: EventDict) -> EventDict:
    """Give stdlib records a dotted event name (`log.httpx`) and keep their text as `message`."""
    record = event_dict.get("_record")
    if isinstance(record, logging.LogRecord) and not event_dict.get("_from_structlog"):
        event_dict["message"] = event_dict.get("event")
        event_dict["event"] = f"log.{record.name.split('.')[0]}"
    return event_dict


# Tracebacks as data, without frame locals: a local variable may hold a secret.
tracebacks = structlog.processors.ExceptionRenderer(
    structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
)


def shared_processors() -> list[Processor]:
    """Return the processors every event goes through, ours and stdlib's alike."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        tracebacks,
    ]


def choose_renderer(fmt: str, stream: TextIO) -> Processor:
    """Return the JSON renderer, or the console one when asked or when `stream` is a terminal."""
    console = fmt == "console" or (fmt == "auto" and stream.isatty())
    if console:
        return structlog.dev.ConsoleRenderer(colors=stream.isatty())
    return structlog.processors.JSONRenderer(sort_keys=False)


def configure(*, fmt: str = "auto", level: str = "info", stream: TextIO | None = None) -> None:
    """Route structlog and stdlib logging to `stream` (stdout) in one format, at `level`."""
    output = stream if stream is not None else sys.stdout
    numeric_level = logging.getLevelNamesMapping()[level.upper()]
    renderer = choose_renderer(fmt, output)
    structlog.configure(
        processors=[*shared_processors(), redactor, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared_processors(), rename_stdlib_event, redactor],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(output)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric_level)
    for name, stdlib_level in STDLIB_LEVELS.items():
        logging.getLogger(name).setLevel(max(stdlib_level, numeric_level))


@contextlib.contextmanager
def configured(*, fmt: str = "auto", level: str = "info", stream: TextIO | None = None) -> Iterator[None]:
    """`configure` for the length of one command, then put back the logging that was there before."""
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, root_level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in STDLIB_LEVELS}
    configure(fmt=fmt, level=level, stream=stream)
    try:
        yield
    finally:
        structlog.configure(**saved)
        root.handlers[:] = handlers
        root.setLevel(root_level)
        for name, stdlib_level in levels.items():
            logging.getLogger(name).setLevel(stdlib_level)


def get_logger(**initial: Any) -> structlog.stdlib.BoundLogger:
    """Return a bound logger; call it with stable dotted event names and fields."""
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(**initial)
    return logger
