"""
The Canvas API routes under `/api/v1` (docs/canvas.md §1).

They are called once a request is authenticated; the errors-file download is in `storage`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from sis_watcher.simulator.http.server import Reply, Request, json_reply
from sis_watcher.simulator.model.imports import ALL_STATES, RUNNING, ImportQueue, ImportRow
from sis_watcher.simulator.model.restore import Restores
from sis_watcher.simulator.model.settings import SimulatorSettings
from sis_watcher.simulator.model.shapes import Context, account_json, error_json, import_json, user_json
from sis_watcher.simulator.routes import progress
from sis_watcher.simulator.routes.create import Creator

NOT_FOUND = {"errors": [{"message": "The specified resource does not exist."}]}
NOT_ROOT = {"errors": ["SIS imports can only be executed on root accounts"]}
NOT_ENABLED = {"errors": ["SIS imports are not enabled for this account"]}
UNAUTHENTICATED = {"status": "unauthenticated", "errors": [{"message": "user authorization required"}]}
ACCOUNT = re.compile(r"^/api/v1/accounts/(?P<account>[^/]+?)(?P<rest>/.*)?$")
SKIPPED_IN_LINKS = ("page", "per_page", "access_token", "api_key")


def not_found() -> Reply:
    return json_reply(404, NOT_FOUND)


def parse_time(text: str | None) -> datetime | None:
    """Parse an ISO 8601 time; None when absent or unparseable (ignored, like `CanvasTime.try_parse`)."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace(" ", "+"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class Api:
    """The routes of one simulated Canvas; `api_url` is where clients reach it."""

    settings: SimulatorSettings
    queue: ImportQueue
    creator: Creator
    api_url: str
    restores: Restores

    def context(self) -> Context:
        return Context(api_url=self.api_url, settings=self.settings, now=self.queue.monotonic())

    def route(self, request: Request, *, stuck: str | None = None) -> Reply:  # noqa: PLR0911 - one return a route
        """Answer an authenticated API request."""
        path = request.path.removesuffix(".json")  # docs/canvas.md §1: `.json` is accepted
        if path == "/api/v1/users/self" and request.method == "GET":
            return json_reply(200, user_json(self.settings))
        if path.startswith(progress.PREFIX):
            return progress.show(request, self.restores, api_url=self.api_url)
        match = ACCOUNT.match(path)
        if match is None:
            return not_found()
        sub = self.is_sub_account(match["account"])
        if sub is None:
            return not_found()
        rest = match["rest"] or ""
        if not rest:
            return (
                json_reply(200, account_json(self.settings, sub=sub))
                if request.method == "GET"
                else not_found()
            )
        if not rest.startswith(("/sis_imports", "/sis_import_errors")):
            return not_found()
        if sub:
            return json_reply(400, NOT_ROOT)  # docs/canvas.md §1: check_account
        if not self.settings.sis_imports_enabled:
            return json_reply(403, NOT_ENABLED)
        return self.sis_imports(request, rest, stuck=stuck)

    def is_sub_account(self, reference: str) -> bool | None:
        """Return False for the root account, True for the sub-account, None for anything else."""
        settings = self.settings
        if reference in ("self", str(settings.account_id), f"sis_account_id:{settings.root_sis_account_id}"):
            return False
        if reference in (str(settings.sub_account_id), f"sis_account_id:{settings.sub_sis_account_id}"):
            return True
        return None

    def sis_imports(self, request: Request, rest: str, *, stuck: str | None) -> Reply:  # noqa: PLR0911 - a router
        method = request.method
        parts = rest.strip("/").split("/")
        if parts == ["sis_import_errors"] and method == "GET":
            return self.errors(request, self.queue.all())
        if parts == ["sis_imports"]:
            if method == "POST":
                return self.create(request, stuck=stuck)
            return self.index(request) if method == "GET" else not_found()
        if parts == ["sis_imports", "importing"] and method == "GET":
            running = [row for row in self.queue.all() if row.workflow_state in RUNNING]
            return json_reply(200, {"sis_imports": [import_json(row, self.context()) for row in running]})
        if parts == ["sis_imports", "abort_all_pending"] and method == "PUT":
            self.queue.abort_all_pending()
            return json_reply(200, {"aborted": True})
        if len(parts) < 2 or not parts[1].isdigit():
            return not_found()
        return self.one_import(request, int(parts[1]), tuple(parts[2:]), stuck=stuck)

    def one_import(
        self, request: Request, import_id: int, rest: tuple[str, ...], *, stuck: str | None
    ) -> Reply:
        """The routes of one import: show, abort, restore_states, errors."""
        action = (rest, request.method)
        if action == ((), "GET"):
            row = self.queue.get(import_id)
        elif action == (("abort",), "PUT"):
            row = self.queue.abort(import_id)  # docs/canvas.md §1.5: a final import is a 404
        elif action == (("restore_states",), "PUT"):
            fail = stuck == "restore_failed"  # the `restore_fails` fault
            return progress.restore_states(request, self.restores, import_id, api_url=self.api_url, fail=fail)
        elif action == (("errors",), "GET"):
            found = self.queue.get(import_id)
            return self.errors(request, [found]) if found else not_found()
        else:
            return not_found()
        return json_reply(200, import_json(row, self.context())) if row else not_found()

    def create(self, request: Request, *, stuck: str | None) -> Reply:
        refusal, row = self.creator.create(request, stuck=stuck)
        if refusal is not None:
            return refusal
        assert row is not None  # noqa: S101 - create returns one or the other
        return json_reply(200, import_json(row, self.context()))

    def index(self, request: Request) -> Reply:
        """The wrapped, filtered, paginated list (docs/canvas.md §1.3)."""
        rows = self.queue.all()
        since, before = (
            parse_time(request.param("created_since")),
            parse_time(request.param("created_before")),
        )
        if since is not None:
            rows = [row for row in rows if row.created_at > since]
        if before is not None:
            rows = [row for row in rows if row.created_at < before]
        wanted = set(request.query.get("workflow_state[]", []) + request.query.get("workflow_state", []))
        states = wanted.intersection(ALL_STATES)
        if states:
            rows = [row for row in rows if row.workflow_state in states]
        page, link = self.paginate(request, rows)
        context = self.context()
        return json_reply(
            200, {"sis_imports": [import_json(row, context) for row in page]}, (("Link", link),)
        )

    def errors(self, request: Request, rows: list[ImportRow]) -> Reply:
        """`{"sis_import_errors": [...]}`, paginated; `failure=true` keeps failures only (§1.8)."""
        only_failures = (request.param("failure") or "").lower() in ("1", "true")
        items = [
            error_json(row, message)
            for row in rows
            for message in row.messages
            if message.failure or not only_failures
        ]
        page, link = self.paginate(request, items)
        return json_reply(200, {"sis_import_errors": page}, (("Link", link),))

    def paginate(self, request: Request, items: list[Any]) -> tuple[list[Any], str]:
        """Slice one page; return it and the Link header: current, next, prev, first, never last."""
        settings = self.settings
        try:
            per_page = int(request.param("per_page") or settings.per_page_default)
        except ValueError:
            per_page = settings.per_page_default
        per_page = max(1, min(per_page, settings.max_per_page))
        try:
            page = max(1, int(request.param("page") or 1))
        except ValueError:
            page = 1
        start = (page - 1) * per_page
        kept = [
            (name, value)
            for name, values in request.query.items()
            if name not in SKIPPED_IN_LINKS
            for value in values
        ]

        def link(number: int, rel: str) -> str:
            query = urlencode([*kept, ("page", str(number)), ("per_page", str(per_page))])
            return f'<{self.api_url}{request.path}?{query}>; rel="{rel}"'

        links = [link(page, "current")]
        if start + per_page < len(items):
            links.append(link(page + 1, "next"))
        if page > 1:
            links.append(link(page - 1, "prev"))
        links.append(link(1, "first"))
        return items[start : start + per_page], ",".join(links)
