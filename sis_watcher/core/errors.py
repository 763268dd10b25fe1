"""
The exception tree of sis-watcher.

Retry and done/failed decisions read the class, never a status code::

    SisWatcherError
    ├── ConfigError              startup only -> exit 2, every problem with its key path
    ├── TokenUnavailable         no token found in any source -> exit 2 / uploads pause
    ├── LockHeld                 another instance owns the queue folder -> exit 2
    ├── RetryRefused             `retry` of a batch that is not in failed/ -> exit 2
    ├── CanvasError              anything Canvas (or the way to it) said
    │   ├── CanvasUnavailable    retryable: transport errors, timeouts, 5xx, 429, 403 throttling
    │   │   ├── CanvasProtocolError  an answer we cannot read (not JSON, missing id)
    │   │   └── LookupRefused    a look-up (GET) answered 4xx: a proxy's or a passing fault
    │   ├── CanvasAuthProblem    401, 403 (not throttling), 404: pause uploads, re-read the token
    │   └── UploadRejected       the upload (create) answered 400, 422 or another 4xx: the batch fails
    └── Stopping                 the daemon is shutting down; unwinds the current step

`canvas.answers` is the one place that decides which class an HTTP answer is; every client
method raises the class its callers act on, and no caller reads a status code.

Local faults (disk full, permission denied) stay `OSError`: the worker keeps the batch where it
is and tries the step again later.
"""

from __future__ import annotations


class SisWatcherError(Exception):
    """Root of every error sis-watcher raises on purpose."""


class ConfigError(SisWatcherError):
    """
    The configuration cannot be used.

    Holds the file and *every* problem found, each prefixed with its dotted key path.
    """

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = tuple(problems)
        super().__init__(f"{source}: " + "; ".join(problems))


class TokenUnavailable(SisWatcherError):
    """No Canvas token in `$CREDENTIALS_DIRECTORY/canvas-token`, `token_file` or `CANVAS_TOKEN`."""


class LockHeld(SisWatcherError):
    """Another sis-watcher process holds the queue folder's lock."""

    def __init__(self, lock_path: str, owner_pid: int | None) -> None:
        self.lock_path = lock_path
        self.owner_pid = owner_pid
        owner = f"process {owner_pid}" if owner_pid else "another process"
        super().__init__(f"{lock_path} is held by {owner}: one sis-watcher per queue folder")


class RetryRefused(SisWatcherError):
    """`sis-watcher retry` was given a batch that is not in failed/."""


class CanvasError(SisWatcherError):
    """Something Canvas, or the network on the way to it, said or did."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        self.status_code = status_code
        self.message = message
        super().__init__(message)


class CanvasUnavailable(CanvasError):
    """
    Try again later: network error, timeout, 5xx, or throttling.

    `retry_after_seconds` carries Canvas's `Retry-After` when it sent one. `request_may_have_arrived`
    is true when Canvas might have acted on the request (the body was sent, no answer came back,
    or a gateway answered 5xx): a create must then look for its import before posting again.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        retry_after_seconds: float | None = None,
        request_may_have_arrived: bool = True,
    ) -> None:
        super().__init__(message, status_code=status_code)
        self.retry_after_seconds = retry_after_seconds
        self.request_may_have_arrived = request_may_have_arrived


class CanvasAuthProblem(CanvasError):
    """Canvas refused the token or its permissions, or the account is not there: pause, re-read."""


class UploadRejected(CanvasError):
    """Canvas refused the upload for what it is (400, 422, another 4xx): retrying will not help."""


class RestoreRefused(CanvasError):
    """Canvas refused a `restore_states` (restore data unavailable, flags, no such import)."""


class CanvasProtocolError(CanvasUnavailable):
    """Canvas answered 2xx with a body we cannot read; treated as a transient fault."""


class LookupRefused(CanvasUnavailable):
    """
    A look-up (an import's state, the list of imports, a file) was answered with a 4xx.

    Only the upload's answer is a verdict on a batch. A look-up refused by a proxy, an expired
    storage link or a passing Canvas fault is tried again like an outage; callers that can do
    without the answer (the errors file) catch this class and go on.
    """

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message, status_code=status_code, request_may_have_arrived=False)


class Stopping(SisWatcherError):
    """Shutdown was requested while a step was waiting; the step's state on disk is intact."""
