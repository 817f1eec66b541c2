"""Reporting webhooks (`/v1/reporting_webhooks`, App API): list, create, read, change, delete.

Shapes as Customer.io's: a list is `{"reporting_webhooks": [...]}`, one
webhook is the object itself, DELETE answers 204. Posting the events is the
poster's work (`tidings.reporting.poster`). GET of one webhook adds its
`last_attempt_at`, `last_error` and `recent_attempts`; an endpoint the fetch
guard refuses is a 400 when created or changed, not a silent failure later.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from tidings.api.http import Request, Response, json_response, no_content
from tidings.fetch import Allowlist
from tidings.reporting import webhooks

if TYPE_CHECKING:
    from tidings.app import Tidings


def register(router, app: Tidings) -> None:  # type: ignore[no-untyped-def]
    allow = Allowlist.parse(app.settings.fetch_allowlist)

    def one(request: Request) -> tuple[int, int]:
        return request.workspace.id, webhooks.parse_id(request.params["webhook_id"])

    async def parse(request: Request, *, partial: bool) -> dict[str, Any]:
        values = webhooks.parse(request.json_object(), partial=partial)
        if "endpoint" in values:
            await asyncio.to_thread(webhooks.check_endpoint, values["endpoint"], allow)
        return values

    async def list_all(request: Request) -> Response:
        found = await app.read(webhooks.list_all, request.workspace.id)
        return json_response({"reporting_webhooks": found})

    async def create(request: Request) -> Response:
        values = await parse(request, partial=False)
        return json_response(
            await app.write(webhooks.create, request.workspace.id, values, app.now())
        )

    async def get(request: Request) -> Response:
        return json_response(await app.read(webhooks.get_with_attempts, *one(request)))

    async def change(request: Request) -> Response:
        values = await parse(request, partial=True)
        return json_response(await app.write(webhooks.change, *one(request), values, app.now()))

    async def remove(request: Request) -> Response:
        await app.write(webhooks.remove, *one(request))
        return no_content()

    path = "/v1/reporting_webhooks"
    router.add("GET", path, list_all, "app")
    router.add("POST", path, create, "app")
    router.add("GET", path + "/{webhook_id}", get, "app")
    router.add("PUT", path + "/{webhook_id}", change, "app")
    router.add("DELETE", path + "/{webhook_id}", remove, "app")
