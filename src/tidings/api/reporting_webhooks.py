"""Reporting webhooks (`/v1/reporting_webhooks`, App API): list, create, read, change, delete.

Shapes as Customer.io's: a list is `{"reporting_webhooks": [...]}`, one
webhook is the object itself, DELETE answers 204. Posting the events is the
poster's work (`tidings.reporting.poster`). GET of one webhook adds its
`last_attempt_at`, `last_error` and `recent_attempts`; an endpoint the fetch
guard refuses is a 400 when created or changed, not a silent failure later.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tidings.api.context import Context
from tidings.api.http import Request, Response, json_response, no_content
from tidings.api.routing import Route
from tidings.reporting import webhooks


def _one(request: Request) -> tuple[int, int]:
    return request.workspace.id, webhooks.parse_id(request.params["webhook_id"])


async def _parse(ctx: Context, request: Request, *, partial: bool) -> dict[str, Any]:
    values = webhooks.parse(request.json_object(), partial=partial)
    if "endpoint" in values:
        await asyncio.to_thread(webhooks.check_endpoint, values["endpoint"], ctx.fetch_allow)
    return values


async def list_all(ctx: Context, request: Request) -> Response:
    found = await ctx.read(webhooks.list_all, request.workspace.id)
    return json_response({"reporting_webhooks": found})


async def create(ctx: Context, request: Request) -> Response:
    values = await _parse(ctx, request, partial=False)
    return json_response(await ctx.write(webhooks.create, request.workspace.id, values, ctx.now()))


async def get(ctx: Context, request: Request) -> Response:
    return json_response(await ctx.read(webhooks.get_with_attempts, *_one(request)))


async def change(ctx: Context, request: Request) -> Response:
    values = await _parse(ctx, request, partial=True)
    return json_response(await ctx.write(webhooks.change, *_one(request), values, ctx.now()))


async def remove(ctx: Context, request: Request) -> Response:
    await ctx.write(webhooks.remove, *_one(request))
    return no_content()


PATH = "/v1/reporting_webhooks"

ROUTES = (
    Route("GET", PATH, list_all, "app"),
    Route("POST", PATH, create, "app"),
    Route("GET", PATH + "/{webhook_id}", get, "app"),
    Route("PUT", PATH + "/{webhook_id}", change, "app"),
    Route("DELETE", PATH + "/{webhook_id}", remove, "app"),
)
