"""Helpers of the simulator's contract tests: sample files, zips, targets, uploads."""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from sis_watcher.simulator.canvas import CanvasSimulator

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"
DOCS = SAMPLES / "canvas-doc-examples"
FIXTURES = SAMPLES / "canvas-lms-fixtures"
OTHER = SAMPLES / "other"
DEMO = "tfullwood__canvas-contrib__API_Examples__Automation__demodata__"
TOKEN = "simulator-test-token"
FINAL = ("imported", "imported_with_messages", "failed", "failed_with_messages", "aborted")


def demo_file(kind: str) -> Path:
    """Return one file of the generated demo import (account, term, course, section, user, enrollment)."""
    return OTHER / f"{DEMO}output__create__{kind}.csv"


def zip_bytes(members: Mapping[str, bytes | Path]) -> bytes:
    """Return a zip holding `members` (name -> bytes or a file to copy)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content.read_bytes() if isinstance(content, Path) else content)
    return buffer.getvalue()


@dataclass(frozen=True, slots=True)
class Target:
    """A Canvas to test against: the simulator or a real test environment."""

    name: str
    url: str
    token: str
    account: str
    simulator: CanvasSimulator | None

    def client(self, *, token: str | None = None, auth: bool = True) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token or self.token}"} if auth else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def imports_path(self, suffix: str = "") -> str:
        return f"/api/v1/accounts/{self.account}/sis_imports{suffix}"

    def wait_final(self, client: httpx.Client, import_id: int, *, timeout: float = 20.0) -> dict[str, Any]:
        """Poll the import until its state is final; return its JSON."""
        deadline = time.monotonic() + (timeout if self.simulator else 600.0)
        while True:
            body = client.get(self.imports_path(f"/{import_id}")).json()
            if body["workflow_state"] in FINAL or time.monotonic() > deadline:
                return dict(body)
            time.sleep(0.02 if self.simulator else 5.0)


def upload(client: httpx.Client, content: bytes, **params: str) -> httpx.Response:
    """POST a raw zip body (extension=zip unless overridden) to the root account."""
    query = {"extension": "zip", **params}
    return client.post("/api/v1/accounts/self/sis_imports", params=query, content=content)


def import_and_wait(
    sim: CanvasSimulator, client: httpx.Client, content: bytes, **params: str
) -> dict[str, Any]:
    """Upload, expect 200, and return the import's final JSON."""
    response = upload(client, content, **params)
    assert response.status_code == 200, response.text
    return sim.wait_for_state(response.json()["id"])
