"""
`CanvasSimulator`: a Canvas root account on loopback, for tests, the demo, benchmarks and users.

    with CanvasSimulator(token="tok") as sim:          # or sim.start() ... sim.stop()
        sim.faults.add(kind=FaultKind.STATUS, status=503, count=2, method="POST")
        ...                                            # point a client at sim.url
        sim.wait_for_state(1)                          # the import's JSON once it is final
        assert len(sim.uploads) == 1 and sim.max_in_flight == 1

Two listeners: the API host (`url`, with `/__simulator__/` for inspection and control) and a
file-storage host (`storage_url`) that errors-file downloads are redirected to and
`pre_attachment` uploads are posted to (`routes/uploads.py`).
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from sis_watcher.canvas.verdict import TERMINAL_STATES
from sis_watcher.core.urls import is_loopback_host
from sis_watcher.simulator.http.auth import Gate
from sis_watcher.simulator.http.server import LoopbackServer, Reply, Request, ServingThread, json_reply
from sis_watcher.simulator.model.faults import Fault, FaultKind, FaultPlan
from sis_watcher.simulator.model.imports import ImportQueue
from sis_watcher.simulator.model.records import (
    DownloadRecord,
    ReceivedUpload,
    Recorder,
    RequestRecord,
    StorageUploadRecord,
)
from sis_watcher.simulator.model.restore import Restores
from sis_watcher.simulator.model.settings import SimulatorSettings
from sis_watcher.simulator.model.shapes import Context, import_json
from sis_watcher.simulator.model.store import SisStore
from sis_watcher.simulator.model.worker import ImportProcessor
from sis_watcher.simulator.routes import control
from sis_watcher.simulator.routes.api import Api
from sis_watcher.simulator.routes.create import Creator
from sis_watcher.simulator.routes.faults import answer_fault, is_refusal
from sis_watcher.simulator.routes.storage import Files
from sis_watcher.simulator.routes.uploads import Uploads

__all__ = ["CanvasSimulator", "Fault", "FaultKind", "SimulatorSettings"]

FINAL_STATES = TERMINAL_STATES  # docs/canvas.md §2.2: the states a poller may stop at
STUCK = {
    FaultKind.STUCK_INITIALIZING: "initializing",
    FaultKind.STUCK_IMPORTING: "importing",
    FaultKind.RESTORE_FAILS: "restore_failed",
}


class CanvasSimulator:
    """One simulated Canvas root account serving on loopback; see the module docstring."""

    def __init__(
        self, *, token: str, settings: SimulatorSettings | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        """Prepare (not start) a simulator; raise ValueError for a host that is not loopback."""
        if not is_loopback_host(host):
            raise ValueError(f"the simulator serves on loopback only, not {host!r}")
        self.settings = settings or SimulatorSettings()
        self.host, self.port = host, port
        self.gate = Gate(token, high_water=self.settings.rate_limit_high_water)
        self.gate.outflow = self.settings.rate_limit_outflow_per_second
        self.faults = FaultPlan(seed=self.settings.fault_seed)
        self.recorder = Recorder()
        self.queue = ImportQueue(self.settings)
        self.restores = Restores(self.queue)
        self.store = SisStore(max_objects=self.settings.max_tracked_objects)
        self.stopping = threading.Event()
        self.own_dir = self.settings.storage_dir is None
        self.storage_dir = self.settings.storage_dir or Path(tempfile.mkdtemp(prefix="canvas-simulator-"))
        self.api_listener: ServingThread | None = None
        self.storage_listener: ServingThread | None = None
        self.worker_thread: threading.Thread | None = None
        self.restore_thread: threading.Thread | None = None
        self.files = Files(queue=self.queue, recorder=self.recorder, storage_url=lambda: self.storage_url)
        self.upload_routes = Uploads(
            queue=self.queue,
            recorder=self.recorder,
            settings=self.settings,
            faults=self.faults,
            stopping=self.stopping,
            uploads_dir=self.storage_dir / "uploads",
            api_url=lambda: self.url,
            storage_url=lambda: self.storage_url,
        )
        self.creator = Creator(
            self.queue, self.store, self.recorder, self.storage_dir / "uploads", uploads=self.upload_routes
        )
        self.api: Api | None = None

    def __repr__(self) -> str:
        return f"CanvasSimulator(url={self.url if self.api_listener else None!r})"

    # -- life cycle ---------------------------------------------------------------------------

    def start(self) -> Self:
        """Start both listeners and the import worker; return once they accept connections."""
        (self.storage_dir / "uploads").mkdir(parents=True, exist_ok=True)
        self.storage_listener = ServingThread(LoopbackServer((self.host, 0), self.serve_storage))
        self.api_listener = ServingThread(LoopbackServer((self.host, self.port), self.handle))
        self.api = Api(
            settings=self.settings,
            queue=self.queue,
            creator=self.creator,
            api_url=self.url,
            restores=self.restores,
        )
        worker = ImportProcessor(
            queue=self.queue, store=self.store, recorder=self.recorder, storage_dir=self.storage_dir
        )
        self.worker_thread = threading.Thread(target=worker.run, name="simulator-worker", daemon=True)
        self.worker_thread.start()
        self.restore_thread = threading.Thread(
            target=self.restores.run, name="simulator-restore", daemon=True
        )
        self.restore_thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and processing, and delete the storage folder if the simulator made it."""
        self.stopping.set()
        self.queue.stop()
        for listener in (self.api_listener, self.storage_listener):
            if listener is not None:
                listener.close()
        for thread in (self.worker_thread, self.restore_thread):
            if thread is not None:
                thread.join(timeout=10)
        if self.own_dir:
            shutil.rmtree(self.storage_dir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    # -- where and who ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The API host's base URL, e.g. `http://127.0.0.1:PORT` (raise RuntimeError if not started)."""
        if self.api_listener is None:
            raise RuntimeError("the simulator is not started")
        return self.api_listener.url

    @property
    def storage_url(self) -> str:
        """The file-storage host's base URL."""
        if self.storage_listener is None:
            raise RuntimeError("the simulator is not started")
        return self.storage_listener.url

    @property
    def token(self) -> str:
        """The token the simulator accepts."""
        with self.gate.lock:
            return self.gate.token

    def set_token(self, token: str) -> None:
        """Accept `token` only (a rotation: the old token becomes invalid)."""
        self.gate.set_token(token)

    def revoke_token(self) -> None:
        """Answer 401 "Revoked access token." to every API request until `restore_token`."""
        self.gate.set_revoked(True)

    def restore_token(self) -> None:
        self.gate.set_revoked(False)

    def deny_permission(self, *, status: int = 401) -> None:
        """Refuse authenticated requests as "user not authorized" with 401 or 403 (docs/canvas.md §4.1)."""
        self.gate.set_denied(status)

    def allow_permission(self) -> None:
        self.gate.set_denied(None)

    # -- what happened ------------------------------------------------------------------------

    @property
    def uploads(self) -> list[ReceivedUpload]:
        """One record per created import, in creation order."""
        with self.recorder.lock:
            return [self.recorder.uploads[key] for key in sorted(self.recorder.uploads)]

    @property
    def storage_uploads(self) -> list[StorageUploadRecord]:
        """Every POST to the upload storage host (pre_attachment), in order, with `authorization_sent`."""
        with self.recorder.lock:
            return list(self.recorder.storage_uploads)

    @property
    def requests(self) -> list[RequestRecord]:
        with self.recorder.lock:
            return list(self.recorder.requests)

    @property
    def downloads(self) -> list[DownloadRecord]:
        with self.recorder.lock:
            return list(self.recorder.downloads)

    @property
    def max_in_flight(self) -> int:
        """The most API and storage requests ever handled at once."""
        with self.recorder.lock:
            return self.recorder.max_in_flight

    @property
    def imports(self) -> list[dict[str, Any]]:
        """Every import as Canvas would show it, oldest first."""
        context = self.context()
        return [import_json(row, context) for row in reversed(self.queue.all())]

    def import_json(self, import_id: int) -> dict[str, Any] | None:
        row = self.queue.get(import_id)
        return import_json(row, self.context()) if row else None

    def context(self) -> Context:
        return Context(api_url=self.url, settings=self.settings, now=self.queue.monotonic())

    def state(self) -> dict[str, Any]:
        """The control endpoint's summary (never the token)."""
        with self.recorder.lock:
            in_flight, max_in_flight = self.recorder.in_flight, self.recorder.max_in_flight
        return {
            "url": self.url,
            "storage_url": self.storage_url,
            "in_flight": in_flight,
            "max_in_flight": max_in_flight,
            "token_revoked": self.gate.revoked,
            "permission_denied_status": self.gate.denied_status,
            "faults": self.faults.snapshot(),
        }

    def wait_until(
        self, predicate: Callable[[], bool], *, timeout: float = 10.0, interval: float = 0.01
    ) -> None:
        """Poll `predicate` until true; raise TimeoutError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(f"condition not met within {timeout} s")
            time.sleep(interval)

    def wait_for_state(
        self, import_id: int, *, states: frozenset[str] = FINAL_STATES, timeout: float = 10.0
    ) -> dict[str, Any]:
        """Return the import's JSON once its `workflow_state` is in `states` (final ones by default)."""
        found: dict[str, Any] = {}

        def reached() -> bool:
            found.update(self.import_json(import_id) or {})
            return found.get("workflow_state") in states

        self.wait_until(reached, timeout=timeout)
        return found

    def reset(self) -> None:
        """Forget imports, records, faults and SIS objects; keep token and permission mode."""
        self.queue.clear()
        with self.queue.cond:
            self.restores.progresses.clear()
        self.faults.clear()
        self.recorder.clear()
        self.upload_routes.store.clear()
        fresh = SisStore(max_objects=self.settings.max_tracked_objects)
        with self.store.lock:
            for name in SisStore.__dataclass_fields__:
                if name != "lock":
                    setattr(self.store, name, getattr(fresh, name))

    # -- serving ------------------------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        """The API host's app: control, recording, faults, auth, then the Canvas routes."""
        if request.path.startswith(control.PREFIX):
            return control.handle(self, request)
        started = datetime.now(UTC)
        self.recorder.enter()
        fault = self.faults.take(request.method, request.path)
        reply = Reply(hang_up=True)
        try:
            reply = self.answer(request, fault)
            return reply
        finally:
            self.recorder.leave()
            self.recorder.add_request(
                RequestRecord(
                    method=request.method,
                    path=request.path,
                    query=request.raw_query,
                    status=None if reply.hang_up else reply.status,
                    started_at=started,
                    finished_at=datetime.now(UTC),
                    fault=fault.kind.value if fault else None,
                )
            )

    def serve_storage(self, request: Request) -> Reply:
        """The storage host's app: pre_attachment uploads (`routes/uploads.py`), else errors files."""
        if request.path.startswith("/uploads/"):
            return self.upload_routes.storage(request)
        return self.files.storage(request)

    def answer(self, request: Request, fault: Fault | None) -> Reply:
        if fault is not None and is_refusal(fault):
            request.discard_body()
            if fault.kind is FaultKind.STALL:
                self.stopping.wait(fault.delay_seconds)
            return answer_fault(fault)
        if request.path.startswith("/files/"):
            reply = self.files.download(request)
        else:
            reply = self.authenticated(request, stuck=STUCK.get(fault.kind) if fault else None)
        if fault is not None and fault.kind is FaultKind.SLOW:
            self.stopping.wait(fault.delay_seconds)
        if fault is not None and fault.kind in (FaultKind.DROP_AFTER_UPLOAD, FaultKind.STATUS):
            request.discard_body()
            return answer_fault(fault)
        return reply

    def authenticated(self, request: Request, *, stuck: str | None) -> Reply:
        """Check the token (header, or `access_token` in the query), route, add rate headers."""
        authorization = request.headers.get("Authorization")
        if authorization is None and request.param("access_token"):
            authorization = f"Bearer {request.param('access_token')}"
        denial = self.gate.check(authorization)
        if denial is not None:
            request.discard_body()
            headers = (("WWW-Authenticate", 'Bearer realm="canvas-lms"'),) if denial.bad_token else ()
            return json_reply(denial.status, denial.body, headers)
        assert self.api is not None  # noqa: S101 - set by start() before serving
        self.gate.charge_up_front()
        began = time.perf_counter()
        if Uploads.is_confirmation(request.path):
            reply = self.upload_routes.confirm(request)
        else:
            reply = self.api.route(request, stuck=stuck)
        rate = self.gate.settle(time.perf_counter() - began)
        return Reply(
            status=reply.status,
            body=reply.body,
            content_type=reply.content_type,
            headers=reply.headers + rate,
            file=reply.file,
        )
