"""The metrics endpoint over real HTTP on loopback: counters from the monitor's moments, and health."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from prometheus_client import CONTENT_TYPE_LATEST

from sis_watcher.batch.manifest import BatchState, Manifest
from sis_watcher.ops.metrics import Metrics, import_seconds
from sis_watcher.ops.metrics_server import MetricsServer

from unit.ops.metrics.conftest import NOW, filed

DONE = Path("/var/lib/sis-watcher/done/b")


def test_a_fresh_daemon_reports_zeroes_and_is_healthy(served):
    """Before any batch: outcome counters at 0, nothing paused, /healthz 200 ok."""
    response = served.client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == CONTENT_TYPE_LATEST
    assert served.sample("sis_watcher_batches_total", result="done") == 0
    assert served.sample("sis_watcher_batches_total", result="failed") == 0
    assert served.sample("sis_watcher_uploads_paused") == 0
    assert served.sample("sis_watcher_healthy") == 1
    assert served.sample("process_start_time_seconds") is not None
    assert served.health() == (200, {"status": "ok"})


def test_moments_become_counters_and_gauges(served):
    """Sealing, queue depth, retries and Canvas answers are counted as they happen."""
    metrics = served.metrics
    manifest = filed(BatchState.DONE, uploaded="2026-11-27T02:01:00Z", filed_at="2026-11-27T02:02:30Z")

    metrics.batch_sealed(manifest)
    metrics.batch_sealed(manifest)
    metrics.activity("working, 3 queued", queued=3)
    metrics.activity("uploading b", batch_id="b")
    for step in ("upload", "upload", "poll"):
        metrics.retry_scheduled(step)
    for status in ("200", "200", "503", "error"):
        metrics.canvas_response(status)

    assert served.sample("sis_watcher_batches_sealed_total") == 2
    assert served.sample("sis_watcher_queue_depth") == 3
    assert served.sample("sis_watcher_retries_total", step="upload") == 2
    assert served.sample("sis_watcher_retries_total", step="poll") == 1
    assert served.sample("sis_watcher_canvas_requests_total", status="200") == 2
    assert served.sample("sis_watcher_canvas_requests_total", status="503") == 1
    assert served.sample("sis_watcher_canvas_requests_total", status="error") == 1


def test_filed_batches_count_outcomes_success_time_and_duration(served):
    """Each filed batch counts; done sets the success time; uploaded ones observe upload-to-filing seconds."""
    metrics = served.metrics
    done = filed(BatchState.DONE, uploaded="2026-11-27T02:01:00Z", filed_at="2026-11-27T02:02:30Z")
    failed = filed(BatchState.FAILED, uploaded="2026-11-27T02:10:00Z", filed_at="2026-11-27T02:30:00Z")

    refused = filed(BatchState.FAILED, uploaded=None, filed_at="2026-11-27T02:40:00Z", import_id=None)

    metrics.batch_filed(done, DONE)
    metrics.batch_filed(failed, DONE)
    metrics.batch_filed(refused, DONE)

    assert served.sample("sis_watcher_batches_total", result="done") == 1
    assert served.sample("sis_watcher_batches_total", result="failed") == 2
    assert served.sample("sis_watcher_last_success_timestamp_seconds") == NOW.timestamp()
    assert served.sample("sis_watcher_import_duration_seconds_count") == 2
    assert served.sample("sis_watcher_import_duration_seconds_sum") == 90 + 1200
    assert served.sample("sis_watcher_import_duration_seconds_bucket", le="120.0") == 1
    assert served.sample("sis_watcher_import_duration_seconds_bucket", le="1200.0") == 2


@pytest.mark.parametrize(
    ("uploaded", "created", "filed_at", "import_id", "expected"),
    [
        ("2026-11-27T02:01:00Z", None, "2026-11-27T02:02:30Z", 7, 90.0),
        (None, "2026-11-27T02:01:30+00:00", "2026-11-27T02:02:30Z", 7, 60.0),
        ("2026-11-27T02:01:00Z", None, "2026-11-27T02:02:30Z", None, None),
        (None, None, "2026-11-27T02:02:30Z", 7, None),
        ("yesterday", None, "2026-11-27T02:02:30Z", 7, None),
        ("2026-11-27T03:00:00Z", None, "2026-11-27T02:02:30Z", 7, None),
    ],
    ids=["upload", "canvas-created", "no-import", "no-start", "unreadable", "negative"],
)
def test_import_duration_needs_an_import_and_sane_timestamps(
    uploaded, created, filed_at, import_id, expected
):
    """The duration runs from upload (else Canvas's created_at) to filing, and is skipped when unknowable."""
    manifest = filed(BatchState.DONE, uploaded=uploaded, filed_at=filed_at, import_id=import_id)
    manifest.canvas.created_at = created

    assert import_seconds(manifest) == expected


def test_a_batch_without_a_filing_entry_has_no_duration():
    """Without a history entry for its final state, a batch observes no duration."""
    manifest = filed(BatchState.FAILED, uploaded="2026-11-27T02:01:00Z", filed_at="2026-11-27T02:02:30Z")
    manifest.history.pop()

    assert import_seconds(manifest) is None


def test_paused_uploads_make_health_fail_until_resumed(served):
    """While uploads are paused /healthz answers 503 with the reason, and 200 again after."""
    served.metrics.uploads_paused("Canvas answered 401")

    assert served.health() == (
        503,
        {"status": "unhealthy", "problems": ["uploads paused: Canvas answered 401"]},
    )
    assert served.sample("sis_watcher_uploads_paused") == 1
    assert served.sample("sis_watcher_healthy") == 0

    served.metrics.uploads_resumed()

    assert served.health() == (200, {"status": "ok"})
    assert served.sample("sis_watcher_uploads_paused") == 0


def test_intake_problems_make_health_fail_until_recovered(served):
    """An intake problem fails /healthz and sets its gauge until intake recovers."""
    served.metrics.intake_problem("the drop folder /srv/sis/drop does not exist")

    status, document = served.health()
    assert status == 503
    assert document["problems"] == ["intake problem: the drop folder /srv/sis/drop does not exist"]
    assert served.sample("sis_watcher_intake_problem") == 1

    served.metrics.intake_recovered()

    assert served.health() == (200, {"status": "ok"})
    assert served.sample("sis_watcher_intake_problem") == 0


def test_a_dead_stage_fails_health_for_good_and_problems_add_up(served):
    """Dead stages are listed once each, together with any other problem."""
    metrics = served.metrics
    metrics.stage_died("worker")
    metrics.stage_died("worker")
    metrics.stage_died("intake")
    metrics.uploads_paused("Canvas answered 403")
    metrics.intake_problem("observer died")

    assert served.health() == (
        503,
        {
            "status": "unhealthy",
            "problems": [
                "stage worker died",
                "stage intake died",
                "uploads paused: Canvas answered 403",
                "intake problem: observer died",
            ],
        },
    )


def test_stuck_imports_and_retries_are_flagged_until_they_move(served):
    """The stuck gauges go to 1 on the alert moments and back to 0 when the batch moves on."""
    metrics = served.metrics
    manifest = filed(BatchState.DONE, uploaded="2026-11-27T02:01:00Z", filed_at="2026-11-27T02:02:30Z")

    metrics.import_stuck(manifest, 7300.0)
    metrics.retries_stuck(manifest, 1900.0, "Canvas unreachable")
    assert served.sample("sis_watcher_import_stuck") == 1
    assert served.sample("sis_watcher_retries_stuck") == 1

    metrics.retries_recovered(manifest)
    metrics.batch_filed(manifest, DONE)

    assert served.sample("sis_watcher_import_stuck") == 0
    assert served.sample("sis_watcher_retries_stuck") == 0
    assert served.health() == (200, {"status": "ok"})


def held(batch_id: str) -> Manifest:
    return Manifest(batch_id=batch_id, state=BatchState.HELD, sealed_at="2026-11-27T02:00:00Z")


def test_held_batches_are_gauged_and_counted_once_per_attempt(served):
    """Held batches raise the gauge until approved or filed; the counter counts each held attempt once."""
    metrics = served.metrics
    first, second = held("b1"), held("b2")

    metrics.batch_held(first)
    metrics.batch_held(first)
    metrics.batch_held(second)
    metrics.activity("held: b1 waits for approve or discard", batch_id="b1")
    both = served.sample("sis_watcher_held_batches")
    metrics.activity("uploading b1", batch_id="b1")
    one = served.sample("sis_watcher_held_batches")
    metrics.batch_filed(second, DONE)
    second.previous_attempts.append({"retried_at": "2026-11-28T00:00:00Z"})
    metrics.batch_held(second)

    assert (2, 1) == (both, one)
    assert 1 == served.sample("sis_watcher_held_batches")
    assert 3 == served.sample("sis_watcher_batches_held_total")
    assert (200, {"status": "ok"}) == served.health()


def test_filed_held_batches_are_forgotten(served):
    """What counts held attempts once stays flat: a filed batch leaves nothing behind (issue 14)."""
    metrics = served.metrics
    for number in range(500):
        manifest = held(f"b{number}")
        metrics.batch_held(manifest)
        metrics.batch_held(manifest)
        metrics.batch_filed(manifest, DONE)

    assert metrics.held_counted == {}
    assert 500 == served.sample("sis_watcher_batches_held_total")
    assert 0 == served.sample("sis_watcher_held_batches")


def test_unknown_paths_are_not_found_and_queries_are_ignored(served):
    """Only /metrics and /healthz exist; a query string does not change the path."""
    assert served.client.get("/").status_code == 404
    assert served.client.get("/metrics?name[]=up").status_code == 200
    assert served.client.get("/healthz?verbose=1").json() == {"status": "ok"}


def test_each_instance_has_its_own_registry(serve):
    """Two daemons in one process never share counters."""
    first, second = serve(), serve()

    first.metrics.batch_sealed(filed(BatchState.DONE, uploaded=None, filed_at="2026-11-27T02:02:30Z"))

    assert first.server.port != second.server.port
    assert first.sample("sis_watcher_batches_sealed_total") == 1
    assert second.sample("sis_watcher_batches_sealed_total") == 0


def test_ipv6_loopback_is_served(serve):
    """A `::1` host binds an IPv6 socket and the URL brackets the address."""
    served = serve(host="::1")

    assert served.server.url == f"http://[::1]:{served.server.port}"
    assert served.health() == (200, {"status": "ok"})


def test_a_busy_port_raises_at_start_and_stop_is_idempotent(served):
    """Binding a port already in use raises `OSError`; stopping twice or unstarted is harmless."""
    second = MetricsServer(Metrics(), port=served.server.port)

    with pytest.raises(OSError, match="in use"):
        second.start()
    second.stop()
    assert second.port == served.server.port

    served.server.stop()
    served.server.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(served.server.url + "/healthz", timeout=2)
