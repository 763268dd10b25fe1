"""`run_simulator`, the simulator's construction rules, and its module-level helpers."""

from __future__ import annotations

import io
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from sis_watcher.commands.simulator import run_simulator
from sis_watcher.simulator.canvas import CanvasSimulator, SimulatorSettings
from sis_watcher.simulator.http.bodies import BadBody, iter_body

from unit.simulator.helpers import TOKEN


def test_run_simulator_prints_url_and_token_and_stops_on_event() -> None:
    """run_simulator prints parseable `url:` and `token:` lines and returns 0 when told to stop."""
    stop = threading.Event()
    out = io.StringIO()
    result: list[int] = []
    thread = threading.Thread(
        target=lambda: result.append(
            run_simulator(host="127.0.0.1", port=0, token=None, stop_event=stop, out=out)
        )
    )
    thread.start()
    deadline = time.monotonic() + 10
    while "token:" not in out.getvalue() and time.monotonic() < deadline:
        time.sleep(0.01)
    lines = dict(line.split(": ", 1) for line in out.getvalue().splitlines())
    with httpx.Client(base_url=lines["url"], headers={"Authorization": f"Bearer {lines['token']}"}) as client:
        status = client.get("/api/v1/users/self").status_code
    stop.set()
    thread.join(timeout=10)

    assert status == 200
    assert len(lines["token"]) >= 20
    assert result == [0]


def test_run_simulator_refuses_a_public_host(capsys: pytest.CaptureFixture[str]) -> None:
    """A non-loopback host is refused with exit status 2."""
    assert run_simulator(host="0.0.0.0", port=0, token="t") == 2  # noqa: S104 - the refusal under test

    assert "loopback only" in capsys.readouterr().err


def test_run_simulator_stops_on_sigterm_in_a_process() -> None:
    """Run as a process, the simulator prints its URL, serves, and exits 0 on SIGTERM."""
    code = (
        "import sys; from sis_watcher.commands.simulator import run_simulator; "
        "sys.exit(run_simulator(host='127.0.0.1', port=0, token='given'))"
    )
    with subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None
        url = process.stdout.readline().strip().removeprefix("url: ")
        token = process.stdout.readline().strip().removeprefix("token: ")
        response = httpx.get(f"{url}/api/v1/users/self", headers={"Authorization": f"Bearer {token}"})
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0

    assert token == "given"
    assert response.status_code == 200


def test_simulator_refuses_public_host_and_unstarted_urls() -> None:
    """The simulator binds loopback only and has no URL before it starts."""
    with pytest.raises(ValueError, match="loopback"):
        CanvasSimulator(token=TOKEN, host="example.com")
    simulator = CanvasSimulator(token=TOKEN)

    assert repr(simulator) == "CanvasSimulator(url=None)"
    with pytest.raises(RuntimeError):
        _ = simulator.url
    with pytest.raises(RuntimeError):
        _ = simulator.storage_url


def test_given_storage_dir_is_kept(tmp_path: Path) -> None:
    """A storage folder passed in settings is used and not deleted on stop."""
    with CanvasSimulator(token=TOKEN, settings=SimulatorSettings(storage_dir=tmp_path)):
        pass

    assert (tmp_path / "uploads").is_dir()


def test_wait_until_times_out(sim: CanvasSimulator) -> None:
    """wait_until raises TimeoutError when the condition never holds."""
    with pytest.raises(TimeoutError):
        sim.wait_until(lambda: False, timeout=0.05)


@pytest.mark.parametrize(
    ("raw", "length", "encoding"),
    [
        (b"abc", "10", None),
        (b"abc", "ten", None),
        (b"zz\r\n", None, "chunked"),
        (b"5\r\nab", None, "chunked"),
    ],
)
def test_broken_body_framing_raises(raw: bytes, length: str | None, encoding: str | None) -> None:
    """Short bodies, bad lengths and bad chunk sizes raise BadBody."""
    with pytest.raises(BadBody):
        list(iter_body(io.BytesIO(raw), content_length=length, transfer_encoding=encoding))


def test_chunked_body_with_trailer() -> None:
    """A chunked body's extensions and trailer are read and dropped."""
    raw = b"3;ext=1\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n"

    assert b"".join(iter_body(io.BytesIO(raw), content_length=None, transfer_encoding="chunked")) == b"abc"


def test_bad_chunked_upload_is_400(sim: CanvasSimulator) -> None:
    """A request whose chunked framing is broken gets a 400 and nothing is created."""
    host, port = sim.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as connection:
        connection.sendall(
            b"POST /api/v1/accounts/self/sis_imports?extension=zip HTTP/1.1\r\nHost: x\r\n"
            b"Authorization: Bearer " + TOKEN.encode() + b"\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"
        )
        answer = connection.recv(1024)

    assert answer.startswith(b"HTTP/1.1 400")
    assert sim.uploads == []
