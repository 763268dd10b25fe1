"""
Alert delivery: the `Alert` value, the `Channel` seam, a `Courier` per channel, and dedupe.

A `Courier` owns one channel's bounded queue and sender thread. `offer` never blocks: a full
queue (or a closed courier) drops the alert with an `alert.dropped` event. The thread sends each
alert in order on its `RetryPolicy` (the same backoff vocabulary as every retry loop: exponential,
capped, at most `max_attempts` tries), and stops early on an error the channel calls permanent.
It logs `alert.sent`, `alert.retry_scheduled` and `alert.failed` with the alert's kind, channel
and batch id, and the cause as `Class: message` (channels keep secrets out of their messages;
the log redactor is the last line of defence). `close` then `join(timeout)` flush what is
queued and abandon the rest.

`OnceOnly` remembers which alerts went out (at most one per event) and numbers the episodes of
a lasting problem (a pause, an intake problem) so each gets one alert and one recovery alert.
"""

from __future__ import annotations

import queue
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from sis_watcher.core.backoff import RetryPolicy
from sis_watcher.core.logs import get_logger

log = get_logger()
LINE_CHARS = 600
REMEMBERED_KEYS = 10_000
MAX_BACKOFF_SECONDS = 60.0


def delivery_policy(*, attempts: int, backoff_seconds: float) -> RetryPolicy:
    """Return the policy of one alert's delivery: `attempts` tries, `backoff_seconds` doubled per retry."""
    return RetryPolicy(
        initial_seconds=backoff_seconds,
        max_backoff_seconds=MAX_BACKOFF_SECONDS,
        max_elapsed_seconds=float("inf"),
        jitter_seconds=0.0,
        max_attempts=attempts,
    )


class Channel(Protocol):
    name: str

    def preflight(self) -> str | None: ...
    def send(self, *, subject: str, text: str, fields: Mapping[str, Any]) -> None: ...
    def is_permanent(self, error: Exception) -> bool: ...
    def close(self) -> None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Alert:
    """One alert, ready to send: `text` for people, `fields` for machines."""

    kind: str
    subject: str
    text: str
    fields: Mapping[str, Any] = field(default_factory=dict)


def clip(text: object, *, limit: int = LINE_CHARS) -> str:
    """Return `text` as one string of at most `limit` characters."""
    value = str(text)
    return value if len(value) <= limit else value[: limit - 1] + "…"


class Courier:
    """One channel's bounded queue and sender thread (`start`, `offer`, `close`, `join`)."""

    def __init__(self, channel: Channel, *, policy: RetryPolicy, queue_size: int) -> None:
        self.channel = channel
        self.policy = policy
        self.queue_size = queue_size
        self.pending: queue.Queue[Alert | None] = queue.Queue()
        self.lock = threading.Lock()
        self.closed = False
        self.abandon = threading.Event()
        self.thread = threading.Thread(target=self.run, name=f"alerts-{channel.name}", daemon=True)

    def note(self, alert: Alert, **facts: Any) -> dict[str, Any]:
        """Return the fields of an `alert.*` event about `alert` on this channel."""
        return {
            "alert": alert.kind,
            "channel": self.channel.name,
            "batch_id": alert.fields.get("batch_id"),
            **facts,
        }

    def offer(self, alert: Alert) -> None:
        """Queue `alert` without blocking; drop it (logged) if the queue is full or closed."""
        with self.lock:
            full = self.pending.qsize() >= self.queue_size
            if not self.closed and not full:
                self.pending.put(alert)
                return
        log.error("alert.dropped", **self.note(alert, reason="stopped" if self.closed else "queue full"))

    def deliver(self, alert: Alert) -> None:
        """Send `alert`, retrying with backoff; log how it ended."""
        attempt = 0
        while True:
            attempt += 1
            try:
                self.channel.send(subject=alert.subject, text=alert.text, fields=alert.fields)
            except Exception as error:
                cause = clip(f"{error.__class__.__name__}: {error}")
                gives_up = self.policy.gives_up(attempts=attempt, elapsed_seconds=0.0)
                if gives_up or self.channel.is_permanent(error):
                    log.error("alert.failed", **self.note(alert, attempts=attempt, caused_by=cause))
                    return
                wait = self.policy.backoff(attempt)
                log.warning(
                    "alert.retry_scheduled",
                    **self.note(alert, retry_num=attempt, wait_for=wait, caused_by=cause),
                )
                if self.abandon.wait(wait):
                    log.error("alert.dropped", **self.note(alert, reason="shutdown", attempts=attempt))
                    return
            else:
                log.info("alert.sent", **self.note(alert, attempts=attempt))
                return

    def run(self) -> None:
        """The sender thread: deliver alerts in order until the close marker, then close the channel."""
        try:
            while (alert := self.pending.get()) is not None:
                if self.abandon.is_set():
                    log.error("alert.dropped", **self.note(alert, reason="shutdown"))
                else:
                    self.deliver(alert)
        finally:
            self.channel.close()

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        """Accept nothing more; the thread ends after sending what is queued."""
        with self.lock:
            self.closed = True
            self.pending.put(None)

    def join(self, timeout: float) -> bool:
        """Wait up to `timeout` for the queue to drain; else abandon it. Return True if drained."""
        if self.thread.ident is None:
            drained = self.pending.qsize() <= 1
            self.abandon.set()
            self.run()
            return drained
        self.thread.join(max(timeout, 0.0))
        if self.thread.is_alive():
            self.abandon.set()
            return False
        return True


class OnceOnly:
    """Thread-safe memory of sent alert keys (the newest `REMEMBERED_KEYS`) and open episodes."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sent_keys: OrderedDict[tuple[str, ...], None] = OrderedDict()
        self.episodes: dict[str, int] = {}
        self.episode_count = 0

    def claim(self, key: tuple[str, ...]) -> bool:
        """Return True the first time `key` is seen (the alert should go), False after."""
        with self.lock:
            if key in self.sent_keys:
                return False
            self.sent_keys[key] = None
            if len(self.sent_keys) > REMEMBERED_KEYS:
                self.sent_keys.popitem(last=False)
            return True

    def episode(self, kind: str, *, begin: bool) -> int | None:
        """Return the number of the open `kind` problem, opening one if `begin`, else closing it."""
        with self.lock:
            if not begin:
                return self.episodes.pop(kind, None)
            if kind not in self.episodes:
                self.episode_count += 1
                self.episodes[kind] = self.episode_count
            return self.episodes[kind]
